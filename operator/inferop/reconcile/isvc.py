"""Reconcile one InferenceService: apply its children where they drifted, then write honest status.

Level-based and idempotent: create, update, resume, the drift timer, child events and GPUClass
changes all call ``reconcile``. An unchanged spec with undrifted children causes reads only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from inferop.api import GPUClass, InvalidObject, parse_isvc
from inferop.api.common import API_VERSION
from inferop.api.inferenceservice import InferenceService
from inferop.api.times import now_iso
from inferop.api.validation import plain
from inferop.cost.hpa import hpa_bounds
from inferop.reconcile import drift, status, zero
from inferop.reconcile.children import (
    ChildConflict,
    Reader,
    ReadOnce,
    ensure_objects,
    remember_delete,
)
from inferop.reconcile.kube import Kube, KubeError, Transient, path, path_of
from inferop.render import RenderError, Scale, render_all
from inferop.render.labels import selector_string, service_url
from inferop.tenancy.headroom import Clamped, Tenancy, money
from inferop.tenancy.usage import Allowance, allowance, price_per_replica

log = logging.getLogger(__name__)
CURRENCY_MISMATCH = "CurrencyMismatch"


@dataclass
class Result:
    status_patch: dict[str, Any]
    #: Events of transitions (Ready, QuotaLimited, BudgetLimited), the Ready warning among them.
    events: list[status.Event]
    applied: list[str]
    #: The Warning that Ready=False stands for while it lasts (``post_ready_warning``), else None.
    warning: status.Event | None = None

    @property
    def event(self) -> status.Event | None:
        return self.events[0] if self.events else None


def plan_scale(
    isvc: InferenceService,
    allowed: Allowance,
    decided: int | None = None,
    hpa_reads_metrics: bool = False,
) -> tuple[Scale, Clamped, bool]:
    """Replica counts to render (pure): the tenant clamp, and for an autoscaled service in Enforce mode
    the cost controller's decision (``status.autoscaling.desiredReplicas``) as the HPA's bounds.

    The decision is the HPA's ``minReplicas`` (the SLO floor). ``maxReplicas`` is the quota/budget
    ceiling when the HPA reads metrics of its own (it may go higher on a burst); when it reads none (no
    metrics adapter), the HPA would never scale down by itself, so both bounds are the decision.
    Returns the Scale, the clamp result and whether a tenant applies. Raises RenderError
    (``CurrencyMismatch``) when the service's GPUClass is priced in another currency than the budget.
    """
    spec = isvc.spec
    if allowed.mismatch is not None:
        # No clamp is used across currencies: the service is an error the user sees, children untouched.
        raise RenderError("spec.resources.gpu.class", allowed.mismatch, reason=CURRENCY_MISMATCH)
    clamped, applies = allowed.clamped, allowed.applies
    if spec.autoscaling is None:
        return Scale(replicas=clamped.replicas if applies else None), clamped, applies
    ceiling = max(1, clamped.replicas)  # an HPA cannot have maxReplicas 0
    floor = min(spec.autoscaling.floor, ceiling)
    if decided is not None and spec.autoscaling.mode == "Enforce":
        low, high = hpa_bounds(decided, ceiling, hpa_reads_metrics=hpa_reads_metrics)
        return Scale(min_replicas=low, max_replicas=high), clamped, applies
    return Scale(min_replicas=floor, max_replicas=ceiling), clamped, applies


def limit_conditions(
    clamped: Clamped, tenant_applies: bool, tenant: str | None, error: status.Cond | None = None
) -> list[status.Cond]:
    out = []
    for ctype, kind in ((status.QUOTA_LIMITED, "Quota"), (status.BUDGET_LIMITED, "Budget")):
        if error is not None and error.reason == CURRENCY_MISMATCH and tenant is not None:
            out.append(status.Cond(ctype, "Unknown", CURRENCY_MISMATCH, error.message))
        elif not tenant_applies:
            out.append(status.Cond(ctype, "False", "NoTenant", "the namespace belongs to no Tenant"))
        elif clamped.limited_by == kind:
            out.append(status.Cond(ctype, "True", f"Tenant{kind}", clamped.message))
        else:
            out.append(status.Cond(ctype, "False", f"Within{kind}", f"within tenant {tenant}'s {kind.lower()}"))
    return out


def _child_url(isvc_body: Mapping[str, Any], api_version: str, kind: str) -> str:
    meta = isvc_body["metadata"]
    return path(api_version, kind, meta.get("namespace"), meta["name"])


def apply_children(
    kube: Kube, owner: Mapping[str, Any], objects: list[dict[str, Any]], reader: Reader | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Apply each object that is missing or drifted; return the live objects by kind and what was written."""
    live, applied = ensure_objects(
        kube, [drift.with_owner(obj, owner) for obj in objects], reader, all_or_nothing=True
    )
    return {obj["kind"]: obj for obj in live}, applied


