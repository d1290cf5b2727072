"""What the operator knows about the cluster between API calls: kopf's in-memory indexes.

kopf passes its indexes to handlers as keyword arguments (name -> ``kopf.Index``, a mapping of key ->
collection of values); this module reads them into the models the reconcile loops and the cost
controller use. No API calls, no kopf import (an Index is just a Mapping here).

Parsing is memoised, because every reconcile and every cost tick reads many services (a tenant's
headroom needs what each of its other services holds: O(services in the tenant) per reconcile):

- an InferenceService's spec model by ``(uid, generation)``: the API server bumps ``generation`` on
  every spec change, so the pair names one spec (metadata and status are read from the body, never
  from the cached model);
- GPUClass and Tenant models by the identity of the index value: kopf replaces a value only when the
  object changed, and the cache holds a reference, so an identity match is the same unchanged value;
- what a tenant's services hold (``Tenancy.others``) while the tenant, its services' index values and the
  GPUClass models are the very same objects.

The children of InferenceServices (Deployments, Services, HPAs labelled ``managed-by: inferop``) are
indexed by API path (with only our own managedFields entry), so a reconcile triggered by an event reads
them here instead of one GET each (``IndexReader``). kopf fills every index from a full listing before
it calls any handler and updates it from the same watch streams that trigger ``child_changed``; the
drift timer still reads the API.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from inferop.api import GPUClass, InvalidObject, parse_gpuclass, parse_isvc
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import InferenceService
from inferop.api.tenant import Tenant
from inferop.api.validation import parse_tenant, plain
from inferop.reconcile.kube import FIELD_MANAGER, path_of
from inferop.tenancy import claims
from inferop.tenancy.claims import Claimant
from inferop.tenancy.headroom import ServiceUsage, Tenancy
from inferop.tenancy.usage import usages

Indexes = Mapping[str, Any]


#: The namespace the operator runs in (``Settings.operator_namespace``, set at startup); no Tenant may take it.
OPERATOR_NAMESPACE: str | None = None


def operator_namespace() -> str | None:
    return OPERATOR_NAMESPACE


#: kopf index names (``inferop.handlers``) of our children by API path.
CHILD_INDEXES = ("child_deployments", "child_services", "child_hpas")

#: Metadata the ``services_by_namespace`` index keeps of each InferenceService (enough to address it,
#: parse it and write its status; not its annotations or managedFields).
SERVICE_METADATA = ("name", "namespace", "uid", "generation", "resourceVersion", "deletionTimestamp")

_SPEC_CACHE_SIZE = 20_000
_spec_cache: OrderedDict[tuple[str, int], InferenceService | InvalidObject] = OrderedDict()
_by_identity: dict[tuple[str, str], tuple[Any, Any]] = {}
#: Per tenant: the Tenant model, service bodies and GPUClass models the usages were computed from, and them.
_others_cache: dict[str, tuple[Any, list[Any], list[str], list[Any], tuple[ServiceUsage, ...]]] = {}
_cache_lock = threading.Lock()


def slim_child(body: Mapping[str, Any]) -> dict[str, Any]:
    """A child as kept in the index: the object as a GET returns it, with only our own server-side apply
    entry of managedFields (the drift check compares what we own, ``plan.drifted``; the other managers'
    entries would only cost memory)."""
    out = {k: plain(v) for k, v in body.items() if k != "metadata"}
    meta = body.get("metadata") or {}
    out["metadata"] = {k: plain(v) for k, v in meta.items() if k != "managedFields"}
    ours = [
        plain(entry)
        for entry in meta.get("managedFields") or []
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply" and not entry.get("subresource")
    ]
    if ours:
        out["metadata"]["managedFields"] = ours
    return out


#: What our own applies returned, by API path, until the index has caught up (at most this many seconds):
#: a reconcile right after an apply must not read the index's older copy and apply again.
RECENT_WRITE_SECONDS = 30.0
_recent: dict[str, tuple[float, dict[str, Any]]] = {}


def _version(obj: Mapping[str, Any]) -> int | None:
    try:
        return int(str((obj.get("metadata") or {}).get("resourceVersion")))
    except ValueError:
        return None


class IndexReader:
    """Reads children from the operator's watch-fed indexes (keyed by API path) instead of the API."""

    def __init__(self, stores: Collection[Mapping[str, Collection[dict[str, Any]]]]) -> None:
        self.stores = stores

    def _indexed(self, url: str) -> dict[str, Any] | None:
        for store in self.stores:
            for obj in store.get(url, ()):
                return obj
        return None

    def get(self, url: str) -> dict[str, Any] | None:
        indexed = self._indexed(url)
        with _cache_lock:
            entry = _recent.get(url)
        if entry is None:
            return indexed
        at, mine = entry
        ours, theirs = _version(mine), _version(indexed) if indexed is not None else None
        caught_up = ours is None or (theirs is not None and theirs >= ours)
        if caught_up or time.monotonic() - at > RECENT_WRITE_SECONDS:
            forget_write(url)
            return indexed
        return mine

    def applied(self, obj: dict[str, Any]) -> None:
        with _cache_lock:
            _recent[path_of(obj)] = (time.monotonic(), obj)

    def deleted(self, url: str) -> None:
        forget_write(url)


def forget_write(url: str) -> None:
    """Drop what we remember of our own write to ``url`` (the object was deleted, or the index caught up)."""
    with _cache_lock:
        _recent.pop(url, None)


