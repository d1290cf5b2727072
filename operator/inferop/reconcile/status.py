"""Pure status decisions of the reconcile loops: conditions, their merge, Events, status patches.

Nothing here performs I/O (STYLE: decide, then act). ``inferop.reconcile.isvc`` and
``inferop.reconcile.tenant`` read the cluster, call these functions, and execute their answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"
DEPLOYMENT_READY = "DeploymentReady"
AUTOSCALER_READY = "AutoscalerReady"
#: Condition types this loop owns; others (MetricsAvailable, QuotaLimited, ...) belong to other loops.
QUOTA_LIMITED = "QuotaLimited"
BUDGET_LIMITED = "BudgetLimited"
OWNED_CONDITIONS = (READY, DEPLOYMENT_READY, AUTOSCALER_READY, QUOTA_LIMITED, BUDGET_LIMITED)
#: Status fields this loop owns.
OWNED_FIELDS = ("observedGeneration", "conditions", "replicas", "readyReplicas", "selector", "url")

@dataclass(frozen=True)
class Cond:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


def _cond_of(obj: Mapping[str, Any] | None, ctype: str) -> Mapping[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def deployment_condition(dep: Mapping[str, Any] | None) -> Cond:
    if dep is None:
        return Cond(DEPLOYMENT_READY, "False", "DeploymentMissing", "the Deployment does not exist yet")
    meta, spec, status = dep.get("metadata", {}), dep.get("spec", {}), dep.get("status") or {}
    want = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas", 0) or 0)
    updated = int(status.get("updatedReplicas", 0) or 0)
    total = int(status.get("replicas", 0) or 0)
    failure = _cond_of(dep, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        # Pods the ReplicaSet could not create: ResourceQuota or Pod Security admission said no.
        return Cond(DEPLOYMENT_READY, "False", "ReplicaFailure", str(failure.get("message", "")))
    progressing = _cond_of(dep, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Cond(DEPLOYMENT_READY, "False", "ProgressDeadlineExceeded", str(progressing.get("message", "")))
    if int(status.get("observedGeneration", 0) or 0) < int(meta.get("generation", 0) or 0):
        return Cond(
            DEPLOYMENT_READY, "False", "RolloutInProgress", "the Deployment controller has not seen the latest spec"
        )
    if updated < want or total > updated:
        return Cond(
            DEPLOYMENT_READY,
            "False",
            "RolloutInProgress",
            f"{updated} of {want} replicas updated, {total - updated} old replicas still running",
        )
    if ready < want:
        return Cond(DEPLOYMENT_READY, "False", "ReplicasNotReady", f"{ready} of {want} replicas ready")
    if want == 0:
        return Cond(DEPLOYMENT_READY, "True", "ScaledToZero", "0 replicas requested")
    return Cond(DEPLOYMENT_READY, "True", "ReplicasReady", f"{ready} of {want} replicas ready")


def unschedulable_condition(pods: Sequence[Mapping[str, Any]]) -> Cond | None:
    """``DeploymentReady=False, reason: Unschedulable`` with the scheduler's own words when some of the
    service's pods cannot be placed (their ``PodScheduled`` condition is False), else None.

    Only worth asking when the Deployment is not ready: the reconcile loop lists pods only then."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    stuck = []
    for pod in live:
        scheduled = _cond_of(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            stuck.append(scheduled)
    if not stuck:
        return None
    reason = str(stuck[0].get("reason") or "Unschedulable")
    said = str(stuck[0].get("message") or "no reason given by the scheduler")
    return Cond(
        DEPLOYMENT_READY,
        "False",
        reason,
        f"{len(stuck)} of {len(live)} pods cannot be scheduled: {said}",
    )


def clamp_condition(wanted: int, replicas: int, limited_by: str | None, message: str) -> Cond | None:
    """``Ready=False`` when the tenant's quota or budget leaves the service no replica at all (it wants
    some): a service that cannot run is not ready, whatever its zero-replica Deployment says."""
    if wanted > 0 and replicas == 0 and limited_by:
        said = message or f"the tenant's {limited_by.lower()} leaves 0 replicas"
        return Cond(READY, "False", f"{limited_by}Limited", said)
    return None


def autoscaler_condition(hpa: Mapping[str, Any] | None) -> Cond:
    if hpa is None:
        return Cond(AUTOSCALER_READY, "False", "HPAMissing", "the HorizontalPodAutoscaler does not exist yet")
    able = _cond_of(hpa, "AbleToScale")
    if able is not None and able.get("status") == "False":
        return Cond(
            AUTOSCALER_READY, "False", str(able.get("reason") or "NotAbleToScale"), str(able.get("message", ""))
        )
    spec = hpa.get("spec", {})
    bounds = f"HPA bounds {spec.get('minReplicas', 1)}-{spec.get('maxReplicas')}"
    active = _cond_of(hpa, "ScalingActive")
    if active is not None and active.get("status") == "False":
        # No custom-metrics adapter: the HPA still enforces its bounds, which the cost controller sets.
        return Cond(
            AUTOSCALER_READY,
            "True",
            "BoundsOnly",
            f"{bounds}; the HPA reads no metrics ({active.get('reason')}), the cost controller sets its bounds",
        )
    return Cond(AUTOSCALER_READY, "True", "HPAActive", bounds)


def hpa_reads_metrics(hpa: Mapping[str, Any] | None) -> bool:
    """Whether the HPA computes replicas from metrics of its own (ScalingActive is True)."""
    active = _cond_of(hpa, "ScalingActive")
    return active is not None and active.get("status") == "True"


def ready_condition(parts: Sequence[Cond], error: Cond | None = None) -> Cond:
    if error is not None:
        return Cond(READY, "False", error.reason, error.message)
    for part in parts:
        if part.status != "True":
            return Cond(READY, "False", part.reason, f"{part.type}: {part.message}")
    return Cond(READY, "True", "Ready", "; ".join(p.message for p in parts))


def merge_conditions(
    existing: Sequence[Mapping[str, Any]], new: Sequence[Cond], generation: int, now: str
) -> list[dict[str, Any]]:
    """Replace our condition types, keep others, keep lastTransitionTime when the status did not change."""
    by_type = {c.get("type"): dict(c) for c in existing}
    for cond in new:
        old = by_type.get(cond.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == cond.status else now
        by_type[cond.type] = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": since or now,
            "observedGeneration": generation,
        }
    ordered = [t for t in OWNED_CONDITIONS if t in by_type] + sorted(
        str(t) for t in by_type if t not in OWNED_CONDITIONS
    )
    return [by_type[t] for t in ordered]


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


def limit_transition_event(old: Sequence[Mapping[str, Any]], new: Cond) -> Event | None:
    """A Warning when QuotaLimited/BudgetLimited becomes True or its message changes; Normal when lifted."""
    before = next((c for c in old if c.get("type") == new.type), None)
    if new.status == "True":
        if before is not None and before.get("status") == "True" and before.get("message") == new.message:
            return None
        return Event("Warning", new.type, new.message)
    if before is not None and before.get("status") == "True":
        return Event("Normal", f"{new.type.removesuffix('Limited')}Available", f"no longer limited: {new.message}")
    return None


#: Ready=False reasons worth a Warning Event when Ready turns to them (QuotaLimited/BudgetLimited get
#: theirs from ``limit_transition_event``).
WARNING_REASONS = (
    "InvalidSpec", "GPUClassNotFound", "ApplyFailed", "ChildConflict", "ProgressDeadlineExceeded", "ReplicaFailure",
    "Unschedulable", "CurrencyMismatch",
)


def standing_warning(ready: Cond) -> Event | None:
    """The Warning Event that ``Ready=False`` with one of ``WARNING_REASONS`` stands for, level-based:
    the reconcile posts it when it is not on record for the object yet (``inferop.reconcile.isvc.
    post_ready_warning``), so a post that was lost is made by the next reconcile that still finds it."""
    if ready.status == "False" and ready.reason in WARNING_REASONS:
        return Event("Warning", ready.reason, ready.message)
    return None


def ready_transition_event(old: Sequence[Mapping[str, Any]], new: Cond) -> Event | None:
    """An Event when Ready changes status or reason; nothing in steady state."""
    before = next((c for c in old if c.get("type") == READY), None)
    if before is not None and before.get("status") == new.status and before.get("reason") == new.reason:
        return None
    if new.status == "True":
        return Event("Normal", "Ready", new.message)
    if new.reason in WARNING_REASONS:
        return Event("Warning", new.reason, new.message)
    return None


def _same(want: Any, have: Any) -> bool:
    """``want`` already holds in ``have``; in nested objects a None means "absent" and foreign keys are kept."""
    if isinstance(want, Mapping):
        have = have if isinstance(have, Mapping) else {}
        return all(_same(v, have.get(k)) for k, v in want.items())
    return bool(want == have)


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``current`` into ``desired`` for the fields in ``desired`` (empty if none).

    Nested objects are merged by the API server (JSON merge patch), so keys another loop owns inside
    them (e.g. the cost controller's ``autoscaling.lastDecision``) survive, and a None removes a key.
    """
    return {k: v for k, v in desired.items() if not _same(v, current.get(k))}
