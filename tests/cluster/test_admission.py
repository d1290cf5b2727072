"""What the real API server admits (issue 17, items 2, 3, 7 and 13), and what the operator's bookkeeping
survives.

Covers: a GPUClass whose ``resourceName`` is not an extended resource (cpu, memory, pods,
hugepages-2Mi, kubernetes.io/*, requests.*) is rejected naming spec.resourceName, real ones
(nvidia.com/gpu, MIG slices, amd.com/gpu) are accepted; oversize runtime args and env are rejected
naming the field; an InferenceService with ~200 KiB of user annotations is reconciled and then
deletes cleanly, and so does its namespace; negative quantities in InferenceService and Tenant, and
a LimitRange default below its default request, are rejected; unknown fields are rejected with
``kubectl --validate=strict`` (kubectl's default) and silently dropped with ``--validate=false``, as
the README says.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_reconcile import condition

ROOT = Path(__file__).resolve().parents[2]
MSG_RESOURCE_NAME = "spec.resourceName must be an extended resource name with a domain prefix"
MSG_NEGATIVE = 'must be a non-negative quantity, e.g. "500m", "2" or "16Gi"'


def _example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "examples" / name).read_text()))


def _create(cluster: Cluster, obj: dict[str, Any], *flags: str, namespace: str | None = None) -> Any:
    """``kubectl create`` (no last-applied annotation: it would double the annotations' size)."""
    args = ["create", "-f", "-", *flags] + (["-n", namespace] if namespace else [])
    return cluster.kubectl(*args, input=yaml.safe_dump(obj), check=False)


def _rejected(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0, f"the API server accepted it:\n{proc.stdout}"
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.fixture
def cluster_scoped(cluster: Cluster) -> Iterator[Callable[[str, str], str]]:
    """Name cluster-scoped objects for the test; they are deleted afterwards."""
    made: list[tuple[str, str]] = []

    def name(kind: str, prefix: str) -> str:
        made.append((kind, n := f"{prefix}-{uuid.uuid4().hex[:6]}"))
        return n

    yield name
    for kind, n in made:
        cluster.kubectl("delete", kind, n, "--ignore-not-found", "--wait=false", check=False)


# --- item 2: only extended resources name a GPU --------------------------------------------------------


def _gpuclass(name: str, resource: str) -> dict[str, Any]:
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "GPUClass",
        "metadata": {"name": name},
        "spec": {"resourceName": resource, "price": {"perGPUHour": "1.00"}},
    }


@pytest.mark.parametrize(
    "resource",
    [
        "cpu",
        "memory",
        "pods",
        "ephemeral-storage",
        "hugepages-2Mi",
        "kubernetes.io/foo",
        "example.kubernetes.io/gpu",
        "requests.foo",
        "requests.nvidia.com/gpu",
    ],
)
def test_gpuclass_with_a_native_resource_name_is_rejected(
    cluster: Cluster, cluster_scoped: Callable[[str, str], str], resource: str
) -> None:
    name = cluster_scoped("gpuclass", "bad")
    _rejected(_create(cluster, _gpuclass(name, resource)), "spec.resourceName", MSG_RESOURCE_NAME)
    assert cluster.get("gpuclass", name) is None


@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "amd.com/gpu", "gpu.intel.com/i915"])
def test_gpuclass_with_an_extended_resource_name_is_accepted(
    cluster: Cluster, cluster_scoped: Callable[[str, str], str], resource: str
) -> None:
    name = cluster_scoped("gpuclass", "good")
    proc = _create(cluster, _gpuclass(name, resource))
    assert proc.returncode == 0, proc.stderr
    stored = cluster.get("gpuclass", name)
    assert stored is not None and stored["spec"]["resourceName"] == resource


