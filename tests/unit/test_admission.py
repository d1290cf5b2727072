"""Offline, the same admission rules as the API server (issue 17, items 2, 3 and 7), and the guards
behind them.

Covers: a GPUClass ``resourceName`` must be an extended resource (the pydantic validator and the CEL
rule, evaluated with cel-python, agree and carry the same message); the Deployment and ResourceQuota
builders refuse to write a GPU count under a native resource even for a GPUClass that bypassed
validation (stored before the rule); quantities are non-negative and a LimitRange default is at least
its default request (including the implicit 100m / 128Mi); args and env are bounded; kopf's diff-base
is stored as a short digest without annotations and still tells a change from none.
"""

from __future__ import annotations

import json
from typing import Any

import kopf
import pytest

from inferop.api import InvalidObject, parse_gpuclass, parse_isvc
from inferop.api.gpuclass import MSG_RESOURCE_NAME, GPUClass, GPUClassSpec, is_extended_resource_name
from inferop.api.inferenceservice import InferenceService
from inferop.api.tenant import MSG_DEFAULT_CPU, MSG_DEFAULT_MEMORY, TenantSpec
from inferop.api.validation import parse_tenant
from inferop.diffbase import DigestDiffBaseStorage, digest
from inferop.render import RenderError, render_all
from inferop.render.quota import build_resource_quota
from tests.unit.test_crds import api_server_cel

BAD_RESOURCES = [
    "cpu",
    "memory",
    "pods",
    "ephemeral-storage",
    "hugepages-2Mi",
    "kubernetes.io/foo",
    "example.kubernetes.io/gpu",
    "requests.foo",
    "requests.nvidia.com/gpu",
]
GOOD_RESOURCES = ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "amd.com/gpu", "gpu.intel.com/i915"]
GPUCLASS_FILE = "inferop.dev_gpuclasses.yaml"
TENANT_FILE = "inferop.dev_tenants.yaml"


@pytest.fixture(scope="module")
def celpy() -> Any:
    return pytest.importorskip("celpy")


@pytest.mark.parametrize("resource", BAD_RESOURCES)
def test_native_resource_names_are_rejected_offline_and_by_cel_with_one_message(celpy: Any, resource: str) -> None:
    assert not is_extended_resource_name(resource)
    with pytest.raises(InvalidObject) as info:
        parse_gpuclass({"metadata": {"name": "g"}, "spec": {"resourceName": resource}})
    assert str(info.value) == MSG_RESOURCE_NAME
    assert api_server_cel(celpy, {"resourceName": resource}, GPUCLASS_FILE) == [MSG_RESOURCE_NAME]


@pytest.mark.parametrize("resource", GOOD_RESOURCES)
def test_extended_resource_names_are_accepted(celpy: Any, resource: str) -> None:
    assert is_extended_resource_name(resource)
    assert (
        parse_gpuclass({"metadata": {"name": "g"}, "spec": {"resourceName": resource}}).spec.resource_name == resource
    )
    assert api_server_cel(celpy, {"resourceName": resource}, GPUCLASS_FILE) == []


def _unvalidated_gpuclass(resource: str) -> GPUClass:
    """A GPUClass as one stored before the CRD rule would be if it reached a builder unvalidated."""
    spec = GPUClassSpec.model_construct(resource_name=resource, node_selector={}, tolerations=[], price=None)
    return GPUClass.model_construct(metadata={"name": "old"}, spec=spec)


@pytest.mark.parametrize("resource", ["memory", "cpu", "pods", "ephemeral-storage", "kubernetes.io/x"])
def test_deployment_never_puts_a_gpu_count_under_a_native_resource(
    llm_example: InferenceService, resource: str
) -> None:
    doc = llm_example.dump()
    doc["spec"]["resources"]["gpu"]["class"] = "old"
    isvc = parse_isvc(doc)
    with pytest.raises(RenderError) as info:
        render_all(isvc, {"old": _unvalidated_gpuclass(resource)})
    assert info.value.reason == "InvalidGPUClass"
    assert info.value.field == "spec.resources.gpu.class"
    assert 'GPUClass "old" is invalid' in info.value.message and resource in info.value.message


