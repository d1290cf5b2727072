"""The data path of a scale-to-zero InferenceService (Knative's design). Pure.

For a service with ``spec.autoscaling.scaleToZero`` (docs/activator.md, "The operator-side contract"):

- its Service ``<name>`` keeps its name and DNS but has no selector (``render.service``), so that the
  EndpointSlice controller never writes its endpoints;
- a headless Service ``<name>-pods`` selects the pods; the EndpointSlice controller keeps its slices,
  which tell the operator (and the activator) which pods are ready;
- the operator writes the Service's one EndpointSlice ``<name>-inferop``: the ready pods' endpoints
  while pods serve, the activator's while the service is at zero or has no ready pod.

Services without ``scaleToZero`` get none of this (their Service keeps its selector).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from inferop.api.activation import (
    BACKEND_PORT_NAME,
    ENDPOINTSLICE_MANAGER,
    PODS_SERVICE_SUFFIX,
    PROXY_PORT,
    PROXY_PORT_NAME,
    SERVICE_NAME_LABEL,
    serving_addresses,
)
from inferop.api.inferenceservice import InferenceService
from inferop.render.labels import labels, selector
from inferop.runtimes.profile import RuntimeProfile

#: The suffix of the EndpointSlice the operator writes for a service's selectorless Service.
SLICE_SUFFIX = "-inferop"
#: ``endpointslice.kubernetes.io/managed-by``: who manages a slice (the controller never touches ours).
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
#: Where the service's endpoints point: its ready pods, or the activator.
TO_PODS = "Pods"
TO_ACTIVATOR = "Activator"


@dataclass(frozen=True, order=True)
class Endpoint:
    """One ready address and its ports by name (the EndpointSlice's port numbers are the targets)."""

    address: str
    ports: tuple[tuple[str, int], ...]


def pods_service_name(name: str) -> str:
    return f"{name}{PODS_SERVICE_SUFFIX}"


def slice_name(name: str) -> str:
    return f"{name}{SLICE_SUFFIX}"


def service_ports(profile: RuntimeProfile) -> list[tuple[str, str]]:
    """(port name, the pods' container port name) of the InferenceService's Service."""
    ports = [(BACKEND_PORT_NAME, "http")]
    if profile.metrics.port != "http":
        ports.append(("metrics", profile.metrics.port))
    return ports


def build_pods_service(isvc: InferenceService, profile: RuntimeProfile) -> dict[str, Any]:
    """The headless, selector-based Service on the pods (its slices list the ready pods)."""
    ports = [
        {"name": name, "port": _container_port(profile, target), "targetPort": target, "protocol": "TCP"}
        for name, target in service_ports(profile)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": pods_service_name(isvc.name), "namespace": isvc.namespace, "labels": labels(isvc)},
        "spec": {"clusterIP": "None", "selector": selector(isvc), "ports": ports},
    }


def _container_port(profile: RuntimeProfile, name: str) -> int:
    return profile.port if name == "http" else int(profile.extra_ports[name])


def build_endpointslice(
    isvc: InferenceService, profile: RuntimeProfile, target: str, endpoints: Iterable[Endpoint]
) -> dict[str, Any]:
    """The Service's EndpointSlice: ``endpoints`` (sorted, so that the same set is the same object)
    with the Service's port names. For the activator (``target == TO_ACTIVATOR``) one port, ``http``
    at the activator's proxy port."""
    listed = sorted(set(endpoints))
    if target == TO_ACTIVATOR:
        port_numbers = {BACKEND_PORT_NAME: _first_port(listed, PROXY_PORT_NAME, PROXY_PORT)}
    else:
        port_numbers = {
            name: _first_port(listed, name, _container_port(profile, container))
            for name, container in service_ports(profile)
        }
    meta_labels = {
        **labels(isvc),
        SERVICE_NAME_LABEL: isvc.name,
        MANAGED_BY_LABEL: ENDPOINTSLICE_MANAGER,
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(isvc.name),
            "namespace": isvc.namespace,
            "labels": meta_labels,
            "annotations": {"inferop.dev/endpoints-of": target},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [e.address], "conditions": {"ready": True, "serving": True, "terminating": False}}
            for e in listed
        ],
        "ports": [{"name": name, "port": port, "protocol": "TCP"} for name, port in port_numbers.items()],
    }


def _first_port(endpoints: list[Endpoint], name: str, default: int) -> int:
    for endpoint in endpoints:
        for port_name, number in endpoint.ports:
            if port_name == name:
                return number
    return default


def ready_endpoints(slices: Iterable[Mapping[str, Any]]) -> list[Endpoint]:
    """The ready, non-terminating IPv4 endpoints of EndpointSlices, with each slice's named ports.
    ``conditions.ready`` unset counts as ready (the API's "unknown means ready")."""
    out: set[Endpoint] = set()
    for eps in slices:
        if eps.get("addressType") != "IPv4":
            continue
        ports = tuple(
            sorted(
                (str(p.get("name") or ""), int(p["port"]))
                for p in eps.get("ports") or []
                if isinstance(p, Mapping) and isinstance(p.get("port"), int)
            )
        )
        out.update(Endpoint(address, ports) for address in serving_addresses(eps))
    return sorted(out)


def choose_target(at_zero: bool, pods: list[Endpoint]) -> str:
    """Level-based: the pods while the service is not at zero and has a ready pod; else the activator."""
    return TO_PODS if pods and not at_zero else TO_ACTIVATOR