def _ours(obj: dict[str, Any] | None, owner: Mapping[str, Any]) -> dict[str, Any] | None:
    """``obj`` if this InferenceService controls it (someone else's object of the same name says nothing
    about our service's state)."""
    return obj if obj is not None and drift.is_owned_by(obj, owner["metadata"].get("uid", "")) else None


def delete_stale_hpa(kube: Kube, owner: Mapping[str, Any], reader: Reader | None = None) -> bool:
    """Remove our HPA when the service switched to fixed replicas."""
    url = _child_url(owner, "autoscaling/v2", "HorizontalPodAutoscaler")
    read = reader if reader is not None else kube
    hpa = read.get(url)
    if hpa is not None and drift.is_owned_by(hpa, owner["metadata"]["uid"]):
        kube.delete(url)
        remember_delete(read, url)
        log.info("Deleted HorizontalPodAutoscaler %s/%s", owner["metadata"]["namespace"], owner["metadata"]["name"])
        return True
    return False


def reconcile(
    kube: Kube,
    body: Mapping[str, Any],
    gpuclasses: Mapping[str, GPUClass],
    tenancy: Tenancy | None = None,
    reader: Reader | None = None,
    allowed: Allowance | None = None,
) -> Result:
    """Bring the children of ``body`` in line with its spec and compute its status patch.

    Children are read from ``reader`` (default: the API, one GET per child) and written to the API.
    ``allowed``: the service's ``allowance`` when the caller (the cost tick) computed it already for
    this spec and ``tenancy``; otherwise it is computed here, once.
    """
    body = plain(body)
    source: Reader = reader if reader is not None else kube
    read = ReadOnce(source)
    meta = body["metadata"]
    generation = int(meta.get("generation", 0) or 0)
    current = body.get("status") or {}
    error: status.Cond | None = None
    isvc: InferenceService | None = None
    objects: list[dict[str, Any]] = []
    clamped, tenant_applies = Clamped(0, None, ""), False
    price: tuple[Decimal, str] | None = None
    try:
        isvc = parse_isvc(body)
        allowed = allowed if allowed is not None else allowance(isvc, gpuclasses, tenancy)
        price = (allowed.price, allowed.currency)
        decided = (current.get("autoscaling") or {}).get("desiredReplicas")
        hpa_reads_metrics = False
        if isvc.spec.autoscaling is not None:
            live_hpa = read.get(_child_url(body, "autoscaling/v2", "HorizontalPodAutoscaler"))
            hpa_reads_metrics = status.hpa_reads_metrics(live_hpa)
        scale, clamped, tenant_applies = plan_scale(isvc, allowed, decided, hpa_reads_metrics)
        objects = render_all(isvc, gpuclasses, scale)
    except InvalidObject as err:
        error = status.Cond(status.READY, "False", "InvalidSpec", str(err))
    except RenderError as err:
        error = status.Cond(status.READY, "False", err.reason, str(err))

    applied: list[str] = []
    live: dict[str, dict[str, Any]] | None = None
    if error is None and isvc is not None:
        try:
            live, applied = apply_children(kube, body, objects, read)
            if isvc.spec.autoscaling is None and delete_stale_hpa(kube, body, read):
                applied.append("delete HorizontalPodAutoscaler")
        except Transient:
            raise
        except ChildConflict as err:
            # Objects of our children's names that someone else owns: never touched, reported.
            error = status.Cond(status.READY, "False", "ChildConflict", str(err))
        except KubeError as err:
            # The API server refused a child (invalid, forbidden, quota): say so instead of failing silently.
            error = status.Cond(status.READY, "False", "ApplyFailed", f"the API server rejected a child object: {err}")
    zeroed: zero.ZeroResult | None = None
    if live is not None and isvc is not None:
        try:  # scale to zero: the Service's EndpointSlice, wake and replicas at zero (reconcile.zero)
            if isvc.spec.scale_to_zero is not None:
                zeroed = zero.reconcile_zero(kube, body, isvc, live.get("Deployment"), read)
            else:  # removed (or never set): leftovers go
                zeroed = zero.cleanup(kube, body, isvc, live.get("Deployment"), read)
            applied.extend(zeroed.applied)
        except Transient:
            raise
        except KubeError as err:
            error = status.Cond(status.READY, "False", "ApplyFailed", f"scale to zero: the API server refused: {err}")
    if live is not None:
        deployment, hpa = live.get("Deployment"), live.get("HorizontalPodAutoscaler")
    else:
        # Leave existing children alone (the old version keeps serving); report what we see (not from
        # ``read``: an apply may have failed after another child was written).
        deployment = _ours(source.get(_child_url(body, "apps/v1", "Deployment")), body)
        hpa = _ours(source.get(_child_url(body, "autoscaling/v2", "HorizontalPodAutoscaler")), body)

    parts = [status.deployment_condition(deployment)]
    if parts[0].status != "True" and deployment is not None and isvc is not None:
        # Not ready: ask the pods why (the scheduler's reason); a ready service reads no pods.
        pods = kube.list(path("v1", "Pod", meta.get("namespace")), label_selector=selector_string(isvc))
        parts[0] = status.unschedulable_condition(pods) or parts[0]
    autoscaled = isvc.spec.autoscaling is not None if isvc else bool((body.get("spec") or {}).get("autoscaling"))
    if autoscaled:
        parts.append(status.autoscaler_condition(hpa))
    if error is None and tenant_applies and allowed is not None:
        error = status.clamp_condition(allowed.wanted, clamped.replicas, clamped.limited_by, clamped.message)
    ready = status.ready_condition(parts, error)
    limits = limit_conditions(clamped, tenant_applies, tenancy.name if tenancy else None, error)
    old_conditions = current.get("conditions") or []
    if isvc is not None and isvc.spec.scale_to_zero is None:  # scaleToZero removed: so are its conditions
        old_conditions = [c for c in old_conditions if c.get("type") not in zero.CONDITIONS]
    zero_conditions = zeroed.conditions if zeroed is not None else []
    conditions = status.merge_conditions(
        old_conditions, [*parts, ready, *limits, *zero_conditions], generation, now_iso()
    )
    dep_status = (deployment or {}).get("status") or {}
    desired: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": conditions,
        "replicas": int(dep_status.get("replicas", 0) or 0),
        "readyReplicas": int(dep_status.get("readyReplicas", 0) or 0),
    }
    if isvc is not None:
        desired["selector"] = selector_string(isvc)
        desired["url"] = service_url(isvc)
        desired["cost"] = cost_status(isvc, gpuclasses, desired["replicas"], price)
        if isvc.spec.autoscaling is None:  # the cost controller owns status.autoscaling of autoscaled services
            desired["autoscaling"] = {"desiredReplicas": clamped.replicas, "limitedBy": clamped.limited_by}
        if zeroed is not None and zeroed.autoscaling:  # except the scale-to-zero fields (reconcile.zero)
            desired["autoscaling"] = {**(desired.get("autoscaling") or {}), **zeroed.autoscaling}
    patch = status.status_patch(current, desired)
    events = [
        e
        for e in [
            status.ready_transition_event(old_conditions, ready),
            *(status.limit_transition_event(old_conditions, c) for c in limits),
        ]
        if e is not None
    ]
    return Result(status_patch=patch, events=events, applied=applied, warning=status.standing_warning(ready))


