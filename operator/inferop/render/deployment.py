"""Build the Deployment that runs an InferenceService's model server. Pure: returns a manifest dict.

Owner references are added at the I/O edge (``inferop.reconcile``), not here.
"""

from __future__ import annotations

from typing import Any

from inferop.api.common import Toleration
from inferop.api.gpuclass import MSG_RESOURCE_NAME, GPUClass, is_extended_resource_name
from inferop.api.inferenceservice import InferenceService
from inferop.render.errors import RenderError
from inferop.render.labels import labels, selector
from inferop.render.model import place_model
from inferop.runtimes.profile import Probe, RuntimeProfile, UnsupportedByRuntime

CONTAINER = "server"


def container_security(profile: RuntimeProfile) -> dict[str, Any]:
    """A container security context that passes Pod Security "restricted"."""
    ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if profile.run_as_user is not None:
        ctx["runAsUser"] = profile.run_as_user
        ctx["runAsGroup"] = profile.run_as_user
    return ctx


def pod_security(profile: RuntimeProfile) -> dict[str, Any]:
    ctx: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if profile.run_as_user is not None:
        ctx["fsGroup"] = profile.run_as_user
    return ctx


def _probe(probe: Probe) -> dict[str, Any]:
    return {
        "httpGet": {"path": probe.path, "port": probe.port},
        "periodSeconds": probe.period_seconds,
        "failureThreshold": probe.failure_threshold,
        "timeoutSeconds": probe.timeout_seconds,
        **({"initialDelaySeconds": probe.initial_delay_seconds} if probe.initial_delay_seconds else {}),
    }


def merge_node_selector(isvc: InferenceService, gpuclass: GPUClass | None) -> dict[str, str]:
    merged = dict(gpuclass.spec.node_selector) if gpuclass else {}
    for key, value in isvc.spec.scheduling.node_selector.items():
        if key in merged and merged[key] != value:
            raise RenderError(
                f"spec.scheduling.nodeSelector[{key}]",
                f'"{value}" conflicts with GPUClass {gpuclass.name if gpuclass else ""} which requires "{merged[key]}"',
            )
        merged[key] = value
    return merged


def merge_tolerations(isvc: InferenceService, gpuclass: GPUClass | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    sources: list[Toleration] = [*(gpuclass.spec.tolerations if gpuclass else []), *isvc.spec.scheduling.tolerations]
    for toleration in sources:
        dumped = toleration.dump()
        if dumped not in out:
            out.append(dumped)
    return out


def _resources(isvc: InferenceService, gpuclass: GPUClass | None) -> dict[str, Any]:
    spec = isvc.spec.resources
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if spec.cpu is not None:
        requests["cpu"] = str(spec.cpu)
    if spec.memory is not None:
        requests["memory"] = str(spec.memory)
        limits["memory"] = str(spec.memory)
    if spec.gpu is not None and gpuclass is not None:
        if not is_extended_resource_name(gpuclass.spec.resource_name):
            # Admission refuses such a class; one stored before that rule must still never put a GPU
            # count under cpu, memory or another native resource.
            raise RenderError(
                "spec.resources.gpu.class",
                f'GPUClass "{gpuclass.name}" is invalid: {MSG_RESOURCE_NAME} (it is "{gpuclass.spec.resource_name}")',
                reason="InvalidGPUClass",
            )
        # Extended resources cannot be overcommitted: requests must equal limits.
        requests[gpuclass.spec.resource_name] = str(spec.gpu.count)
        limits[gpuclass.spec.resource_name] = str(spec.gpu.count)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _ports(profile: RuntimeProfile, port: int) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    ports += [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in profile.extra_ports.items()]
    return ports


def build_deployment(
    isvc: InferenceService, profile: RuntimeProfile, gpuclass: GPUClass | None, replicas: int | None = None
) -> dict[str, Any]:
    """The Deployment; ``replicas`` (the clamped count) overrides ``spec.replicas`` for fixed-size services."""
    spec = isvc.spec
    port = spec.runtime.port or profile.port
    if profile.port_args is None and port != profile.port:
        raise RenderError(
            "spec.runtime.port",
            f"runtime {profile.name} always listens on {profile.port}; remove the field or use runtime custom",
        )
    port_args = profile.port_args(port) if profile.port_args is not None else ()
    security = container_security(profile)
    placement = place_model(spec.model.uri, profile, security)
    model_args = profile.model_args(placement.ref, placement.is_repo, isvc.name)
    try:
        quant_args = profile.quantization(spec.model.quantization)
    except UnsupportedByRuntime as err:
        raise RenderError(err.field_path, str(err).split(": ", 1)[1]) from None

    env = {**profile.env, **dict(model_args.env)}
    env.update({e.name: e.value for e in spec.runtime.env})
    volumes = [*placement.volumes, {"name": "cache", "emptyDir": {}}]
    mounts = [*placement.mounts, {"name": "cache", "mountPath": "/cache"}]
    if spec.resources.gpu is not None:
        # NCCL and the runtimes' worker processes share tensors through /dev/shm.
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})

    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.runtime.image or profile.image,
        "args": [*model_args.args, *port_args, *quant_args, *spec.runtime.args],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": _ports(profile, port),
        "resources": _resources(isvc, gpuclass),
        "securityContext": security,
        "volumeMounts": mounts,
    }
    if profile.command:
        container["command"] = list(profile.command)
    for key, probe in (
        ("startupProbe", profile.startup),
        ("readinessProbe", profile.readiness),
        ("livenessProbe", profile.liveness),
    ):
        if probe is not None:
            container[key] = _probe(probe)

    pod_spec: dict[str, Any] = {
        "containers": [container],
        "securityContext": pod_security(profile),
        "volumes": volumes,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if placement.init_containers:
        pod_spec["initContainers"] = placement.init_containers
    node_selector = merge_node_selector(isvc, gpuclass)
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    tolerations = merge_tolerations(isvc, gpuclass)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if spec.scheduling.affinity:
        pod_spec["affinity"] = spec.scheduling.affinity
    if spec.scheduling.priority_class_name:
        pod_spec["priorityClassName"] = spec.scheduling.priority_class_name

    metrics = profile.metrics
    metrics_port = port if metrics.port == "http" else profile.extra_ports[metrics.port]
    template_meta = {
        "labels": labels(isvc),
        "annotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(metrics_port),
            "prometheus.io/path": metrics.path,
        },
    }
    deploy_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(isvc)},
        "template": {"metadata": template_meta, "spec": pod_spec},
    }
    if spec.fixed_replicas is not None:
        deploy_spec["replicas"] = spec.fixed_replicas if replicas is None else replicas
    rollout = spec.rollout.dump()
    if rollout:
        deploy_spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": rollout}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": isvc.name, "namespace": isvc.namespace, "labels": labels(isvc)},
        "spec": deploy_spec,
    }
