"""What the activator knows about services: which exist, their hold limits, their ready backends. No I/O.

The proxy reads a ``Directory`` and is called back when a service's backends or limits change. Who
fills it is behind this small interface: ``inferop.activator.kube`` watches InferenceServices and the
EndpointSlices of their ``<name>-pods`` Services; tests and the bench call ``set_service`` and
``set_backends`` directly with real local servers as backends.

The parsing helpers turn API objects into directory entries (pure, unit-tested on plain dicts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, KeysView, Mapping
from typing import Any

from inferop.activator.contract import (
    BACKEND_PORT_NAME,
    DEFAULT_HOLD_TIMEOUT_SECONDS,
    DEFAULT_MAX_HELD_REQUESTS,
    PODS_SERVICE_SUFFIX,
    SERVICE_NAME_LABEL,
    serving_addresses,
)
from inferop.activator.hold import Limits
from inferop.activator.routing import Backend, ServiceKey

log = logging.getLogger(__name__)

Listener = Callable[[ServiceKey], None]


class Directory:
    """Services, their limits and their ready backends (per EndpointSlice, merged)."""

    def __init__(self, default_limits: Limits | None = None) -> None:
        self.default_limits = default_limits or Limits(DEFAULT_MAX_HELD_REQUESTS, DEFAULT_HOLD_TIMEOUT_SECONDS)
        self._limits: dict[ServiceKey, Limits] = {}
        self._slices: dict[ServiceKey, dict[str, tuple[Backend, ...]]] = {}
        self._listeners: list[Listener] = []
        self._synced: set[str] = set()
        self._needed: set[str] = set()

    # --- readers (the proxy) --------------------------------------------------------------------

    def services(self) -> set[ServiceKey]:
        return set(self._limits)

    def service_keys(self) -> KeysView[ServiceKey]:
        """The known services, without a copy (the proxy's per-request lookup)."""
        return self._limits.keys()

    def known(self, key: ServiceKey) -> bool:
        return key in self._limits

    def limits(self, key: ServiceKey) -> Limits:
        return self._limits.get(key, self.default_limits)

    def backends(self, key: ServiceKey) -> tuple[Backend, ...]:
        merged: set[Backend] = set()
        for backends in self._slices.get(key, {}).values():
            merged.update(backends)
        return tuple(sorted(merged))

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def synced(self) -> bool:
        """Every source has delivered its first full list (until then the activator is not ready)."""
        return self._needed <= self._synced

    # --- writers (discovery sources, tests) -----------------------------------------------------

    def expect(self, source: str) -> None:
        """A source that must list once before the directory is ``synced``."""
        self._needed.add(source)

    def mark_synced(self, source: str) -> None:
        self._synced.add(source)

    def set_service(self, key: ServiceKey, limits: Limits | None = None) -> None:
        limits = limits or self.default_limits
        if self._limits.get(key) != limits:
            self._limits[key] = limits
            self._notify(key)

    def remove_service(self, key: ServiceKey) -> None:
        if self._limits.pop(key, None) is not None:
            self._notify(key)

    def set_backends(self, key: ServiceKey, backends: Iterable[Backend], source: str = "static") -> None:
        """The ready backends one source (an EndpointSlice name, or "static") knows for ``key``."""
        new = tuple(sorted(set(backends)))
        slices = self._slices.setdefault(key, {})
        before = self.backends(key)
        if new:
            slices[source] = new
        else:
            slices.pop(source, None)
            if not slices:
                self._slices.pop(key, None)
        if self.backends(key) != before:
            self._notify(key)

    def replace_services(self, services: Mapping[ServiceKey, Limits], namespace: str | None = None) -> None:
        """A full list of services (after a watch relist) of ``namespace`` (None: all): add, change and
        remove to match."""
        for key in set(self._limits) - set(services):
            if namespace is None or key.namespace == namespace:
                self.remove_service(key)
        for key, limits in services.items():
            self.set_service(key, limits)

    def replace_slices(
        self, slices: Mapping[str, tuple[ServiceKey, tuple[Backend, ...]]], namespace: str | None = None
    ) -> None:
        """A full list of EndpointSlices of ``namespace`` (None: all): source name -> service and its
        ready backends. Each service whose merged backends changed is notified once."""
        keys = {k for k in self._slices if namespace is None or k.namespace == namespace}
        keys |= {key for key, _ in slices.values()}
        before = {k: self.backends(k) for k in keys}
        for key in list(self._slices):
            if namespace is None or key.namespace == namespace:
                del self._slices[key]
        for source, (key, backends) in slices.items():
            if backends:
                self._slices.setdefault(key, {})[source] = tuple(sorted(set(backends)))
        for key in sorted(keys):
            if self.backends(key) != before[key]:
                self._notify(key)

    def _notify(self, key: ServiceKey) -> None:
        for listener in self._listeners:
            try:
                listener(key)
            except Exception:  # a listener bug must not stop discovery
                log.exception("Directory listener failed for %s", key)


# --- API objects -> entries (pure) ----------------------------------------------------------------


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def limits_of(isvc: Mapping[str, Any], default: Limits) -> Limits:
    """``spec.autoscaling.scaleToZero.{maxHeldRequests, holdTimeoutSeconds}`` of an InferenceService,
    each falling back to ``default`` when unset or not a positive integer (the CRD rejects those)."""
    spec = isvc.get("spec") or {}
    autoscaling = spec.get("autoscaling") if isinstance(spec, Mapping) else None
    s2z = autoscaling.get("scaleToZero") if isinstance(autoscaling, Mapping) else None
    if not isinstance(s2z, Mapping):
        return default
    held = _positive_int(s2z.get("maxHeldRequests"))
    timeout = _positive_int(s2z.get("holdTimeoutSeconds"))
    return Limits(held or default.max_held, float(timeout) if timeout else default.hold_timeout)


def key_of(obj: Mapping[str, Any]) -> ServiceKey | None:
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name")
    if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
        return ServiceKey(namespace, name)
    return None


def slice_entry(eps: Mapping[str, Any]) -> tuple[str, ServiceKey, tuple[Backend, ...]] | None:
    """(source name, service, ready backends) of an EndpointSlice of a ``<name>-pods`` Service, or None
    when the slice belongs to another Service. A backend is an endpoint whose ``conditions.ready`` is
    true or unset (the API's "unknown means ready") and that is not terminating, at the slice's port
    named ``http`` (or its only port)."""
    meta = eps.get("metadata") or {}
    namespace, slice_name = meta.get("namespace"), meta.get("name")
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not (isinstance(namespace, str) and isinstance(slice_name, str) and isinstance(service, str)):
        return None
    if not service.endswith(PODS_SERVICE_SUFFIX) or len(service) <= len(PODS_SERVICE_SUFFIX):
        return None
    key = ServiceKey(namespace, service[: -len(PODS_SERVICE_SUFFIX)])
    source = f"{namespace}/{slice_name}"
    if eps.get("addressType") not in ("IPv4", "IPv6"):
        return source, key, ()
    ports = [p for p in eps.get("ports") or [] if isinstance(p, Mapping) and isinstance(p.get("port"), int)]
    named = [p for p in ports if p.get("name") == BACKEND_PORT_NAME]
    port = named[0] if named else (ports[0] if len(ports) == 1 else None)
    if port is None:
        return source, key, ()
    return source, key, tuple(Backend(address, int(port["port"])) for address in serving_addresses(eps))