def test_gpuclass_stored_before_the_rule_writes_no_gpu_count_under_memory(
    cluster: Cluster, operator_factory: Callable[..., Operator], namespace: str
) -> None:
    """An upgrade: a GPUClass with resourceName memory, admitted by the old CRD, is still stored. A
    service using it gets no memory limit of "1" and is not Ready; a Tenant's quota keeps the user's
    requests.memory and requests.cpu."""
    crd = yaml.safe_load((ROOT / "crds" / "inferop.dev_gpuclasses.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    permissive = copy.deepcopy(crd)
    permissive["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].pop("x-kubernetes-validations")
    assert "x-kubernetes-validations" in spec_schema
    bad = f"old-{uuid.uuid4().hex[:6]}"
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    try:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(permissive))
        wait_for(
            lambda: _create(cluster, _gpuclass(bad, "memory")).returncode == 0 or cluster.get("gpuclass", bad),
            timeout=30,
            what="the old CRD admitting resourceName memory",
        )
    finally:
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds" / "inferop.dev_gpuclasses.yaml")
        )
    try:
        assert cluster.get("gpuclass", bad)["spec"]["resourceName"] == "memory"  # type: ignore[index]
        op = operator_factory()
        quota = {"gpus": 4, "cpu": "16", "memory": "64Gi"}
        cluster.apply({**_tenant(tenant), "spec": {"namespaces": [namespace], "quota": quota}})
        obj = copy.deepcopy(_example("llm-vllm.yaml"))
        del obj["spec"]["autoscaling"]
        obj["spec"]["resources"] = {"cpu": "500m", "memory": "2Gi", "gpu": {"class": bad, "count": 1}}
        cluster.apply(obj, namespace=namespace)

        def refused() -> dict[str, Any] | None:
            op.assert_alive()
            svc = cluster.get("inferenceservice", "chat", namespace)
            return svc if condition(svc, "Ready").get("status") == "False" else None

        svc = wait_for(refused, timeout=60, what="Ready=False for a service on the invalid GPUClass")
        assert bad in condition(svc, "Ready")["message"]
        deploy = cluster.get("deployment", "chat", namespace)
        if deploy is not None:
            resources = deploy["spec"]["template"]["spec"]["containers"][0]["resources"]
            assert resources.get("limits", {}).get("memory") == "2Gi", resources
        hard = wait_for(lambda: cluster.get("resourcequota", "inferop-tenant", namespace), what="the quota")["spec"][
            "hard"
        ]
        assert hard["requests.memory"] == "64Gi" and hard["requests.cpu"] == "16", hard
    finally:
        cluster.kubectl("delete", "tenant", tenant, "--ignore-not-found", "--wait=false", check=False)
        cluster.kubectl("delete", "gpuclass", bad, "--ignore-not-found", "--wait=false", check=False)


# --- item 3: bounded sizes, and bookkeeping that survives any admitted object ---------------------------


def _service(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    obj = copy.deepcopy(_example("llm-vllm.yaml"))
    mutate(obj["spec"]["runtime"])
    return obj


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda r: r.update(args=["x" * (32 * 1024 + 1)]), ("spec.runtime.args[0]", "Too long")),
        (lambda r: r.update(args=["-v"] * 257), ("spec.runtime.args", "Too many")),
        (lambda r: r.update(env=[{"name": "BIG", "value": "x" * (32 * 1024 + 1)}]), ("spec.runtime.env[0].value",)),
        (lambda r: r.update(env=[{"name": "N" * 257, "value": "1"}]), ("spec.runtime.env[0].name", "Too long")),
        (lambda r: r.update(env=[{"name": f"E{i}", "value": "1"} for i in range(257)]), ("spec.runtime.env",)),
        (
            lambda r: r.update(args=["a" * 30_000] * 3, env=[{"name": "B", "value": "b" * 30_000}] * 2),
            ("spec.runtime", "must be at most 128 KiB together"),
        ),
    ],
    ids=["long-arg", "many-args", "long-env-value", "long-env-name", "many-env", "total"],
)
def test_oversize_runtime_args_and_env_are_rejected(
    cluster: Cluster, namespace: str, mutate: Callable[[dict[str, Any]], None], fragments: tuple[str, ...]
) -> None:
    _rejected(_create(cluster, _service(mutate), namespace=namespace), *fragments)
    assert cluster.get("inferenceservice", "chat", namespace) is None


def test_runtime_args_and_env_at_their_bounds_are_accepted(cluster: Cluster, namespace: str) -> None:
    """A generous server's worth: ~105 KiB of args and env values, an 8 KiB inline chat template included."""
    obj = _service(
        lambda r: r.update(
            args=["--chat-template", "{% for m in messages %}" * 350, *(["--x", "y" * 1000] * 80)],
            env=[{"name": f"VAR_{i}", "value": "v" * 100} for i in range(200)],
        )
    )
    proc = _create(cluster, obj, namespace=namespace)
    assert proc.returncode == 0, proc.stderr


