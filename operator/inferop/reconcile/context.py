"""What the operator knows about the cluster between API calls: kopf's in-memory indexes.

kopf passes its indexes to handlers as keyword arguments (name -> ``kopf.Index``, a mapping of key ->
collection of values); this module reads them into the models the reconcile loops and the cost
controller use. No API calls, no kopf import (an Index is just a Mapping here).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from inferop.api import GPUClass, InvalidObject, parse_gpuclass
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.validation import parse_tenant, plain
from inferop.reconcile.isvc import Tenancy
from inferop.tenancy.reconcile import usages

Indexes = Mapping[str, Any]


def gpuclasses(indexes: Indexes) -> dict[str, GPUClass]:
    """GPUClass models from the ``gpuclass_specs`` index; an invalid class is left out."""
    index: Mapping[str, Collection[dict[str, Any]]] = indexes["gpuclass_specs"]
    out: dict[str, GPUClass] = {}
    for name, store in index.items():
        for spec in store:
            try:
                out[name] = parse_gpuclass({"metadata": {"name": name}, "spec": plain(spec)})
            except InvalidObject:
                pass
    return out


def services_in(namespaces: Collection[str], indexes: Indexes) -> list[dict[str, Any]]:
    """InferenceService bodies (metadata, spec, status) in these namespaces."""
    index: Mapping[str, Collection[dict[str, Any]]] = indexes["services_by_namespace"]
    return [svc for ns in namespaces for svc in index.get(ns, [])]


def all_services(indexes: Indexes) -> list[dict[str, Any]]:
    index: Mapping[str, Collection[dict[str, Any]]] = indexes["services_by_namespace"]
    return [svc for store in index.values() for svc in store]


def tenancy(namespace: str | None, classes: Mapping[str, GPUClass], indexes: Indexes) -> Tenancy | None:
    index: Mapping[str, Collection[tuple[str, dict[str, Any]]]] = indexes["tenants_by_namespace"]
    entries = list(index.get(namespace, [])) if namespace else []
    if not entries:
        return None
    name, spec = sorted(entries)[0]  # a namespace listed by two Tenants: the first by name wins
    try:
        tenant = parse_tenant({"metadata": {"name": name}, "spec": spec})
    except InvalidObject:
        return None
    others = usages(services_in(list(tenant.spec.namespaces), indexes), classes, tenant)
    return Tenancy(name=name, spec=tenant.spec, others=tuple(others))


def cost_policies(indexes: Indexes) -> dict[str, CostPolicySpec]:
    """CostPolicy specs by name; an invalid policy is left out (services using it fall back to defaults)."""
    index: Mapping[str, Collection[dict[str, Any]]] = indexes.get("cost_policies", {})
    out: dict[str, CostPolicySpec] = {}
    for name, store in index.items():
        for spec in store:
            try:
                out[name] = CostPolicySpec.model_validate(plain(spec))
            except ValueError:
                pass
    return out