#: The reason of the Ready warning last posted per InferenceService uid (``post_ready_warning``).
_posted_warnings: dict[str, str] = {}
_posted_lock = threading.Lock()


def post_ready_warning(kube: Kube, body: Mapping[str, Any], warning: status.Event | None) -> bool:
    """Post ``warning`` (``Result.warning``) as an Event unless one of its reason is on record for this
    object: level-based, synchronous, remembered only once the API server took it. A post that failed,
    or a Ready transition written by a loop that posts no Events (the cost tick's reconcile), is made
    up by the next reconcile that still finds the problem; while it stands nothing more is posted (one
    Event per operator process). ``None`` (Ready healed or another reason) clears the record."""
    meta = body["metadata"]
    uid = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
    with _posted_lock:
        if warning is None:
            _posted_warnings.pop(uid, None)
            return False
        if _posted_warnings.get(uid) == warning.reason:
            return False
    involved = {"apiVersion": API_VERSION, "kind": "InferenceService", "metadata": meta}
    if not kube.post_event(involved, warning.type, warning.reason, warning.message):
        return False
    with _posted_lock:
        _posted_warnings[uid] = warning.reason
    return True


def forget_ready_warning(uid: str) -> None:
    """The InferenceService is gone: drop its record."""
    with _posted_lock:
        _posted_warnings.pop(uid, None)


def cost_status(
    isvc: InferenceService,
    gpuclasses: Mapping[str, GPUClass],
    replicas: int,
    price: tuple[Decimal, str] | None = None,
) -> dict[str, Any]:
    """``status.cost``: replicas x price, or, when the price is unknown (the GPUClass is gone or has no
    price), no ``hourly`` at all and the reason: unknown is not zero (the printer column stays empty).
    ``price``: ``price_per_replica``'s answer when the caller has it (the ``allowance``)."""
    gpu = isvc.spec.resources.gpu
    gpuclass = gpuclasses.get(gpu.class_) if gpu else None
    if gpu is not None and (gpuclass is None or gpuclass.spec.price is None):
        why = (
            f'GPUClass "{gpu.class_}" not found' if gpuclass is None else f'GPUClass "{gpu.class_}" has no spec.price'
        )
        return {"hourly": None, "currency": None, "unknownReason": f"{why}: the cost of the GPUs is unknown"}
    hourly, currency = price if price is not None else price_per_replica(isvc, gpuclass)
    return {"hourly": money(hourly * replicas), "currency": currency, "unknownReason": None}


def write_status(kube: Kube, body: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any] | None:
    """Patch the /status subresource; a no-op for an empty patch (steady state writes nothing).
    Returns the patched object (None when nothing was written)."""
    if not patch:
        return None
    return kube.patch_merge(
        path_of({"apiVersion": API_VERSION, "kind": "InferenceService", "metadata": body["metadata"]}, "status"),
        {"status": dict(patch)},
    )
