"""The reconcile loop on a real control plane: examples become Deployments, Services and HPAs with
owner references; pods land on the requested GPU class (real scheduler) and kwok makes them Ready;
status reports Ready and the URL; spec changes roll out; drift is repaired; deletion garbage-collects;
an unknown GPUClass reports GPUClassNotFound and heals when the class appears."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import yaml

from inferop.runtimes import PROFILES
from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.harness import condition as condition  # re-exported: other modules import it from here

NEW_IMAGE = "vllm/vllm-openai:v0.29.0"

ROOT = Path(__file__).resolve().parents[2]


def example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "examples" / name).read_text()))


def wait_ready(cluster: Cluster, operator: Operator, name: str, namespace: str, timeout: float = 90) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        operator.assert_alive()
        obj = cluster.get("inferenceservice", name, namespace)
        return obj if condition(obj, "Ready").get("status") == "True" else None

    return dict(wait_for(ready, timeout=timeout, what=f"{namespace}/{name} Ready=True"))


def owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(
        ref["uid"] == owner["metadata"]["uid"] and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences", [])
    )


def node_product(cluster: Cluster, node: str) -> str | None:
    obj = cluster.get("node", node)
    assert obj is not None
    return obj["metadata"]["labels"].get("nvidia.com/gpu.product")


def test_gpu_example_converges_on_h100_nodes(cluster: Cluster, operator: Operator, namespace: str) -> None:
    cluster.apply(example("llm-vllm.yaml"), namespace=namespace)
    isvc = wait_ready(cluster, operator, "chat", namespace)

    deploy = cluster.get("deployment", "chat", namespace)
    service = cluster.get("service", "chat", namespace)
    hpa = cluster.get("hpa", "chat", namespace)
    assert deploy and service and hpa
    for child in (deploy, service, hpa):
        assert owned_by(child, isvc), f"{child['kind']} has no controller ownerReference to the InferenceService"
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 4

    pods = cluster.list("pods", namespace, selector="inferop.dev/inferenceservice=chat")
    assert pods, "no pods were created"
    for pod in pods:
        assert pod["spec"].get("nodeName"), "pod was not scheduled"
        assert node_product(cluster, pod["spec"]["nodeName"]) == "NVIDIA-H100-80GB-HBM3"
    status = isvc["status"]
    assert status["url"] == f"http://chat.{namespace}.svc.cluster.local"
    assert status["observedGeneration"] == isvc["metadata"]["generation"]
    assert status["readyReplicas"] >= 1
    assert condition(isvc, "DeploymentReady")["status"] == "True"
    assert condition(isvc, "AutoscalerReady")["status"] == "True"


def test_cpu_example_converges_on_cpu_nodes(cluster: Cluster, operator: Operator, namespace: str) -> None:
    cluster.apply(example("cpu-embeddings.yaml"), namespace=namespace)
    isvc = wait_ready(cluster, operator, "embed", namespace)
    assert cluster.get("hpa", "embed", namespace) is None
    deploy = cluster.get("deployment", "embed", namespace)
    assert deploy is not None and deploy["spec"]["replicas"] == 2
    pods = wait_for(
        lambda: [
            p
            for p in cluster.list("pods", namespace, selector="inferop.dev/inferenceservice=embed")
            if p["spec"].get("nodeName")
        ],
        what="scheduled pods",
    )
    assert len(pods) == 2
    for pod in pods:
        assert node_product(cluster, pod["spec"]["nodeName"]) is None, "a CPU service landed on a GPU node"
    assert isvc["status"]["readyReplicas"] == 2


def test_spec_change_rolls_out(cluster: Cluster, operator: Operator, namespace: str) -> None:
    obj = example("llm-vllm.yaml")
    cluster.apply(obj, namespace=namespace)
    wait_ready(cluster, operator, "chat", namespace)

    changed = copy.deepcopy(obj)
    changed["spec"]["runtime"]["image"] = NEW_IMAGE
    changed["spec"]["resources"]["gpu"]["count"] = 2
    cluster.apply(changed, namespace=namespace)

    def rolled() -> bool:
        deploy = cluster.get("deployment", "chat", namespace) or {}
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        return container["image"] == NEW_IMAGE and container["resources"]["limits"]["nvidia.com/gpu"] == "2"

    wait_for(rolled, what="Deployment updated with the new image and GPU count")
    isvc = wait_ready(cluster, operator, "chat", namespace)
    assert isvc["status"]["observedGeneration"] == isvc["metadata"]["generation"]
    pods = [
        p
        for p in cluster.list("pods", namespace, selector="inferop.dev/inferenceservice=chat")
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert pods and all(p["spec"]["containers"][0]["image"] == NEW_IMAGE for p in pods)


def test_drift_is_repaired(cluster: Cluster, operator: Operator, namespace: str) -> None:
    cluster.apply(example("llm-vllm.yaml"), namespace=namespace)
    wait_ready(cluster, operator, "chat", namespace)

    old_uid = cluster.get("service", "chat", namespace)["metadata"]["uid"]  # type: ignore[index]
    cluster.kubectl("delete", "service", "chat", "-n", namespace)
    wait_for(
        lambda: (cluster.get("service", "chat", namespace) or {}).get("metadata", {}).get("uid") not in (None, old_uid),
        what="deleted Service recreated",
    )

    cluster.kubectl("set", "image", "deployment/chat", "server=evil/image:latest", "-n", namespace)
    wait_for(
        lambda: (
            cluster.get("deployment", "chat", namespace)["spec"]["template"]["spec"]["containers"][0]["image"]  # type: ignore[index]
            == PROFILES["vllm"].image
        ),
        what="edited Deployment image reverted",
    )

    # The operator owns maxReplicas: spec.autoscaling.maxReplicas (4) until the cost controller's first
    # decision, then the decided bound (with no metrics adapter the HPA's bounds are both the decision).
    def owned_max() -> int:
        isvc = cluster.get("inferenceservice", "chat", namespace) or {}
        decided = ((isvc.get("status") or {}).get("autoscaling") or {}).get("desiredReplicas")
        return int(decided) if decided is not None else 4

    wait_for(
        lambda: cluster.get("hpa", "chat", namespace)["spec"]["maxReplicas"] == owned_max(),  # type: ignore[index]
        what="HPA maxReplicas at the operator's bound",
    )
    cluster.kubectl("patch", "hpa", "chat", "-n", namespace, "--type=merge", "-p", '{"spec":{"maxReplicas":40}}')
    wait_for(
        lambda: cluster.get("hpa", "chat", namespace)["spec"]["maxReplicas"] == owned_max(),  # type: ignore[index]
        what="edited HPA maxReplicas reverted",
    )


def test_delete_garbage_collects_children(cluster: Cluster, operator: Operator, namespace: str) -> None:
    cluster.apply(example("llm-vllm.yaml"), namespace=namespace)
    wait_ready(cluster, operator, "chat", namespace)
    cluster.kubectl("delete", "inferenceservice", "chat", "-n", namespace, "--timeout=60s")
    for kind in ("deployment", "service", "hpa"):
        wait_for(lambda kind=kind: cluster.get(kind, "chat", namespace) is None, what=f"{kind} garbage-collected")
    wait_for(
        lambda: not cluster.list("pods", namespace, selector="inferop.dev/inferenceservice=chat"), what="pods gone"
    )


def test_unknown_gpuclass_reports_and_heals(cluster: Cluster, operator: Operator, namespace: str) -> None:
    klass = f"a100-{uuid.uuid4().hex[:6]}"
    obj = example("llm-vllm.yaml")
    obj["spec"]["resources"]["gpu"]["class"] = klass
    cluster.apply(obj, namespace=namespace)

    def not_found() -> dict[str, Any] | None:
        cond = condition(cluster.get("inferenceservice", "chat", namespace), "Ready")
        return cond if cond.get("reason") == "GPUClassNotFound" else None

    cond = wait_for(not_found, what="Ready=False reason GPUClassNotFound")
    assert cond["status"] == "False" and klass in cond["message"]
    assert cluster.get("deployment", "chat", namespace) is None
    events = cluster.list("events", namespace)
    assert any(e.get("reason") == "GPUClassNotFound" and e["involvedObject"]["name"] == "chat" for e in events)

    gpuclass = list(yaml.safe_load_all((ROOT / "examples/gpuclasses.yaml").read_text()))[1]  # l4
    gpuclass["metadata"]["name"] = klass
    cluster.apply(gpuclass)
    try:
        wait_ready(cluster, operator, "chat", namespace)
        pods = cluster.list("pods", namespace, selector="inferop.dev/inferenceservice=chat")
        assert pods and all(node_product(cluster, p["spec"]["nodeName"]) == "NVIDIA-L4" for p in pods)
    finally:
        cluster.kubectl("delete", "gpuclass", klass, check=False)
