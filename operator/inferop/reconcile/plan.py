"""Pure decisions of the reconcile loop: does a child need applying, what status to write.

Nothing here performs I/O (STYLE: decide, then act). ``inferop.reconcile.isvc`` reads the cluster,
calls these functions, and executes their answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferop.api.quantity import parse_quantity

READY = "Ready"
DEPLOYMENT_READY = "DeploymentReady"
AUTOSCALER_READY = "AutoscalerReady"
#: Condition types this loop owns; others (MetricsAvailable, QuotaLimited, ...) belong to other loops.
QUOTA_LIMITED = "QuotaLimited"
BUDGET_LIMITED = "BudgetLimited"
OWNED_CONDITIONS = (READY, DEPLOYMENT_READY, AUTOSCALER_READY, QUOTA_LIMITED, BUDGET_LIMITED)
#: Status fields this loop owns.
OWNED_FIELDS = ("observedGeneration", "conditions", "replicas", "readyReplicas", "selector", "url")

#: Keys under which values are Kubernetes quantities, which the API server normalises ("1000m" -> "1").
QUANTITY_KEYS = frozenset({"requests", "limits", "hard", "default", "defaultRequest", "max", "min", "used"})


def _scalar_equal(want: Any, have: Any, quantity: bool) -> bool:
    if want == have:
        return True
    if not quantity or isinstance(want, bool) or isinstance(have, bool):
        return False
    if isinstance(want, (str, int)) and isinstance(have, (str, int)):
        a, b = parse_quantity(want), parse_quantity(have)
        return a is not None and a == b
    return False


def is_subset(want: Any, have: Any, _quantity: bool = False) -> bool:
    """True when every field in ``want`` is present in ``have`` with the same value.

    The API server adds defaults (imagePullPolicy, terminationMessagePath, ...) and normalises
    quantities ("1000m" -> "1"), so a live object is a superset of what we applied; lists must match
    element by element because we own them whole.
    """
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and is_subset(v, have[k], _quantity or k in QUANTITY_KEYS) for k, v in want.items()
        )
    if isinstance(want, Sequence) and not isinstance(want, str):
        if not isinstance(have, Sequence) or isinstance(have, str) or len(want) != len(have):
            return False
        return all(is_subset(w, h, _quantity) for w, h in zip(want, have, strict=True))
    return _scalar_equal(want, have, _quantity)


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: dict[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": meta}


def is_owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid and ref.get("controller") for ref in refs)


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


def ready_transition_event(old: Sequence[Mapping[str, Any]], new: Cond) -> Event | None:
    """An Event when Ready changes status or reason; nothing in steady state."""
    before = next((c for c in old if c.get("type") == READY), None)
    if before is not None and before.get("status") == new.status and before.get("reason") == new.reason:
        return None
    if new.status == "True":
        return Event("Normal", "Ready", new.message)
    if new.reason in (
        "InvalidSpec",
        "GPUClassNotFound",
        "ApplyFailed",
        "ProgressDeadlineExceeded",
        "ReplicaFailure",
        "CurrencyMismatch",
    ):
        return Event("Warning", new.reason, new.message)
    return None


@dataclass
class StatusPlan:
    patch: dict[str, Any] = field(default_factory=dict)
    event: Event | None = None


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