@pytest.mark.parametrize("resource", ["memory", "cpu", "pods", "requests.x/y"])
def test_quota_never_puts_a_gpu_count_under_a_native_key(resource: str) -> None:
    spec = TenantSpec.model_validate({"namespaces": ["a"], "quota": {"gpus": 4, "cpu": "8", "memory": "32Gi"}})
    with pytest.raises(RenderError, match=resource):
        build_resource_quota("t", spec, "a", ["nvidia.com/gpu", resource])
    hard = build_resource_quota("t", spec, "a", ["nvidia.com/gpu", "amd.com/gpu"])["spec"]["hard"]
    assert hard == {
        "requests.nvidia.com/gpu": "4",
        "requests.amd.com/gpu": "4",
        "requests.cpu": "8",
        "requests.memory": "32Gi",
    }


# --- quantities ------------------------------------------------------------------------------------------

NEGATIVE = 'must be a non-negative quantity, e.g. "500m", "2" or "16Gi"'


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"quota": {"cpu": "-5"}}, "spec.quota.cpu"),
        ({"quota": {"memory": -1}}, "spec.quota.memory"),
        ({"limitDefaults": {"defaultRequestCPU": "-100m"}}, "spec.limitDefaults.defaultRequestCPU"),
    ],
)
def test_negative_tenant_quantities_are_rejected_naming_the_field(celpy: Any, spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidObject) as info:
        parse_tenant({"metadata": {"name": "t"}, "spec": {"namespaces": ["a"], **spec}})
    assert info.value.field == field and info.value.message == NEGATIVE
    assert NEGATIVE in api_server_cel(celpy, {"namespaces": ["a"], **spec}, TENANT_FILE)


@pytest.mark.parametrize("cpu", ["-500m", -1, "-0.5"])
def test_negative_service_cpu_is_rejected(cpu: Any) -> None:
    with pytest.raises(InvalidObject) as info:
        parse_isvc({"metadata": {"name": "s"}, "spec": {"model": {"uri": "hf://a/b"}, "resources": {"cpu": cpu}}})
    assert info.value.field == "spec.resources.cpu" and info.value.message == NEGATIVE


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"defaultCPU": "100m", "defaultRequestCPU": "200m"}, MSG_DEFAULT_CPU),
        ({"defaultCPU": "500m", "defaultRequestCPU": 1}, MSG_DEFAULT_CPU),
        ({"defaultCPU": "50m"}, MSG_DEFAULT_CPU),
        ({"defaultMemory": "1Gi", "defaultRequestMemory": "2Gi"}, MSG_DEFAULT_MEMORY),
        ({"defaultMemory": "64Mi"}, MSG_DEFAULT_MEMORY),
    ],
)
def test_limit_default_below_its_request_is_rejected_offline_and_by_cel(
    celpy: Any, defaults: dict[str, Any], message: str
) -> None:
    spec = {"namespaces": ["a"], "limitDefaults": defaults}
    with pytest.raises(InvalidObject) as info:
        parse_tenant({"metadata": {"name": "t"}, "spec": spec})
    assert str(info.value) == message
    assert api_server_cel(celpy, spec, TENANT_FILE) == [message]


@pytest.mark.parametrize(
    "defaults",
    [
        {"defaultCPU": "2", "defaultRequestCPU": "500m", "defaultMemory": "4Gi", "defaultRequestMemory": "4Gi"},
        {"defaultCPU": 1, "defaultRequestCPU": "1000m"},
        {"defaultMemory": "128Mi"},
        {"defaultRequestCPU": "250m"},
    ],
)
def test_limit_defaults_at_or_above_the_request_are_accepted(celpy: Any, defaults: dict[str, Any]) -> None:
    spec = {"namespaces": ["a"], "limitDefaults": defaults}
    parse_tenant({"metadata": {"name": "t"}, "spec": spec})
    assert api_server_cel(celpy, spec, TENANT_FILE) == []


# --- sizes -----------------------------------------------------------------------------------------------


def _runtime(**runtime: Any) -> dict[str, Any]:
    return {"metadata": {"name": "s"}, "spec": {"model": {"uri": "hf://a/b"}, "runtime": runtime}}


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        ({"args": ["x" * (32 * 1024 + 1)]}, "spec.runtime.args[0]"),
        ({"args": ["-v"] * 257}, "spec.runtime.args"),
        ({"env": [{"name": "A", "value": "x" * (32 * 1024 + 1)}]}, "spec.runtime.env[0].value"),
        ({"env": [{"name": "N" * 257}]}, "spec.runtime.env[0].name"),
    ],
)
def test_oversize_args_and_env_are_rejected_naming_the_field(runtime: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidObject) as info:
        parse_isvc(_runtime(**runtime))
    assert info.value.field == field


