"""Pure builders: InferenceService + GPUClass + runtime profile -> Kubernetes manifests.

Nothing here talks to the API; ``render_all`` is what ``inferop render`` prints and what the
reconcile loop applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inferop.api.gpuclass import GPUClass
from inferop.api.inferenceservice import InferenceService
from inferop.render.deployment import build_deployment
from inferop.render.errors import GPUClassNotFound, RenderError
from inferop.render.hpa import build_hpa
from inferop.render.service import build_service
from inferop.render.zero import build_pods_service
from inferop.runtimes import UnsupportedByRuntime, get_profile

__all__ = ["GPUClassNotFound", "RenderError", "Scale", "render_all", "resolve_gpuclass"]


def resolve_gpuclass(isvc: InferenceService, gpuclasses: Mapping[str, GPUClass]) -> GPUClass | None:
    gpu = isvc.spec.resources.gpu
    if gpu is None:
        return None
    if gpu.class_ not in gpuclasses:
        raise GPUClassNotFound(gpu.class_, list(gpuclasses))
    return gpuclasses[gpu.class_]


def check_runtime_support(isvc: InferenceService) -> None:
    """Reject SLO settings the runtime cannot measure, naming the field."""
    profile = get_profile(isvc.spec.runtime.name)
    autoscaling = isvc.spec.autoscaling
    overridden = (
        autoscaling is not None and autoscaling.queries is not None and autoscaling.queries.latency_milliseconds
    )
    if autoscaling is not None and autoscaling.slo is not None and not overridden:
        try:
            profile.latency_series(autoscaling.slo.latency.metric)
        except UnsupportedByRuntime as err:
            raise RenderError(err.field_path, str(err).split(": ", 1)[1]) from None


@dataclass(frozen=True)
class Scale:
    """Replica counts decided outside the spec (the tenant clamp, the cost controller).

    ``replicas`` replaces ``spec.replicas`` on the Deployment of a fixed-size service; ``min_replicas``
    and ``max_replicas`` replace the HPA's bounds of an autoscaled one.
    """

    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None


def render_all(
    isvc: InferenceService, gpuclasses: Mapping[str, GPUClass], scale: Scale | None = None
) -> list[dict[str, Any]]:
    """The Deployment, Service, (with scaleToZero) the pods Service ``<name>-pods`` and (when
    autoscaled) HPA for ``isvc``, in apply order. The EndpointSlice of a scale-to-zero service depends
    on live state (which pods are ready, the activator) and is ``reconcile.zero``'s."""
    scale = scale or Scale()
    gpuclass = resolve_gpuclass(isvc, gpuclasses)
    check_runtime_support(isvc)
    profile = get_profile(isvc.spec.runtime.name)
    objects = [build_deployment(isvc, profile, gpuclass, scale.replicas), build_service(isvc, profile)]
    if isvc.spec.scale_to_zero is not None:
        objects.append(build_pods_service(isvc, profile))
    hpa = build_hpa(isvc, profile, scale.min_replicas, scale.max_replicas)
    if hpa is not None:
        objects.append(hpa)
    return objects
