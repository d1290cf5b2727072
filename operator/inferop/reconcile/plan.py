"""Pure decisions of the reconcile loop: does a child need applying, what status to write.

Nothing here performs I/O (STYLE: decide, then act). ``inferop.reconcile.isvc`` reads the cluster,
calls these functions, and executes their answers.
"""

from __future__ import annotations

import json
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


# --- drift: what our field manager owns ------------------------------------------------------------
#
# Server-side apply merges: it never removes a list entry or a map key another field manager owns (a
# sidecar a mesh injects, an annotation a user adds), so comparing whole lists against the live object
# would find "drift" on every check and re-apply forever. The live object's ``metadata.managedFields``
# says which fields and list entries each manager owns (``fieldsV1``: ``f:<field>``, ``k:<key json>`` for
# an entry of a keyed list, ``v:<value json>`` for an entry of a set, ``.`` for the entry itself); a
# field owned whole (an atomic list or map) has an empty tree. A child has drifted when a desired field
# or entry is missing or different in live, or when we own a field or entry that is no longer desired
# (so removing an env var or a nodeSelector key from the spec is applied too).

#: Maps the Kubernetes schema declares atomic that hold only string labels (``+mapType=atomic``,
#: LabelSelector): owned whole, so a key the spec no longer has is drift. Other atomic nodes may carry
#: server defaults (``fieldRef.apiVersion``), so for them extra live keys are tolerated.
ATOMIC_STRING_MAPS = frozenset({"nodeSelector", "selector", "matchLabels"})


#: Keyed lists (``+listType=map``) in the objects we render. Only needed where ``fieldsV1`` cannot tell:
#: a list we applied empty has an empty tree, like an atomic list we own whole.
KEYED_LISTS = frozenset(
    {"containers", "initContainers", "env", "ports", "volumes", "volumeMounts", "ownerReferences", "imagePullSecrets"}
)


class _Whole:
    """Marker: the node is owned whole (an atomic field, or anything inside one)."""


WHOLE = _Whole()
Owned = Mapping[str, Any] | _Whole | None


def _union(into: dict[str, Any], tree: Mapping[str, Any]) -> None:
    for key, sub in tree.items():
        node = into.setdefault(key, {})
        if isinstance(sub, Mapping) and isinstance(node, dict):
            _union(node, sub)


def owned_fields(live: Mapping[str, Any], manager: str) -> dict[str, Any] | None:
    """The ``fieldsV1`` tree ``manager`` owns in ``live`` through server-side apply (operation Apply on the
    object itself, not a subresource), merged over its entries; None when it has no such entry (an
    object it never applied, or a reader that keeps no managedFields)."""
    entries = ((live.get("metadata") or {}).get("managedFields")) or []
    trees = [
        e["fieldsV1"]
        for e in entries
        if isinstance(e, Mapping)
        and e.get("manager") == manager
        and e.get("operation") == "Apply"
        and not e.get("subresource")
        and isinstance(e.get("fieldsV1"), Mapping)
    ]
    if not trees:
        return None
    out: dict[str, Any] = {}
    for tree in trees:
        _union(out, tree)
    return out


def drifted(want: Mapping[str, Any], live: Mapping[str, Any], manager: str) -> bool:
    """Whether ``want`` (the object we would apply) must be applied over ``live``.

    Compares only what ``manager`` owns in live (its managedFields) plus what it wants: a field or list
    entry someone else added is not drift. Without a managedFields entry of ``manager`` it falls back to
    ``is_subset`` (lists compared whole).
    """
    owned = owned_fields(live, manager)
    if owned is None:
        return not is_subset(want, live)
    return not _in_sync(want, live, owned, False, None)


def _child(owned: Owned, key: str) -> Owned:
    if owned is None or isinstance(owned, _Whole):
        return owned
    sub = owned.get(key)
    if sub is None:
        return None
    if isinstance(sub, Mapping) and not any(k != "." for k in sub):
        return WHOLE  # a leaf in fieldsV1: owned whole when the value is a map or a list
    return sub if isinstance(sub, Mapping) else WHOLE