#: The API server's limit on the total size of an object's annotations (keys and values).
ANNOTATIONS_LIMIT = 256 * 1024


def _annotations(total: int) -> dict[str, str]:
    """User annotations of ``total`` bytes (keys plus values), in 4 KiB values."""
    out: dict[str, str] = {}
    while (left := total - sum(len(k) + len(v) for k, v in out.items())) > 0:
        key = f"example.com/note-{len(out)}"
        out[key] = "n" * min(4000, left - len(key))
    return out


@pytest.mark.parametrize("size", [200 * 1024, ANNOTATIONS_LIMIT - 64], ids=["200KiB", "64-bytes-below-the-limit"])
def test_service_with_200_kib_of_annotations_is_reconciled_and_deletes_cleanly(
    cluster: Cluster, operator_factory: Callable[..., Operator], size: int
) -> None:
    """kopf's stock diff-base storage copied the annotations into one more annotation: 400 KiB, every
    bookkeeping patch failed with 422 and the finalizer was never removed. Near the limit even a
    small annotation of ours does not fit: the finalizer must still come off."""
    op = operator_factory()
    ns = f"t-{uuid.uuid4().hex[:8]}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    obj = copy.deepcopy(_example("cpu-embeddings.yaml"))
    obj["metadata"]["annotations"] = _annotations(size)
    obj["spec"]["replicas"] = 1
    proc = _create(cluster, obj, namespace=ns)
    assert proc.returncode == 0, proc.stderr

    def reconciled() -> dict[str, Any] | None:
        op.assert_alive()
        svc = cluster.get("inferenceservice", "embed", ns)
        return svc if condition(svc, "Ready").get("status") == "True" else None

    svc = wait_for(reconciled, timeout=120, what="the annotated InferenceService Ready")
    assert "inferop.dev/finalizer" in svc["metadata"].get("finalizers", []), "expected kopf's finalizer"
    assert cluster.get("deployment", "embed", ns) is not None
    bookkeeping = {k: v for k, v in svc["metadata"]["annotations"].items() if k.startswith("inferop.dev/")}
    assert sum(len(k) + len(v) for k, v in bookkeeping.items()) < 512, bookkeeping

    started = time.monotonic()
    cluster.kubectl("delete", "inferenceservice", "embed", "-n", ns, "--wait=false")
    wait_for(lambda: cluster.get("inferenceservice", "embed", ns) is None, timeout=60, what="the service deleted")
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(lambda: cluster.get("namespace", ns) is None, timeout=120, what=f"namespace {ns} deleted")
    print(f"service and namespace deleted in {time.monotonic() - started:.1f} s")
    assert "262144" not in op.log(), "a bookkeeping patch exceeded the annotation size limit"


# --- item 7: quantities -----------------------------------------------------------------------------------


