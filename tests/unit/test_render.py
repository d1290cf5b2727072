"""The pure builders turn an InferenceService (+ GPUClass + runtime profile) into the objects users get.

Covers: GPU requests equal limits equal the count, on the GPUClass's resource; GPUClass nodeSelector and
tolerations merged with spec.scheduling (deduplicated; a conflicting key is a RenderError naming the
field); one writer for replicas (none in the Deployment when autoscaled, set when fixed); the Service
(port 80 -> the container's named http port) and the HPA (autoscaling/v2, bounds, Pods metrics for the
targets, none for fixed replicas); the restricted security context on every container including init
containers; where the model comes from (hf native, pvc read-only, s3 storage initializer, oci modelcar);
GPUClassNotFound; runtime limits surfaced at render time; recommended labels and a selector label that
survives a runtime change; the examples render to objects valid for Kubernetes 1.36 (the pinned control plane).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from inferop.api import GPUClass, InferenceService, InvalidObject, parse_gpuclass, parse_isvc
from inferop.render import GPUClassNotFound, RenderError, render_all
from inferop.render.labels import ISVC_LABEL

MakeIsvc = Callable[..., InferenceService]
H100_GPU = {"gpu": {"class": "h100", "count": 1}}


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [o["kind"] for o in objects]
    assert len(kinds) == len(set(kinds)), kinds
    return {o["kind"]: o for o in objects}


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(objects)["Deployment"]["spec"]["template"]["spec"]
    return spec


def server(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = pod_spec(objects)["containers"]
    assert isinstance(container, dict)
    return container


def all_containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pod = pod_spec(objects)
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


@pytest.fixture()
def mig_class() -> dict[str, GPUClass]:
    cls = parse_gpuclass({"metadata": {"name": "a100-mig"}, "spec": {
        "resourceName": "nvidia.com/mig-1g.10gb",
        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/mig.strategy": "mixed"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }})
    return {"a100-mig": cls}


# --- the GPU example ------------------------------------------------------------------------------------


def test_gpu_example_renders_deployment_service_and_hpa_in_apply_order(
    llm_example: InferenceService, gpuclasses: dict[str, GPUClass],
) -> None:
    objects = render_all(llm_example, gpuclasses)
    assert [(o["apiVersion"], o["kind"]) for o in objects] == [
        ("apps/v1", "Deployment"), ("v1", "Service"), ("autoscaling/v2", "HorizontalPodAutoscaler")]
    for obj in objects:
        assert obj["metadata"]["name"] == "chat" and obj["metadata"]["namespace"] == "team-a"


@pytest.mark.parametrize("file_name", ["llm-vllm.yaml", "cpu-embeddings.yaml"])
def test_examples_render_to_objects_valid_for_kubernetes_1_33(
    example_docs: dict[str, list[dict[str, Any]]], gpuclasses: dict[str, GPUClass], file_name: str,
) -> None:
    (doc,) = example_docs[file_name]
    for obj in render_all(parse_isvc(doc), gpuclasses):
        kubernetes_validate.validate(obj, "1.36", strict=True)


@pytest.mark.parametrize("count", [1, 2, 8])
def test_gpu_limits_equal_requests_equal_count(make_isvc: MakeIsvc, gpuclasses: dict[str, GPUClass],
                                               count: int) -> None:
    isvc = make_isvc({"resources": {"cpu": "4", "memory": "32Gi", "gpu": {"class": "l4", "count": count}}})
    resources = server(render_all(isvc, gpuclasses))["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == str(count)
    assert resources["requests"]["nvidia.com/gpu"] == str(count)
    assert resources["requests"]["cpu"] == "4"
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "32Gi"


def test_gpu_resource_name_comes_from_the_gpuclass(make_isvc: MakeIsvc, mig_class: dict[str, GPUClass]) -> None:
    isvc = make_isvc({"resources": {"gpu": {"class": "a100-mig", "count": 2}}})
    resources = server(render_all(isvc, mig_class))["resources"]
    assert resources["limits"] == {"nvidia.com/mig-1g.10gb": "2"}
    assert resources["requests"] == {"nvidia.com/mig-1g.10gb": "2"}
    assert "nvidia.com/gpu" not in str(resources)


def test_cpu_only_service_requests_no_gpu_and_gets_no_gpu_placement(
    cpu_example: InferenceService, gpuclasses: dict[str, GPUClass],
) -> None:
    objects = render_all(cpu_example, gpuclasses)
    pod = pod_spec(objects)
    assert "nvidia.com/gpu" not in str(server(objects)["resources"])
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert all(v["name"] != "dshm" for v in pod["volumes"])


def test_gpu_service_gets_shared_memory_for_its_workers(llm_example: InferenceService,
                                                        gpuclasses: dict[str, GPUClass]) -> None:
    objects = render_all(llm_example, gpuclasses)
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["dshm"] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in server(objects)["volumeMounts"]


# --- placement ------------------------------------------------------------------------------------------


def test_gpuclass_node_selector_and_tolerations_are_applied(llm_example: InferenceService,
                                                            gpuclasses: dict[str, GPUClass]) -> None:
    pod = pod_spec(render_all(llm_example, gpuclasses))
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_scheduling_is_merged_with_the_gpuclass_and_duplicates_dropped(
    make_isvc: MakeIsvc, gpuclasses: dict[str, GPUClass],
) -> None:
    same = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    spot = {"key": "cloud.example/spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}
    isvc = make_isvc({"resources": H100_GPU, "scheduling": {
        "nodeSelector": {"topology.kubernetes.io/zone": "eu-1a", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        "tolerations": [same, spot, spot],
        "affinity": affinity,
        "priorityClassName": "inference-high",
    }})
    pod = pod_spec(render_all(isvc, gpuclasses))
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                   "topology.kubernetes.io/zone": "eu-1a"}
    assert pod["tolerations"] == [same, spot]
    assert pod["affinity"] == affinity
    assert pod["priorityClassName"] == "inference-high"


def test_conflicting_node_selector_is_an_error_naming_the_field(make_isvc: MakeIsvc,
                                                                gpuclasses: dict[str, GPUClass]) -> None:
    isvc = make_isvc({"resources": H100_GPU,
                      "scheduling": {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}})
    with pytest.raises(RenderError) as info:
        render_all(isvc, gpuclasses)
    assert info.value.field == "spec.scheduling.nodeSelector[nvidia.com/gpu.product]"
    assert "NVIDIA-L4" in str(info.value) and "NVIDIA-H100-80GB-HBM3" in str(info.value)
    assert "h100" in str(info.value)  # which GPUClass it conflicts with
    assert info.value.reason == "InvalidSpec"


def test_scheduling_without_a_gpu_is_used_as_written(make_isvc: MakeIsvc) -> None:
    isvc = make_isvc({"scheduling": {"nodeSelector": {"pool": "cpu"},
                                     "tolerations": [{"key": "pool", "operator": "Exists"}]}})
    pod = pod_spec(render_all(isvc, {}))
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"] == [{"key": "pool", "operator": "Exists"}]


def test_unknown_gpu_class_is_gpuclass_not_found_naming_the_field(make_isvc: MakeIsvc,
                                                                  gpuclasses: dict[str, GPUClass]) -> None:
    isvc = make_isvc({"resources": {"gpu": {"class": "b200"}}})
    with pytest.raises(GPUClassNotFound) as info:
        render_all(isvc, gpuclasses)
    err = info.value
    assert isinstance(err, RenderError)
    assert err.field == "spec.resources.gpu.class" and err.reason == "GPUClassNotFound"
    assert '"b200"' in str(err) and "h100" in str(err) and "l4" in str(err)
    with pytest.raises(GPUClassNotFound, match="no GPUClass exists yet"):
        render_all(isvc, {})


# --- replicas: one writer -----------------------------------------------------------------------------


def test_autoscaled_deployment_has_no_replicas_field(llm_example: InferenceService,
                                                     gpuclasses: dict[str, GPUClass]) -> None:
    deployment = by_kind(render_all(llm_example, gpuclasses))["Deployment"]
    assert "replicas" not in deployment["spec"]  # the HPA owns it


@pytest.mark.parametrize(("spec", "replicas"), [({}, 1), ({"replicas": 0}, 0), ({"replicas": 5}, 5)])
def test_fixed_size_deployment_has_replicas_and_no_hpa(make_isvc: MakeIsvc, spec: dict[str, Any],
                                                       replicas: int) -> None:
    objects = by_kind(render_all(make_isvc(spec), {}))
    assert objects["Deployment"]["spec"]["replicas"] == replicas
    assert "HorizontalPodAutoscaler" not in objects


# --- Service ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["vllm", "tgi", "triton", "kserve", "torchserve"])
def test_service_port_80_reaches_the_servers_named_http_port(make_isvc: MakeIsvc, runtime: str) -> None:
    objects = render_all(make_isvc({"runtime": {"name": runtime}}), {})
    service = by_kind(objects)["Service"]
    http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
    assert (http["port"], http["targetPort"], http["protocol"]) == (80, "http", "TCP")
    container_ports = {p["name"]: p["containerPort"] for p in server(objects)["ports"]}
    assert "http" in container_ports
    # every Service port targets a port the container declares by name
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in container_ports
    assert service["spec"]["type"] == "ClusterIP"


def test_service_selects_exactly_the_deployments_pods(llm_example: InferenceService,
                                                      gpuclasses: dict[str, GPUClass]) -> None:
    objects = by_kind(render_all(llm_example, gpuclasses))
    deployment = objects["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert objects["Service"]["spec"]["selector"] == selector == {ISVC_LABEL: "chat"}
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(("runtime", "port"), [("triton", 8002), ("torchserve", 8082), ("vllm", 8000)])
def test_prometheus_scrape_annotations_point_at_the_metrics_port(make_isvc: MakeIsvc, runtime: str,
                                                                 port: int) -> None:
    objects = render_all(make_isvc({"runtime": {"name": runtime}}), {})
    annotations = by_kind(objects)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert port in {p["containerPort"] for p in server(objects)["ports"]}


# --- HPA --------------------------------------------------------------------------------------------


def test_hpa_targets_the_deployment_with_the_spec_bounds_and_queue_metric(
    llm_example: InferenceService, gpuclasses: dict[str, GPUClass],
) -> None:
    hpa = by_kind(render_all(llm_example, gpuclasses))["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    assert spec["metrics"] == [{"type": "Pods", "pods": {
        "metric": {"name": "vllm:num_requests_waiting"},
        "target": {"type": "AverageValue", "averageValue": "8"}}}]


def test_hpa_gpu_utilization_target_uses_dcgm_series(make_isvc: MakeIsvc, gpuclasses: dict[str, GPUClass]) -> None:
    isvc = make_isvc({"resources": H100_GPU, "autoscaling": {
        "minReplicas": 2, "maxReplicas": 6, "targets": {"gpuUtilizationPercent": 70, "queueDepthPerReplica": 4}}})
    metrics = by_kind(render_all(isvc, gpuclasses))["HorizontalPodAutoscaler"]["spec"]["metrics"]
    targets = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in metrics}
    assert all(m["type"] == "Pods" for m in metrics)
    assert targets == {"vllm:num_requests_waiting": {"type": "AverageValue", "averageValue": "4"},
                       "DCGM_FI_DEV_GPU_UTIL": {"type": "AverageValue", "averageValue": "70"}}


def test_hpa_without_targets_has_only_bounds(make_isvc: MakeIsvc) -> None:
    hpa = by_kind(render_all(make_isvc({"autoscaling": {"minReplicas": 2, "maxReplicas": 3}}), {}))[
        "HorizontalPodAutoscaler"]
    assert "metrics" not in hpa["spec"] and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 3)


def test_gpu_utilization_target_without_a_gpu_is_an_error(make_isvc: MakeIsvc) -> None:
    isvc = make_isvc({"autoscaling": {"maxReplicas": 3, "targets": {"gpuUtilizationPercent": 70}}})
    with pytest.raises(RenderError) as info:
        render_all(isvc, {})
    assert info.value.field == "spec.autoscaling.targets.gpuUtilizationPercent"


def test_queue_target_on_a_runtime_without_a_queue_series_is_an_error(make_isvc: MakeIsvc) -> None:
    isvc = make_isvc({"runtime": {"name": "torchserve"},
                      "autoscaling": {"maxReplicas": 3, "targets": {"queueDepthPerReplica": 5}}})
    with pytest.raises(RenderError) as info:
        render_all(isvc, {})
    assert info.value.field == "spec.autoscaling.targets.queueDepthPerReplica"
    assert "torchserve" in str(info.value)


def test_slo_metric_the_runtime_cannot_measure_is_an_error_at_render_time(make_isvc: MakeIsvc) -> None:
    isvc = make_isvc({"runtime": {"name": "tgi"}, "autoscaling": {
        "maxReplicas": 3, "slo": {"latency": {"metric": "ttft", "targetMilliseconds": 500}}}})
    with pytest.raises(RenderError) as info:
        render_all(isvc, {})
    assert info.value.field == "spec.autoscaling.slo.latency.metric"
    assert info.value.reason == "InvalidSpec"


def test_unsupported_quantization_is_an_error_naming_the_field(make_isvc: MakeIsvc) -> None:
    with pytest.raises(RenderError) as info:
        render_all(make_isvc({"runtime": {"name": "triton"}, "model": {"uri": "s3://b/m", "quantization": "awq"}}),
                   {})
    assert info.value.field == "spec.model.quantization"


def test_supported_quantization_reaches_the_server(make_isvc: MakeIsvc) -> None:
    args = server(render_all(make_isvc({"runtime": {"name": "tgi"},
                                        "model": {"uri": "hf://a/b", "quantization": "int4"}}), {}))["args"]
    assert args[args.index("--quantize") + 1] == "bitsandbytes-nf4"


# --- security -----------------------------------------------------------------------------------------

RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
              "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.mark.parametrize("uri", ["hf://a/b", "s3://bucket/m", "oci://registry.example/m:1", "pvc://claim/m"])
@pytest.mark.parametrize("runtime", ["vllm", "tgi", "triton", "kserve", "torchserve", "custom"])
def test_every_container_runs_restricted(make_isvc: MakeIsvc, runtime: str, uri: str) -> None:
    rt: dict[str, Any] = {"name": runtime}
    if runtime == "custom":
        rt["image"] = "registry.example/server:1"
    objects = render_all(make_isvc({"runtime": rt, "model": {"uri": uri}}), {})
    for container in all_containers(objects):
        ctx = container["securityContext"]
        assert RESTRICTED.items() <= ctx.items(), container["name"]
        assert ctx.get("runAsUser", 1) != 0 and not ctx.get("privileged", False)
    pod = pod_spec(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert not any("hostPath" in v for v in pod["volumes"])


# --- model placement --------------------------------------------------------------------------------


def test_hf_model_on_a_native_runtime_is_passed_as_a_repo_id(llm_example: InferenceService,
                                                              gpuclasses: dict[str, GPUClass]) -> None:
    objects = render_all(llm_example, gpuclasses)
    assert "initContainers" not in pod_spec(objects)
    args = server(objects)["args"]
    assert args[args.index("--model") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert args[-2:] == ["--max-model-len", "8192"]  # the user's args come last


def test_pvc_model_is_mounted_read_only(make_isvc: MakeIsvc) -> None:
    objects = render_all(make_isvc({"model": {"uri": "pvc://models-rwx/llama/8b"}}), {})
    pod = pod_spec(objects)
    volume = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"] == {"claimName": "models-rwx", "readOnly": True}
    mount = next(m for m in server(objects)["volumeMounts"] if m["name"] == volume["name"])
    assert mount["readOnly"] is True and mount["mountPath"] == "/mnt/models"
    assert "initContainers" not in pod
    args = server(objects)["args"]
    assert args[args.index("--model") + 1] == "/mnt/models/llama/8b"


def test_s3_model_is_downloaded_by_a_storage_initializer(make_isvc: MakeIsvc) -> None:
    objects = render_all(make_isvc({"model": {"uri": "s3://bucket/models/llama"}}), {})
    pod = pod_spec(objects)
    (init,) = pod["initContainers"]
    assert "storage-initializer" in init["image"]
    assert init["args"] == ["s3://bucket/models/llama", "/mnt/models"]
    init_mount = init["volumeMounts"][0]
    assert init_mount["mountPath"] == "/mnt/models" and not init_mount.get("readOnly", False)
    server_mount = next(m for m in server(objects)["volumeMounts"] if m["name"] == init_mount["name"])
    assert server_mount["mountPath"] == "/mnt/models" and server_mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == init_mount["name"])
    assert "emptyDir" in volume  # shared between the two containers
    args = server(objects)["args"]
    assert args[args.index("--model") + 1] == "/mnt/models"


def test_hf_model_on_a_runtime_without_hub_download_uses_the_storage_initializer(make_isvc: MakeIsvc) -> None:
    objects = render_all(make_isvc({"runtime": {"name": "triton"}, "model": {"uri": "hf://org/m"}}), {})
    (init,) = pod_spec(objects)["initContainers"]
    assert init["args"][0] == "hf://org/m"
    args = server(objects)["args"]
    assert args[args.index("--model-repository") + 1] == "/mnt/models"


def test_oci_model_is_copied_from_a_modelcar_image(make_isvc: MakeIsvc) -> None:
    objects = render_all(make_isvc({"model": {"uri": "oci://registry.example/models/llama:3.1"}}), {})
    (init,) = pod_spec(objects)["initContainers"]
    assert init["image"] == "registry.example/models/llama:3.1"
    assert init["volumeMounts"][0]["mountPath"] == "/mnt/models"
    assert "/mnt/models" in " ".join(init["command"])


# --- runtime overrides --------------------------------------------------------------------------------


def test_runtime_image_env_and_args_overrides(make_isvc: MakeIsvc) -> None:
    isvc = make_isvc({"runtime": {"name": "vllm", "image": "mirror.example/vllm:pinned",
                                  "args": ["--enable-prefix-caching"],
                                  "env": [{"name": "HF_HOME", "value": "/data/hf"}, {"name": "EXTRA", "value": "1"}]}})
    container = server(render_all(isvc, {}))
    assert container["image"] == "mirror.example/vllm:pinned"
    assert container["args"][-1] == "--enable-prefix-caching"
    env = env_of(container)
    assert env["HF_HOME"] == "/data/hf"  # the user's value wins over the profile's
    assert env["EXTRA"] == "1" and env["HOME"] == "/cache"
    assert [e["name"] for e in container["env"]].count("HF_HOME") == 1


def test_custom_runtime_uses_the_given_image_and_port(make_isvc: MakeIsvc) -> None:
    isvc = make_isvc({"runtime": {"name": "custom", "image": "registry.example/srv:2", "port": 9000},
                      "model": {"uri": "s3://b/m"}})
    objects = render_all(isvc, {})
    container = server(objects)
    assert container["image"] == "registry.example/srv:2"
    assert {"name": "http", "containerPort": 9000, "protocol": "TCP"} in container["ports"]
    assert env_of(container)["MODEL_URI"] == "/mnt/models"
    assert "readinessProbe" not in container and "livenessProbe" not in container


def _listening_port(runtime: str, args: list[str]) -> int:
    """The HTTP port a built-in server binds, from its documented flag and default."""
    def flag(name: str, default: int) -> int:
        value = default
        for i, arg in enumerate(args):
            if arg == name and i + 1 < len(args):
                value = int(args[i + 1])
            elif arg.startswith(name + "="):
                value = int(arg.split("=", 1)[1])
        return value
    return {"vllm": lambda: flag("--port", 8000), "tgi": lambda: flag("--port", 80),
            "triton": lambda: flag("--http-port", 8000), "kserve": lambda: flag("--http_port", 8080)}[runtime]()


@pytest.mark.parametrize("runtime", ["vllm", "tgi", "triton", "kserve"])
def test_server_listens_on_the_declared_http_port(make_isvc: MakeIsvc, runtime: str) -> None:
    container = server(render_all(make_isvc({"runtime": {"name": runtime}}), {}))
    http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert _listening_port(runtime, container["args"]) == http


@pytest.mark.parametrize("runtime", ["vllm", "tgi", "triton", "kserve"])
def test_runtime_port_override_reaches_the_server(make_isvc: MakeIsvc, runtime: str) -> None:
    container = server(render_all(make_isvc({"runtime": {"name": runtime, "port": 9000}}), {}))
    http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert http == 9000
    assert _listening_port(runtime, container["args"]) == 9000


def test_rollout_settings_become_the_rolling_update_strategy(make_isvc: MakeIsvc) -> None:
    deployment = by_kind(render_all(make_isvc({"rollout": {"maxSurge": 1, "maxUnavailable": "25%"}}), {}))[
        "Deployment"]
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}
    assert "strategy" not in by_kind(render_all(make_isvc({}), {}))["Deployment"]["spec"]


# --- labels -------------------------------------------------------------------------------------------


def test_every_object_carries_the_recommended_labels(llm_example: InferenceService,
                                                     gpuclasses: dict[str, GPUClass]) -> None:
    objects = render_all(llm_example, gpuclasses)
    template_labels = by_kind(objects)["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for labels in [o["metadata"]["labels"] for o in objects] + [template_labels]:
        assert labels["app.kubernetes.io/name"] == "vllm"
        assert labels["app.kubernetes.io/instance"] == "chat"
        assert labels["app.kubernetes.io/managed-by"] == "inferop"
        assert labels["app.kubernetes.io/part-of"] == "inferop"
        assert labels["app.kubernetes.io/component"]
        assert labels[ISVC_LABEL] == "chat"
        assert labels["inferop.dev/gpu-class"] == "h100"


def test_selector_stays_the_same_when_the_runtime_changes(make_isvc: MakeIsvc) -> None:
    """A Deployment's selector is immutable: a runtime switch must not need a delete and re-create."""
    before = by_kind(render_all(make_isvc({"runtime": {"name": "vllm"}}), {}))
    after = by_kind(render_all(make_isvc({"runtime": {"name": "tgi"}}), {}))
    assert before["Deployment"]["spec"]["selector"] == after["Deployment"]["spec"]["selector"]
    assert before["Service"]["spec"]["selector"] == after["Service"]["spec"]["selector"]
    assert before["Deployment"]["metadata"]["labels"]["app.kubernetes.io/name"] == "vllm"
    assert after["Deployment"]["metadata"]["labels"]["app.kubernetes.io/name"] == "tgi"


