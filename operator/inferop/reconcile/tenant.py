"""Reconcile one Tenant: namespace labels, one ResourceQuota and one LimitRange per namespace, status.

The quota objects carry an owner reference to the Tenant, so deleting the Tenant garbage-collects
them and nothing else (namespaces are labelled, never owned). A namespace removed from the Tenant
loses its quota, LimitRange and our labels. I/O through ``inferop.reconcile.kube`` only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from inferop.api import GPUClass, InvalidObject
from inferop.api.common import API_VERSION
from inferop.api.times import now_iso
from inferop.api.validation import parse_tenant
from inferop.reconcile import drift, status
from inferop.reconcile.children import ChildConflict, ReadOnce, describe, ensure_objects
from inferop.reconcile.kube import Kube, KubeError, Transient, path
from inferop.render.quota import (
    LIMITRANGE_NAME,
    QUOTA_NAME,
    SYSTEM_PRIORITY_QUOTA_NAME,
    TENANT_LABEL,
    build_limit_range,
    build_namespace_labels,
    build_resource_quota,
    build_system_priority_quota,
    counting_pending,
    uncounted,
    without_hard,
)
from inferop.tenancy import claims
from inferop.tenancy.headroom import currency_mismatch, money
from inferop.tenancy.usage import usages

log = logging.getLogger(__name__)
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


@dataclass
class TenantResult:
    status_patch: dict[str, Any]
    applied: list[str]
    events: list[status.Event] = field(default_factory=list)
    #: Reconcile again in this many seconds (a quota waiting for its count, or for a limit to be re-added).
    recheck_after: float | None = None


#: Seconds before re-checking a quota the kube-controller-manager has not counted yet.
COUNT_PENDING_SECONDS = 2.0
#: Seconds before adding back a limit left out so that the quota is recounted (the controller's quota
#: monitor for a newly installed resource starts at its next discovery sync, at most 30 s).
RECOUNT_SECONDS = 10.0
QUOTA_COUNTED = "QuotaCounted"


def _owned(obj: dict[str, Any], tenant_body: Mapping[str, Any]) -> dict[str, Any]:
    return drift.with_owner(obj, tenant_body)


def _uncounted_message(namespace: str, keys: list[str]) -> str:
    names = ", ".join(keys)
    return (
        f"ResourceQuota {namespace}/{QUOTA_NAME} has no usage for {names}: the kube-controller-manager has "
        "not counted it (its quota monitor for a newly installed resource starts up to 30 s after the CRD, "
        "and it recounts a quota only when the quota's spec changes or at its 5-minute resync), so quota "
        'admission refuses every object it covers ("status unknown for quota"); inferop applied the quota '
        f"without {names} and adds it back in {RECOUNT_SECONDS:.0f} s, which makes the controller count it"
    )


def _apply_namespace(
    kube: Kube, objects: list[dict[str, Any]], recount: dict[str, Any] | None, reader: ReadOnce
) -> tuple[list[dict[str, Any]], list[str]]:
    """Apply one namespace's objects where they drifted; ``recount`` (a quota with uncounted limits left
    out) is applied even though the live quota is a superset of it (that is the point)."""
    live, applied = ensure_objects(kube, objects, reader)
    if recount is not None:
        live.append(kube.apply(recount))
        applied.append(describe(recount))
        log.info("Updated %s (left out uncounted limits so that it is recounted)", describe(recount))
    return live, applied


def reconcile_tenant(
    kube: Kube,
    body: Mapping[str, Any],
    gpuclasses: Mapping[str, GPUClass],
    services: Iterable[Mapping[str, Any]],
    owners: Mapping[str, str | None] | None = None,
    operator_namespace: str | None = None,
) -> TenantResult:
    """Apply what drifted for ``body`` and compute its status patch. ``services`` are the InferenceService
    bodies in the tenant's namespaces (from the operator's index); ``owners`` the Tenant that owns each
    namespace by ``inferop.tenancy.claims.owner`` (a namespace missing from it is this Tenant's)."""
    meta = body["metadata"]
    name = meta["name"]
    current = body.get("status") or {}
    old_conditions = current.get("conditions") or []
    generation = int(meta.get("generation", 0) or 0)
    try:
        tenant = parse_tenant(body)
    except InvalidObject as err:
        cond = status.Cond(status.READY, "False", "InvalidSpec", str(err))
        conditions = status.merge_conditions(old_conditions, [cond], generation, now_iso())
        return TenantResult(
            status.status_patch(current, {"observedGeneration": generation, "conditions": conditions}),
            [],
            [e for e in [_ready_event(old_conditions, cond)] if e is not None],
        )

    owners = owners or {}
    problems: dict[str, list[str]] = {}  # reason -> messages, in the order of REASONS
    mine: list[str] = []
    for ns in tenant.spec.namespaces:
        why = claims.refused(ns, operator_namespace, tenant.spec.allow_system_namespaces)
        holder = owners.get(ns, name)
        if why is not None:
            problems.setdefault("SystemNamespace", []).append(
                f"{why}; inferop writes nothing there (set spec.allowSystemNamespaces: true to allow it)"
            )
        elif holder is not None and holder != name:
            problems.setdefault("NamespaceClaimed", []).append(
                f"namespace {ns} belongs to Tenant {holder}; inferop writes nothing there for {name}"
            )
        else:
            mine.append(ns)

    resources = {c.spec.resource_name for c in gpuclasses.values()} | {DEFAULT_GPU_RESOURCE}
    applied: list[str] = []
    uncounted_msgs: list[str] = []
    pending = False
    recheck: float | None = None
    for ns in mine:
        quota = _owned(build_resource_quota(name, tenant.spec, ns, resources), body)
        reader = ReadOnce(kube)  # the quota is read once, for the count check and the drift check
        live_quota = reader.get(path("v1", "ResourceQuota", ns, QUOTA_NAME))
        # Only our own quota is recounted (applied without a limit); another owner's is not ours to touch.
        ours = live_quota is not None and drift.is_owned_by(live_quota, str(meta.get("uid") or ""))
        missing = uncounted(live_quota) if ours else []
        objects = [build_namespace_labels(name, tenant.spec, ns)]
        if not missing:
            objects.append(quota)
        objects.append(_owned(build_limit_range(name, tenant.spec, ns), body))
        if not tenant.spec.allow_system_priority_classes:
            objects.append(_owned(build_system_priority_quota(name, ns), body))
        try:
            live, done = _apply_namespace(kube, objects, without_hard(quota, missing) if missing else None, reader)
            if tenant.spec.allow_system_priority_classes:
                done += _remove_system_priority_quota(kube, ns, meta.get("uid"))
        except Transient:
            raise
        except ChildConflict as err:  # a quota object of our name that is not this Tenant's: left untouched
            problems.setdefault("ChildConflict", []).append(f"namespace {ns}: {err.message}")
            applied += err.applied
            continue
        except KubeError as err:
            # The API server refused an object (invalid, forbidden, a policy): say so, retry at the next tick.
            problems.setdefault("ApplyFailed", []).append(f"namespace {ns}: the API server refused: {err.message}")
            continue
        applied += done
        if missing:
            uncounted_msgs.append(_uncounted_message(ns, missing))
            recheck = RECOUNT_SECONDS if recheck is None else min(recheck, RECOUNT_SECONDS)
        elif any(counting_pending(obj) for obj in live if obj.get("kind") == "ResourceQuota"):
            pending = True
            recheck = COUNT_PENDING_SECONDS if recheck is None else min(recheck, COUNT_PENDING_SECONDS)
    applied += remove_stale(kube, name, set(mine), str(meta.get("uid") or ""))

    mine_set = set(mine)
    held = usages(
        [s for s in services if (s.get("metadata") or {}).get("namespace") in mine_set], gpuclasses, tenant.spec
    )
    mismatched = sorted({m for u in held if (m := currency_mismatch(name, tenant.spec, u)) is not None})
    if mismatched:
        problems.setdefault("CurrencyMismatch", []).extend(mismatched)
    counted = [u for u in held if currency_mismatch(name, tenant.spec, u) is None]
    gpus = sum(u.gpus_per_replica * u.replicas for u in held)
    hourly = sum((u.price_per_replica * u.replicas for u in counted), Decimal(0))

    reason = next((r for r in REASONS if r in problems), None)
    if reason is None:
        ready = status.Cond(
            status.READY, "True", "QuotasApplied", f"ResourceQuota and LimitRange in {len(mine)} namespace(s)"
        )
    else:
        ready = status.Cond(status.READY, "False", reason, "; ".join(m for r in REASONS for m in problems.get(r, [])))
    conds = [ready, _counted_condition(old_conditions, uncounted_msgs, pending)]
    if tenant.spec.budget is not None:
        budget = Decimal(tenant.spec.budget.hourly)
        over = hourly > budget
        conds.append(
            status.Cond(
                "BudgetExceeded",
                "True" if over else "False",
                "OverBudget" if over else "WithinBudget",
                f"{money(hourly)} of {money(budget)} {tenant.spec.budget.currency}/h",
            )
        )
    conditions = status.merge_conditions(old_conditions, conds, generation, now_iso())
    desired = {
        "observedGeneration": generation,
        "conditions": conditions,
        "usage": {"gpus": gpus, "hourly": money(hourly)},
    }
    events = [e for e in [_ready_event(old_conditions, ready), _counted_event(old_conditions, conds[1])] if e]
    for event in events:
        if event.type == "Warning":
            log.warning("Tenant %s: %s: %s", name, event.reason, event.message)
    return TenantResult(status.status_patch(current, desired), applied, events, recheck)


#: Why a Tenant is not Ready, most severe first (the Ready reason is the first that applies).
REASONS = ("ApplyFailed", "ChildConflict", "NamespaceClaimed", "SystemNamespace", "CurrencyMismatch")


def _before(old: Iterable[Mapping[str, Any]], ctype: str) -> Mapping[str, Any] | None:
    return next((c for c in old if c.get("type") == ctype), None)


def _ready_event(old: Iterable[Mapping[str, Any]], ready: status.Cond) -> status.Event | None:
    """A Warning when Ready turns False or its message changes; Normal when it turns True again."""
    before = _before(old, status.READY)
    if before is not None and before.get("status") == ready.status and before.get("message") == ready.message:
        return None
    if ready.status == "True":
        turned = before is not None and before.get("status") != "True"
        return status.Event("Normal", "Ready", ready.message) if turned else None
    return status.Event("Warning", ready.reason, ready.message)


def _counted_condition(old: Iterable[Mapping[str, Any]], uncounted_msgs: list[str], pending: bool) -> status.Cond:
    if uncounted_msgs:
        return status.Cond(QUOTA_COUNTED, "False", "UsageNotCounted", "; ".join(uncounted_msgs))
    before = _before(old, QUOTA_COUNTED)
    waiting = "waiting for the kube-controller-manager to count the ResourceQuota"
    if pending:
        if before is not None and before.get("status") == "False":
            return status.Cond(QUOTA_COUNTED, "False", "Recounting", waiting)
        if before is not None:  # a spec change is being counted: keep what the condition said
            return status.Cond(QUOTA_COUNTED, str(before["status"]), str(before["reason"]), str(before["message"]))
        return status.Cond(QUOTA_COUNTED, "Unknown", "CountPending", waiting)
    return status.Cond(QUOTA_COUNTED, "True", "Counted", "the kube-controller-manager counts every limit of the quota")


def _counted_event(old: Iterable[Mapping[str, Any]], cond: status.Cond) -> status.Event | None:
    before = _before(old, QUOTA_COUNTED)
    if cond.status == "False" and cond.reason == "UsageNotCounted":
        if before is not None and before.get("reason") == cond.reason and before.get("message") == cond.message:
            return None
        return status.Event("Warning", "QuotaNotCounted", cond.message)
    if cond.status == "True" and before is not None and before.get("status") == "False":
        return status.Event("Normal", "QuotaCounted", "the kube-controller-manager counts every limit again")
    return None


def _remove_system_priority_quota(kube: Kube, namespace: str, tenant_uid: str | None) -> list[str]:
    """The Tenant allows system priority classes: delete our deny quota if it exists."""
    url = path("v1", "ResourceQuota", namespace, SYSTEM_PRIORITY_QUOTA_NAME)
    live = kube.get(url)
    if live is not None and tenant_uid and drift.is_owned_by(live, tenant_uid):
        kube.delete(url)
        return [f"delete ResourceQuota {namespace}/{SYSTEM_PRIORITY_QUOTA_NAME}"]
    return []


def remove_stale(kube: Kube, tenant: str, namespaces: set[str], owner_uid: str) -> list[str]:
    """Delete this tenant's quota objects (controlled by ``owner_uid``, never another's that carries
    our label) and labels in namespaces it no longer lists."""
    removed: list[str] = []
    selector = f"{TENANT_LABEL}={tenant}"
    stale_namespaces: set[str] = set()
    for kind, name in (
        ("ResourceQuota", QUOTA_NAME),
        ("ResourceQuota", SYSTEM_PRIORITY_QUOTA_NAME),
        ("LimitRange", LIMITRANGE_NAME),
    ):
        for obj in kube.list(path("v1", kind), label_selector=selector):
            ns = obj["metadata"]["namespace"]
            if ns not in namespaces and obj["metadata"]["name"] == name and drift.is_owned_by(obj, owner_uid):
                kube.delete(path("v1", kind, ns, name))
                removed.append(f"delete {kind} {ns}/{name}")
                stale_namespaces.add(ns)
    stale_namespaces |= {n["metadata"]["name"] for n in kube.list(path("v1", "Namespace"), label_selector=selector)}
    for ns in sorted(stale_namespaces - namespaces):
        # Applying the Namespace with no labels gives up the labels our field manager owned.
        if kube.get(path("v1", "Namespace", None, ns)) is not None:
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            removed.append(f"unlabel Namespace {ns}")
    for item in removed:
        log.info("Tenant %s: %s", tenant, item)
    return removed


def write_tenant_status(kube: Kube, body: Mapping[str, Any], patch: Mapping[str, Any]) -> None:
    if patch:
        kube.patch_merge(
            path(API_VERSION, "Tenant", None, body["metadata"]["name"], "status"), {"status": dict(patch)}
        )