def test_args_and_env_together_are_bounded_with_the_cel_message(celpy: Any) -> None:
    from inferop.api.inferenceservice import MSG_RUNTIME_TOTAL

    runtime = {"args": ["a" * 30_000] * 3, "env": [{"name": "B", "value": "b" * 30_000}] * 2}
    with pytest.raises(InvalidObject) as info:
        parse_isvc(_runtime(**runtime))
    assert str(info.value) == MSG_RUNTIME_TOTAL
    assert api_server_cel(celpy, {"model": {"uri": "hf://a/b"}, "runtime": runtime}) == [MSG_RUNTIME_TOTAL]
    fits = {"args": ["a" * 30_000] * 2, "env": [{"name": "B", "value": "b" * 30_000}] * 2}
    assert api_server_cel(celpy, {"model": {"uri": "hf://a/b"}, "runtime": fits}) == []
    parse_isvc(_runtime(**fits))


# --- kopf's diff-base ------------------------------------------------------------------------------------


def _body(spec: dict[str, Any], annotations: dict[str, str] | None = None, **meta: Any) -> kopf.Body:
    raw = {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "s", "namespace": "n", "annotations": annotations or {}, **meta},
        "spec": spec,
    }
    return kopf.Body(raw)


def _stored(storage: DigestDiffBaseStorage, body: kopf.Body) -> dict[str, str]:
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    return dict(patch.get("metadata", {}).get("annotations", {}))


def test_diffbase_stores_a_short_digest_whatever_the_size_of_the_object() -> None:
    storage = DigestDiffBaseStorage(prefix="inferop.dev", key="last-handled-configuration")
    huge = _body({"runtime": {"args": ["x" * 100_000]}}, {f"example.com/n{i}": "n" * 4000 for i in range(50)})
    written = _stored(storage, huge)
    assert sum(len(k) + len(v) for k, v in written.items()) < 200, written
    assert written["inferop.dev/last-handled-configuration"].startswith("sha256:")


def test_diffbase_tells_a_spec_change_from_none_and_ignores_annotations() -> None:
    storage = DigestDiffBaseStorage(prefix="inferop.dev", key="last-handled-configuration")
    body = _body({"replicas": 1}, {"example.com/a": "1"})
    annotations = {**body.metadata.annotations, **_stored(storage, body)}

    same = _body({"replicas": 1}, {**annotations, "example.com/b": "new"})
    assert storage.fetch(body=same) == storage.build(body=same)  # unchanged: no update handlers

    changed = _body({"replicas": 2}, annotations)
    old = storage.fetch(body=changed)
    assert old is not None and old != storage.build(body=changed)  # changed: kopf calls the update handlers

    assert storage.fetch(body=_body({"replicas": 1})) is None  # never handled: creation


def test_diffbase_reads_what_kopfs_own_storage_wrote() -> None:
    storage = DigestDiffBaseStorage(prefix="inferop.dev", key="last-handled-configuration")
    legacy = {"spec": {"replicas": 1}}
    body = _body({"replicas": 1}, {"inferop.dev/last-handled-configuration": json.dumps(legacy) + "\n"})
    assert storage.fetch(body=body) == legacy


def test_diffbase_writes_nothing_while_the_object_is_being_deleted() -> None:
    storage = DigestDiffBaseStorage(prefix="inferop.dev", key="last-handled-configuration")
    deleting = _body({"replicas": 1}, deletionTimestamp="2026-01-01T00:00:00Z")
    assert _stored(storage, deleting) == {}


def test_digest_does_not_depend_on_key_order() -> None:
    assert digest({"a": 1, "b": {"c": 2, "d": 3}}) == digest({"b": {"d": 3, "c": 2}, "a": 1})


def test_diffbase_writes_nothing_when_the_users_annotations_leave_no_room() -> None:
    storage = DigestDiffBaseStorage(prefix="inferop.dev", key="last-handled-configuration")
    key = "example.com/fill"
    full = _body({"replicas": 1}, {key: "n" * (256 * 1024 - len(key) - 64)})
    assert _stored(storage, full) == {}
    roomy = _body({"replicas": 1}, {key: "n" * (256 * 1024 - len(key) - 512)})
    assert set(_stored(storage, roomy)) == {"inferop.dev/last-handled-configuration", "inferop.dev/kopf-managed"}
