"""Which service a request is for, and which ready backend serves it. Pure.

A request reaches the activator through the InferenceService's own Service (whose EndpointSlice the
operator points at the activator while the service is at zero), so its Host header is whatever name
the client dialled: ``<name>.<namespace>.svc.<cluster-domain>``, ``<name>.<namespace>.svc``,
``<name>.<namespace>``, each with an optional ``:port``; or a bare ``<name>`` from inside the same
namespace, which names a service only when exactly one known service has that name. The
``X-Inferop-Service: <namespace>/<name>`` header wins over the Host header (gateways, IP callers).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, order=True)
class ServiceKey:
    """An InferenceService (and its Service, which has the same name)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class Backend:
    """One ready pod's HTTP endpoint."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class RoutingError(Exception):
    """The request names no service the activator can serve; the message says why (HTTP 421)."""


def _strip_port(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):  # an IPv6 literal, [::1]:80
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def service_for(
    host: str | None,
    header: str | None,
    known: Collection[ServiceKey],
    cluster_domain: str = "cluster.local",
) -> ServiceKey:
    """The service a request is for, from its ``X-Inferop-Service`` header or its Host header.

    ``known`` is the set of services the activator serves (only used to resolve a bare name)."""
    if header:
        namespace, sep, name = header.strip().partition("/")
        if not sep or not _LABEL.match(namespace) or not _LABEL.match(name):
            raise RoutingError(f"header X-Inferop-Service: {header!r} is not <namespace>/<name>")
        return ServiceKey(namespace, name)
    if not host:
        raise RoutingError("request has no Host header (and no X-Inferop-Service header)")
    bare = _strip_port(host)
    parts = bare.split(".")
    suffixes: tuple[list[str], ...] = ([], ["svc"], ["svc", *cluster_domain.lower().strip(".").split(".")])
    for suffix in suffixes:
        if len(parts) == 2 + len(suffix) and parts[2:] == suffix:
            name, namespace = parts[0], parts[1]
            if _LABEL.match(name) and _LABEL.match(namespace):
                return ServiceKey(namespace, name)
    if len(parts) == 1 and _LABEL.match(bare):
        matches = sorted(k for k in known if k.name == bare)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise RoutingError(
                f"Host {host!r} is ambiguous: services {', '.join(map(str, matches))} share the name;"
                " use <name>.<namespace> or the X-Inferop-Service header"
            )
    raise RoutingError(
        f"Host {host!r} names no InferenceService (expected <name>.<namespace>[.svc[.{cluster_domain}]]"
        " or the X-Inferop-Service: <namespace>/<name> header)"
    )


class Picker:
    """Chooses a backend: the one with the fewest requests in flight from this activator, ties broken
    round-robin so that equal backends share the load."""

    def __init__(self) -> None:
        self._inflight: dict[Backend, int] = {}
        self._turn = 0

    def pick(self, backends: Iterable[Backend]) -> Backend | None:
        candidates = sorted(backends)
        if not candidates:
            return None
        least = min(self._inflight.get(b, 0) for b in candidates)
        tied = [b for b in candidates if self._inflight.get(b, 0) == least]
        self._turn += 1
        return tied[self._turn % len(tied)]

    def started(self, backend: Backend) -> None:
        self._inflight[backend] = self._inflight.get(backend, 0) + 1

    def finished(self, backend: Backend) -> None:
        left = self._inflight.get(backend, 0) - 1
        if left > 0:
            self._inflight[backend] = left
        else:
            self._inflight.pop(backend, None)

    def inflight(self, backend: Backend) -> int:
        return self._inflight.get(backend, 0)
