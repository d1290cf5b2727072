"""Build the autoscaling/v2 HorizontalPodAutoscaler for an autoscaled InferenceService. Pure.

The HPA is the actuator; inferop's cost controller is the brain: it moves ``minReplicas`` (the SLO
floor) and ``maxReplicas`` (the quota and budget ceiling). The HPA's own metrics are the per-pod
targets the user asked for, read through a custom-metrics adapter (e.g. prometheus-adapter):
``targets.queueDepthPerReplica`` on the runtime's queue gauge and ``targets.gpuUtilizationPercent``
on dcgm-exporter's ``DCGM_FI_DEV_GPU_UTIL``. With no targets the HPA gets Kubernetes' default (80% CPU).
"""

from __future__ import annotations

from typing import Any

from inferop.api.inferenceservice import InferenceService
from inferop.render.errors import RenderError
from inferop.render.labels import labels
from inferop.runtimes import dcgm
from inferop.runtimes.profile import RuntimeProfile


def _pods_metric(name: str, average: int) -> dict[str, Any]:
    return {
        "type": "Pods",
        "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": str(average)}},
    }


def build_hpa(
    isvc: InferenceService, profile: RuntimeProfile, min_replicas: int | None = None, max_replicas: int | None = None
) -> dict[str, Any] | None:
    """The HPA, or None for a fixed-size service; the bounds default to the spec's."""
    autoscaling = isvc.spec.autoscaling
    if autoscaling is None:
        return None
    metrics: list[dict[str, Any]] = []
    targets = autoscaling.targets
    if targets is not None and targets.queue_depth_per_replica is not None:
        if profile.metrics.queue_depth is None:
            raise RenderError(
                "spec.autoscaling.targets.queueDepthPerReplica",
                f"runtime {profile.name} exposes no queue-depth series; remove this target",
            )
        metrics.append(_pods_metric(profile.metrics.queue_depth, targets.queue_depth_per_replica))
    if targets is not None and targets.gpu_utilization_percent is not None:
        if isvc.spec.resources.gpu is None:
            raise RenderError(
                "spec.autoscaling.targets.gpuUtilizationPercent",
                "this service requests no GPU (spec.resources.gpu); remove the target or add a GPU",
            )
        metrics.append(_pods_metric(dcgm.GPU_UTIL, targets.gpu_utilization_percent))
    hpa_spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": isvc.name},
        "minReplicas": autoscaling.floor if min_replicas is None else max(1, min_replicas),
        "maxReplicas": autoscaling.max_replicas if max_replicas is None else max_replicas,
    }
    if metrics:
        hpa_spec["metrics"] = metrics
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": isvc.name, "namespace": isvc.namespace, "labels": labels(isvc)},
        "spec": hpa_spec,
    }
