"""Reconcile one Tenant: namespace labels, one ResourceQuota and one LimitRange per namespace, status.

The quota objects carry an owner reference to the Tenant, so deleting the Tenant garbage-collects
them and nothing else (namespaces are labelled, never owned). A namespace removed from the Tenant
loses its quota, LimitRange and our labels. I/O through ``inferop.reconcile.kube`` only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from inferop.api import GPUClass, InvalidObject, parse_isvc
from inferop.api.tenant import Tenant
from inferop.api.validation import parse_tenant
from inferop.reconcile import plan
from inferop.reconcile.children import ChildConflict, ensure_objects, now_iso
from inferop.reconcile.kube import Kube, path
from inferop.render.quota import (
    LIMITRANGE_NAME,
    QUOTA_NAME,
    TENANT_LABEL,
    build_limit_range,
    build_namespace_labels,
    build_resource_quota,
)
from inferop.tenancy.headroom import ServiceUsage, money
from inferop.tenancy.usage import held_replicas, service_usage

log = logging.getLogger(__name__)
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"


def usages(
    services: Iterable[Mapping[str, Any]], gpuclasses: Mapping[str, GPUClass], tenant: Tenant | None
) -> list[ServiceUsage]:
    """What each InferenceService (a body with metadata, spec, status) holds; invalid ones hold nothing."""
    out = []
    for body in services:
        try:
            isvc = parse_isvc(body)
        except InvalidObject:
            continue
        out.append(service_usage(isvc, gpuclasses, tenant.spec if tenant else None, held_replicas(body.get("status"))))
    return out


@dataclass
class TenantResult:
    status_patch: dict[str, Any]
    applied: list[str]


def _owned(obj: dict[str, Any], tenant_body: Mapping[str, Any]) -> dict[str, Any]:
    return plan.with_owner(obj, tenant_body)


def reconcile_tenant(
    kube: Kube,
    body: Mapping[str, Any],
    gpuclasses: Mapping[str, GPUClass],
    services: Iterable[Mapping[str, Any]],
) -> TenantResult:
    """Apply what drifted for ``body`` and compute its status patch. ``services`` are the InferenceService
    bodies in the tenant's namespaces (from the operator's index)."""
    meta = body["metadata"]
    name = meta["name"]
    current = body.get("status") or {}
    generation = int(meta.get("generation", 0) or 0)
    try:
        tenant = parse_tenant(body)
    except InvalidObject as err:
        cond = plan.Cond(plan.READY, "False", "InvalidSpec", str(err))
        conditions = plan.merge_conditions(current.get("conditions") or [], [cond], generation, now_iso())
        return TenantResult(
            plan.status_patch(current, {"observedGeneration": generation, "conditions": conditions}), []
        )

    resources = {c.spec.resource_name for c in gpuclasses.values()} | {DEFAULT_GPU_RESOURCE}
    objects: list[dict[str, Any]] = []
    for ns in tenant.spec.namespaces:
        objects.append(build_namespace_labels(name, tenant.spec, ns))
        objects.append(_owned(build_resource_quota(name, tenant.spec, ns, resources), body))
        objects.append(_owned(build_limit_range(name, tenant.spec, ns), body))
    conflict: ChildConflict | None = None
    try:
        _, applied = ensure_objects(kube, objects)
    except ChildConflict as err:  # a quota object of our name that is not this Tenant's: left untouched
        conflict, applied = err, list(err.applied)
    applied += remove_stale(kube, name, set(tenant.spec.namespaces), str(meta.get("uid") or ""))

    held = usages(services, gpuclasses, tenant)
    gpus = sum(u.gpus_per_replica * u.replicas for u in held)
    hourly = sum((u.price_per_replica * u.replicas for u in held), Decimal(0))
    conds = [
        plan.Cond(
            plan.READY,
            "True",
            "QuotasApplied",
            f"ResourceQuota and LimitRange in {len(tenant.spec.namespaces)} namespace(s)",
        )
    ]
    if conflict is not None:
        conds[0] = plan.Cond(plan.READY, "False", "ChildConflict", str(conflict))
    if tenant.spec.budget is not None:
        budget = Decimal(tenant.spec.budget.hourly)
        over = hourly > budget
        conds.append(
            plan.Cond(
                "BudgetExceeded",
                "True" if over else "False",
                "OverBudget" if over else "WithinBudget",
                f"{money(hourly)} of {money(budget)} {tenant.spec.budget.currency}/h",
            )
        )
    conditions = plan.merge_conditions(current.get("conditions") or [], conds, generation, now_iso())
    desired = {
        "observedGeneration": generation,
        "conditions": conditions,
        "usage": {"gpus": gpus, "hourly": money(hourly)},
    }
    return TenantResult(plan.status_patch(current, desired), applied)


def remove_stale(kube: Kube, tenant: str, namespaces: set[str], owner_uid: str) -> list[str]:
    """Delete this tenant's quota objects (controlled by ``owner_uid``, never another's that carries
    our label) and labels in namespaces it no longer lists."""
    removed: list[str] = []
    selector = f"{TENANT_LABEL}={tenant}"
    stale_namespaces: set[str] = set()
    for kind, name in (("ResourceQuota", QUOTA_NAME), ("LimitRange", LIMITRANGE_NAME)):
        for obj in kube.list(path("v1", kind), label_selector=selector):
            ns = obj["metadata"]["namespace"]
            if ns not in namespaces and obj["metadata"]["name"] == name and plan.is_owned_by(obj, owner_uid):
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
            path("inferop.dev/v1alpha1", "Tenant", None, body["metadata"]["name"], "status"), {"status": dict(patch)}
        )