def child_reader(indexes: Indexes) -> IndexReader | None:
    """The cached reader, or None when kopf passed no child indexes (callers then read the API)."""
    if not all(name in indexes for name in CHILD_INDEXES):
        return None
    return IndexReader([indexes[name] for name in CHILD_INDEXES])


def slim_service(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps in memory of an InferenceService (the ``services_by_namespace`` value)."""
    meta = body.get("metadata") or {}
    return {
        "metadata": {k: plain(meta[k]) for k in SERVICE_METADATA if k in meta},
        "spec": plain(body.get("spec") or {}),
        "status": plain(body.get("status") or {}),
    }


def service_model(body: Mapping[str, Any]) -> InferenceService:
    """``parse_isvc`` of the body's name, namespace and spec, memoised by (uid, generation).

    Raises InvalidObject like ``parse_isvc``. Only the spec, name and namespace of the result may be
    used (its metadata is trimmed). Bodies without uid or generation (tests, files) are not cached.
    """
    meta = body.get("metadata") or {}
    slim = {"metadata": {k: meta[k] for k in ("name", "namespace") if k in meta}, "spec": body.get("spec")}
    uid, generation = meta.get("uid"), meta.get("generation")
    if not uid or generation is None:
        return parse_isvc(slim)
    key = (str(uid), int(generation))
    with _cache_lock:
        hit = _spec_cache.get(key)
        if hit is not None:
            _spec_cache.move_to_end(key)
    if hit is None:
        try:
            hit = parse_isvc(slim)
        except InvalidObject as err:
            hit = err
        with _cache_lock:
            _spec_cache[key] = hit
            while len(_spec_cache) > _SPEC_CACHE_SIZE:
                _spec_cache.popitem(last=False)
    if isinstance(hit, InvalidObject):
        raise hit
    return hit


def _by_value(kind: str, name: str, value: Any, parse: Any) -> Any:
    """``parse(value)`` memoised while the index holds the very same value object for ``name``."""
    with _cache_lock:
        cached = _by_identity.get((kind, name))
    if cached is not None and cached[0] is value:
        result = cached[1]
    else:
        try:
            result = parse(value)
        except InvalidObject as err:
            result = err
        with _cache_lock:
            _by_identity[(kind, name)] = (value, result)
    if isinstance(result, InvalidObject):
        raise result
    return result


def _parse_gpuclass(name: str, spec: Any) -> GPUClass:
    return parse_gpuclass({"metadata": {"name": name}, "spec": plain(spec)})


def gpuclasses(indexes: Indexes) -> dict[str, GPUClass]:
    """GPUClass models from the ``gpuclass_specs`` index; an invalid class is left out."""
    index: Mapping[str, Collection[dict[str, Any]]] = indexes["gpuclass_specs"]
    out: dict[str, GPUClass] = {}
    for name, store in index.items():
        for spec in store:
            try:
                out[name] = _by_value("GPUClass", name, spec, lambda s, n=name: _parse_gpuclass(n, s))
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


def tenant_owner(namespace: str | None, indexes: Indexes) -> tuple[str, Any] | None:
    """The Tenant that owns ``namespace`` (its name and spec as indexed), by the one claim rule
    (``inferop.tenancy.claims.owner``) the Tenant loop uses too; None when no Tenant lists it."""
    index: Mapping[str, Collection[tuple[Any, ...]]] = indexes["tenants_by_namespace"]
    entries = list(index.get(namespace, [])) if namespace else []
    if not entries:
        return None
    holders: Mapping[str, Collection[str]] = indexes.get("namespace_tenants", {})
    holder = next(iter(holders.get(namespace or "", ())), None)
    specs = {entry[0]: entry[1] for entry in entries}
    name = claims.owner([Claimant(entry[0], entry[2] if len(entry) > 2 else "") for entry in entries], holder)
    return (name, specs[name]) if name is not None else None


def tenant_claims(namespaces: Collection[str], indexes: Indexes) -> dict[str, str | None]:
    """The owning Tenant of each namespace (None: no Tenant lists it)."""
    out: dict[str, str | None] = {}
    for ns in namespaces:
        found = tenant_owner(ns, indexes)
        out[ns] = found[0] if found else None
    return out


def tenancy(namespace: str | None, classes: Mapping[str, GPUClass], indexes: Indexes) -> Tenancy | None:
    found = tenant_owner(namespace, indexes)
    if found is None:
        return None
    name, spec = found
    try:
        tenant: Tenant = _by_value(
            "Tenant", name, spec, lambda s: parse_tenant({"metadata": {"name": name}, "spec": s})
        )
    except InvalidObject:
        return None
    if namespace is not None and claims.refused(namespace, operator_namespace(), tenant.spec.allow_system_namespaces):
        return None  # the Tenant may not take this namespace (it says so on its status)
    owned = [ns for ns, who in tenant_claims(tenant.spec.namespaces, indexes).items() if who == name]
    bodies = services_in(owned, indexes)
    class_names = sorted(classes)
    class_models = [classes[c] for c in class_names]
    with _cache_lock:
        cached = _others_cache.get(name)
    if (
        cached is not None
        and cached[0] is tenant
        and cached[2] == class_names
        and _same_objects(cached[1], bodies)
        and _same_objects(cached[3], class_models)
    ):
        others = cached[4]
    else:
        others = tuple(usages(bodies, classes, tenant.spec, parse=service_model))
        with _cache_lock:
            _others_cache[name] = (tenant, bodies, class_names, class_models, others)
    return Tenancy(name=name, spec=tenant.spec, others=others)


def _same_objects(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """The same objects in the same order (identity: kopf replaces an index value when it changes)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


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
