"""Build the ClusterIP Service in front of an InferenceService's pods. Pure.

A scale-to-zero service's Service has no selector (``render.zero``: the operator writes its endpoints)."""

from __future__ import annotations

from typing import Any

from inferop.api.inferenceservice import InferenceService
from inferop.render.labels import SERVICE_PORT, labels, selector
from inferop.runtimes.profile import RuntimeProfile


def build_service(isvc: InferenceService, profile: RuntimeProfile) -> dict[str, Any]:
    ports = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    if profile.metrics.port != "http":
        port = profile.extra_ports[profile.metrics.port]
        ports.append({"name": "metrics", "port": port, "targetPort": profile.metrics.port, "protocol": "TCP"})
    spec: dict[str, Any] = {"type": "ClusterIP", "selector": selector(isvc), "ports": ports}
    if isvc.spec.scale_to_zero is not None:
        # Selectorless: the operator writes its EndpointSlice (pods or activator, ``render.zero``).
        del spec["selector"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": isvc.name, "namespace": isvc.namespace, "labels": labels(isvc)},
        "spec": spec,
    }