def _in_sync(want: Any, have: Any, owned: Owned, quantity: bool, name: str | None) -> bool:
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return False
        for k, v in want.items():
            if v is None or (k not in have and _empty(v)):
                continue  # the API server drops an empty map or list (``nodeSelector: {}``)
            if k not in have or not _in_sync(v, have[k], _child(owned, f"f:{k}"), quantity or k in QUANTITY_KEYS, k):
                return False
        if isinstance(owned, _Whole):
            # An atomic label map: a key we no longer want is drift (nothing else may own it).
            return name not in ATOMIC_STRING_MAPS or all(k in want and want[k] is not None for k in have)
        if owned is not None:
            # A field we own that is no longer wanted: applying without it gives it up (and deletes it).
            for key in owned:
                if key.startswith("f:") and want.get(key[2:]) is None:
                    return False
        return True
    if isinstance(want, Sequence) and not isinstance(want, str):
        if not isinstance(have, Sequence) or isinstance(have, str):
            return False
        if isinstance(owned, Mapping) and any(k.startswith(("k:", "v:")) for k in owned):
            return _list_in_sync(want, have, owned, quantity)
        if not want and owned is not None and name in KEYED_LISTS:
            return True  # we own no entry of this keyed list (an empty tree): entries others add stay
        # Atomic (owned whole), or not ours at all: element by element.
        inner = WHOLE if isinstance(owned, _Whole) else None
        return len(want) == len(have) and all(
            _in_sync(w, h, inner, quantity, None) for w, h in zip(want, have, strict=True)
        )
    return _scalar_equal(want, have, quantity)


_ABSENT = object()


def _empty(value: Any) -> bool:
    return isinstance(value, (Mapping, list)) and not value


def _parse_key(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _key_matches(key: Mapping[str, Any], elem: Any) -> bool:
    """``elem`` has the values of ``key``; a key field ``elem`` leaves out is one the API server
    defaults (a port's ``protocol``), which does not tell entries apart."""
    return isinstance(elem, Mapping) and any(f in elem for f in key) and all(
        elem[f] == v for f, v in key.items() if f in elem
    )


def _list_in_sync(want: Sequence[Any], have: Sequence[Any], owned: Mapping[str, Any], quantity: bool) -> bool:
    """A keyed list (``k:``) or a set (``v:``) whose entries we own one by one: our entries must be in
    live (keyed ones in our order, with our fields), and every entry we own must still be wanted."""
    if any(k.startswith("v:") for k in owned):
        values = [_parse_key(k[2:]) for k in owned if k.startswith("v:")]
        return all(any(_scalar_equal(w, h, quantity) for h in have) for w in want) and all(
            any(_scalar_equal(w, v, quantity) for w in want) for v in values
        )
    keys = [(k, _parse_key(k[2:])) for k in owned if k.startswith("k:")]
    if any(not isinstance(key, Mapping) for _, key in keys):
        return False  # a key we cannot read: apply rather than guess
    fields = {f for _, key in keys for f in key}
    after = -1
    for w in want:
        if not isinstance(w, Mapping) or not any(f in w for f in fields):
            return False
        at = next(
            (i for i, h in enumerate(have) if i > after and isinstance(h, Mapping)
             and all(w[f] == h.get(f) for f in fields if f in w)),
            None,
        )
        if at is None:
            return False
        after = at
        live_entry = have[at]
        entry = next((raw for raw, key in keys if all(live_entry.get(f, _ABSENT) == v for f, v in key.items())), None)
        sub = _child(owned, entry) if entry is not None else None
        if not _in_sync(w, have[at], sub, quantity, None):
            return False
    return all(any(_key_matches(key, w) for w in want) for _, key in keys)


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