def test_selector_stays_the_same_when_the_gpu_class_or_size_changes(make_isvc: MakeIsvc,
                                                                   gpuclasses: dict[str, GPUClass]) -> None:
    a = by_kind(render_all(make_isvc({"resources": H100_GPU, "replicas": 1}), gpuclasses))["Deployment"]
    b = by_kind(render_all(make_isvc({"resources": {"gpu": {"class": "l4", "count": 2}},
                                      "autoscaling": {"maxReplicas": 4}}), gpuclasses))["Deployment"]
    assert a["spec"]["selector"] == b["spec"]["selector"]


def test_services_in_one_namespace_do_not_select_each_others_pods(make_isvc: MakeIsvc) -> None:
    a = by_kind(render_all(make_isvc({}, name="chat"), {}))
    b = by_kind(render_all(make_isvc({}, name="chat-small"), {}))
    assert a["Service"]["spec"]["selector"] != b["Service"]["spec"]["selector"]
    b_pod_labels = b["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert not a["Service"]["spec"]["selector"].items() <= b_pod_labels.items()


@pytest.mark.parametrize("name", ["chat", "llama-3-8b", "a" * 63])
def test_names_that_are_valid_service_names_render(make_isvc: MakeIsvc, name: str) -> None:
    assert by_kind(render_all(make_isvc({}, name=name), {}))["Service"]["metadata"]["name"] == name


@pytest.mark.parametrize("name", ["llama-3.1-8b", "7b-chat", "a" * 64])
def test_names_that_cannot_be_service_names_are_rejected_naming_metadata_name(make_isvc: MakeIsvc,
                                                                              name: str) -> None:
    with pytest.raises((RenderError, InvalidObject)) as info:
        render_all(make_isvc({}, name=name), {})
    assert "metadata.name" in str(info.value)


def test_rendering_is_deterministic(llm_example: InferenceService, gpuclasses: dict[str, GPUClass]) -> None:
    assert render_all(llm_example, gpuclasses) == render_all(llm_example, gpuclasses)


def test_namespace_defaults_to_default() -> None:
    isvc = parse_isvc({"metadata": {"name": "x"}, "spec": {"model": {"uri": "hf://a/b"}}})
    assert {o["metadata"]["namespace"] for o in render_all(isvc, {})} == {"default"}