def _tenant(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"namespaces": [f"adm-{name}"], **spec},
    }


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"quota": {"cpu": "-5"}}, "spec.quota.cpu"),
        ({"quota": {"memory": -1}}, "spec.quota.memory"),
        ({"quota": {"memory": "-1Gi"}}, "spec.quota.memory"),
        ({"limitDefaults": {"defaultRequestCPU": "-100m"}}, "spec.limitDefaults.defaultRequestCPU"),
        (
            {"limitDefaults": {"defaultMemory": "-2Gi", "defaultRequestMemory": "-4Gi"}},
            "spec.limitDefaults.defaultMemory",
        ),
    ],
    ids=["quota-cpu", "quota-memory-int", "quota-memory", "default-request-cpu", "default-memory"],
)
def test_negative_tenant_quantities_are_rejected(
    cluster: Cluster, cluster_scoped: Callable[[str, str], str], spec: dict[str, Any], field: str
) -> None:
    name = cluster_scoped("tenant", "neg")
    _rejected(_create(cluster, _tenant(name, **spec)), field, MSG_NEGATIVE)


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"cpu": "-500m"}, "spec.resources.cpu"),
        ({"memory": "-1Gi"}, "spec.resources.memory"),
        ({"cpu": -1}, "spec.resources.cpu"),
    ],
    ids=["cpu", "memory", "cpu-int"],
)
def test_negative_service_resources_are_rejected(
    cluster: Cluster, namespace: str, resources: dict[str, Any], field: str
) -> None:
    obj = copy.deepcopy(_example("cpu-embeddings.yaml"))
    obj["spec"]["resources"].update(resources)
    _rejected(_create(cluster, obj, namespace=namespace), field, MSG_NEGATIVE)


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"defaultCPU": "100m", "defaultRequestCPU": "200m"}, "spec.limitDefaults.defaultCPU must be at least"),
        ({"defaultCPU": "500m", "defaultRequestCPU": 1}, "spec.limitDefaults.defaultCPU must be at least"),
        ({"defaultCPU": "50m"}, "defaultRequestCPU (100m when unset)"),
        ({"defaultMemory": "1Gi", "defaultRequestMemory": "2Gi"}, "spec.limitDefaults.defaultMemory must be at least"),
        ({"defaultMemory": "64Mi"}, "defaultRequestMemory (128Mi when unset)"),
    ],
    ids=["cpu", "cpu-int-request", "cpu-below-implicit", "memory", "memory-below-implicit"],
)
def test_limit_default_below_default_request_is_rejected(
    cluster: Cluster, cluster_scoped: Callable[[str, str], str], defaults: dict[str, Any], message: str
) -> None:
    name = cluster_scoped("tenant", "lim")
    _rejected(_create(cluster, _tenant(name, limitDefaults=defaults)), message)
    assert cluster.get("tenant", name) is None


@pytest.mark.parametrize(
    "defaults",
    [
        {"defaultCPU": "2", "defaultRequestCPU": "500m", "defaultMemory": "4Gi", "defaultRequestMemory": "4Gi"},
        {"defaultCPU": 1, "defaultRequestCPU": "1000m"},
        {"defaultRequestCPU": "0", "defaultCPU": 0},
        {"defaultMemory": "128Mi"},
    ],
    ids=["strings", "int-equal", "zero", "memory-at-implicit"],
)
def test_valid_limit_defaults_are_accepted(
    cluster: Cluster, cluster_scoped: Callable[[str, str], str], defaults: dict[str, Any]
) -> None:
    name = cluster_scoped("tenant", "lim")
    proc = _create(cluster, _tenant(name, quota={"cpu": 0, "memory": "1Ti"}, limitDefaults=defaults))
    assert proc.returncode == 0, proc.stderr


# --- item 13: unknown fields, by client ------------------------------------------------------------------


def _misspelt() -> dict[str, Any]:
    obj = copy.deepcopy(_example("llm-vllm.yaml"))
    obj["spec"]["autoscalling"] = obj["spec"].pop("autoscaling")
    return obj


def test_unknown_field_is_rejected_with_strict_validation(cluster: Cluster, namespace: str) -> None:
    _rejected(
        _create(cluster, _misspelt(), "--validate=strict", namespace=namespace), 'unknown field "spec.autoscalling"'
    )
    assert cluster.get("inferenceservice", "chat", namespace) is None


def test_unknown_field_warns_with_warn_validation(cluster: Cluster, namespace: str) -> None:
    proc = _create(cluster, _misspelt(), "--validate=warn", namespace=namespace)
    assert proc.returncode == 0, proc.stderr
    assert 'unknown field "spec.autoscalling"' in proc.stderr
    stored = cluster.get("inferenceservice", "chat", namespace)
    assert stored is not None and "autoscalling" not in stored["spec"] and "autoscaling" not in stored["spec"]


def test_unknown_field_is_dropped_silently_without_validation(cluster: Cluster, namespace: str) -> None:
    """What the README warns about: the API server prunes it, the client hears nothing, and the
    operator cannot notice (the field never reaches storage): the service runs with 1 fixed replica."""
    proc = _create(cluster, _misspelt(), "--validate=false", namespace=namespace)
    assert proc.returncode == 0, proc.stderr
    assert "autoscalling" not in proc.stderr
    stored = cluster.get("inferenceservice", "chat", namespace)
    assert stored is not None and "autoscalling" not in stored["spec"] and "autoscaling" not in stored["spec"]
