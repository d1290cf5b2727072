"""Property tests: any valid InferenceService renders to objects Kubernetes 1.36 (the pinned control plane)
accepts.

Hypothesis generates valid specs — every runtime (custom with an image), optional GPUs of several GPUClasses
(including MIG and non-NVIDIA resource names), fixed replicas or autoscaling with min <= max, SLO metrics and
targets the runtime can serve, quantization the runtime supports, scheduling, rollout, env and args — and
checks what must hold for all of them: every rendered object validates against the official Kubernetes 1.36
(the pinned control plane) schemas (strict: no unknown fields), the Deployment never sets ``replicas`` when
autoscaling is set (and always does otherwise), GPU limits equal requests equal the count, the selectors
agree, and every container runs with the restricted security context.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferop.api import GPUClass, InferenceService, parse_gpuclass, parse_isvc
from inferop.api.inferenceservice import RUNTIMES
from inferop.render import render_all
from inferop.runtimes import get_profile

GPUCLASSES: dict[str, GPUClass] = {
    c.name: c
    for c in (
        parse_gpuclass({"metadata": {"name": "h100"}, "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "price": {"perGPUHour": "4.10"}}}),
        parse_gpuclass({"metadata": {"name": "l4"}, "spec": {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}}),
        parse_gpuclass({"metadata": {"name": "a100-mig"}, "spec": {
            "resourceName": "nvidia.com/mig-1g.10gb",
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"},
                            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute",
                             "tolerationSeconds": 300}]}}),
        parse_gpuclass({"metadata": {"name": "mi300"}, "spec": {"resourceName": "amd.com/gpu"}}),
    )
}

dns_label = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
path_part = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True).filter(lambda s: s not in (".", ".."))
cpu = st.one_of(st.integers(1, 64), st.sampled_from(["500m", "250m", "2", "1.5", "16"]))
memory = st.one_of(st.integers(2**20, 2**36), st.sampled_from(["512Mi", "16Gi", "64Gi", "1G", "2Ti"]))
int_or_percent = st.one_of(st.integers(0, 5), st.integers(0, 100).map(lambda n: f"{n}%"))
env_name = st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True)
toleration = st.fixed_dictionaries({"key": st.sampled_from(["pool", "example.com/spot", "team"])}, optional={
    "operator": st.sampled_from(["Exists", "Equal"]),
    "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
}).map(lambda t: t if t.get("operator") == "Exists" else {**t, "value": "yes"})
affinity = st.just({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]}]}]}}})


@st.composite
def model_uri(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["hf", "s3", "gs", "pvc", "oci", "http", "https"]))
    parts = draw(st.lists(path_part, min_size=1, max_size=3))
    if scheme == "oci":
        return f"oci://registry.example/{'/'.join(p.lower().strip('.-_') or 'm' for p in parts)}:1"
    if scheme in ("http", "https"):
        return f"{scheme}://models.example/{'/'.join(parts)}"
    if scheme == "pvc":
        return f"pvc://{draw(dns_label)}/{'/'.join(parts)}"
    return f"{scheme}://{draw(dns_label)}/{'/'.join(parts)}"


@st.composite
def isvc_specs(draw: st.DrawFn) -> dict[str, Any]:
    runtime_name = draw(st.sampled_from(RUNTIMES))
    profile = get_profile(runtime_name)
    runtime: dict[str, Any] = {"name": runtime_name}
    if runtime_name == "custom" or draw(st.booleans()):
        runtime["image"] = draw(st.sampled_from(["registry.example/srv:1", "ghcr.io/org/server@sha256:" + "a" * 64]))
    if draw(st.booleans()):
        runtime["args"] = draw(st.lists(st.text(min_size=1, max_size=12), max_size=3))
    if draw(st.booleans()):
        names = draw(st.lists(env_name, max_size=3, unique=True))
        runtime["env"] = [{"name": n, "value": draw(st.text(max_size=10))} for n in names]
    if runtime_name == "custom" and draw(st.booleans()):
        runtime["port"] = draw(st.integers(1024, 65535))

    model: dict[str, Any] = {"uri": draw(model_uri())}
    quantizations = sorted(profile.quantization_args)
    if quantizations and draw(st.booleans()):
        model["quantization"] = draw(st.sampled_from(quantizations))
    if draw(st.booleans()):
        model["format"] = draw(st.sampled_from(["safetensors", "onnx", "gguf"]))

    resources: dict[str, Any] = {}
    if draw(st.booleans()):
        resources["cpu"] = draw(cpu)
    if draw(st.booleans()):
        resources["memory"] = draw(memory)
    if draw(st.booleans()):
        resources["gpu"] = {"class": draw(st.sampled_from(sorted(GPUCLASSES))), "count": draw(st.integers(1, 8))}

    spec: dict[str, Any] = {"model": model, "runtime": runtime, "resources": resources}
    sizing = draw(st.sampled_from(["default", "fixed", "autoscaling"]))
    if sizing == "fixed":
        spec["replicas"] = draw(st.integers(0, 20))
    elif sizing == "autoscaling":
        low = draw(st.integers(1, 10))
        auto: dict[str, Any] = {"minReplicas": low, "maxReplicas": draw(st.integers(low, 50))}
        metrics = sorted(profile.metrics.latency) + (["e2e"] if profile.metrics.mean_latency else [])
        if metrics and draw(st.booleans()):
            auto["slo"] = {"latency": {"metric": draw(st.sampled_from(metrics)),
                                       "percentile": draw(st.sampled_from([50, 90, 95, 99])),
                                       "targetMilliseconds": draw(st.integers(1, 60_000))}}
        targets: dict[str, Any] = {}
        if profile.metrics.queue_depth and draw(st.booleans()):
            targets["queueDepthPerReplica"] = draw(st.integers(1, 100))
        if "gpu" in resources and draw(st.booleans()):
            targets["gpuUtilizationPercent"] = draw(st.integers(1, 100))
        if targets:
            auto["targets"] = targets
        auto["mode"] = draw(st.sampled_from(["Enforce", "Recommend"]))
        spec["autoscaling"] = auto

    if draw(st.booleans()):
        scheduling: dict[str, Any] = {
            "nodeSelector": draw(st.dictionaries(st.sampled_from(["example.com/pool", "kubernetes.io/arch"]),
                                                 st.sampled_from(["a", "amd64"]), max_size=2)),
            "tolerations": draw(st.lists(toleration, max_size=3)),
        }
        if draw(st.booleans()):
            scheduling["affinity"] = draw(affinity)
        if draw(st.booleans()):
            scheduling["priorityClassName"] = "inference"
        spec["scheduling"] = scheduling
    if draw(st.booleans()):
        spec["rollout"] = draw(st.fixed_dictionaries({}, optional={"maxSurge": int_or_percent,
                                                                   "maxUnavailable": int_or_percent}))
    return spec


@st.composite
def inference_services(draw: st.DrawFn) -> InferenceService:
    return parse_isvc({"apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService",
                       "metadata": {"name": draw(dns_label), "namespace": draw(dns_label)},
                       "spec": draw(isvc_specs())})


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(inference_services())
def test_rendered_objects_are_valid_kubernetes_1_33_objects(isvc: InferenceService) -> None:
    objects = render_all(isvc, GPUCLASSES)
    assert objects, "nothing rendered"
    for obj in objects:
        kubernetes_validate.validate(obj, "1.36", strict=True)


@PROPERTY
@given(inference_services())
def test_one_writer_for_replicas(isvc: InferenceService) -> None:
    objects = {o["kind"]: o for o in render_all(isvc, GPUCLASSES)}
    deployment_spec = objects["Deployment"]["spec"]
    if isvc.spec.autoscaling is not None:
        assert "replicas" not in deployment_spec
        hpa = objects["HorizontalPodAutoscaler"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (isvc.spec.autoscaling.min_replicas,
                                                            isvc.spec.autoscaling.max_replicas)
    else:
        assert deployment_spec["replicas"] == (1 if isvc.spec.replicas is None else isvc.spec.replicas)
        assert "HorizontalPodAutoscaler" not in objects


@PROPERTY
@given(inference_services())
def test_gpus_placement_selectors_and_security(isvc: InferenceService) -> None:
    objects = {o["kind"]: o for o in render_all(isvc, GPUCLASSES)}
    deployment = objects["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    resources = container.get("resources", {})
    gpu = isvc.spec.resources.gpu
    if gpu is not None:
        cls = GPUCLASSES[gpu.class_]
        name = cls.spec.resource_name
        assert resources["limits"][name] == resources["requests"][name] == str(gpu.count)
        assert cls.spec.node_selector.items() <= pod.get("nodeSelector", {}).items()
        for tol in cls.spec.tolerations:
            assert tol.dump() in pod["tolerations"]
    else:
        for kind in ("limits", "requests"):
            assert not any(k.endswith("/gpu") or "mig-" in k for k in resources.get(kind, {}))
    for tol in isvc.spec.scheduling.tolerations:
        assert tol.dump() in pod["tolerations"]
    assert len(pod.get("tolerations", [])) == len({repr(t) for t in pod.get("tolerations", [])})

    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert objects["Service"]["spec"]["selector"] == selector

    for c in [*pod.get("initContainers", []), container]:
        ctx = c["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["seccompProfile"] == {"type": "RuntimeDefault"}
