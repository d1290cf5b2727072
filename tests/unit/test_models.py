"""The API models validate what users write, offline, the way the API server will.

Covers: every object in examples/ parses and keeps every field its author wrote; the cross-field rules
(replicas xor autoscaling, minReplicas <= maxReplicas, GPU count >= 1, custom runtime needs an image)
reject bad specs with our own message; the model URI scheme; unknown fields; money as a decimal string;
quantities and integers typed as the CRD types them. Errors are ``InvalidObject`` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from inferop.api import CostPolicySpec, InvalidObject, TenantSpec, parse_gpuclass, parse_isvc
from inferop.api.inferenceservice import InferenceService

MakeIsvc = Callable[..., InferenceService]
IsvcDoc = Callable[..., dict[str, Any]]


def reject(doc: dict[str, Any]) -> InvalidObject:
    with pytest.raises(InvalidObject) as info:
        parse_isvc(doc)
    return info.value


def written_fields_survive(written: Any, parsed: Any, where: str = "spec") -> None:
    """Every field the author wrote is in the parsed wire form with the same value and type."""
    if isinstance(written, dict):
        assert isinstance(parsed, dict), where
        for key, value in written.items():
            assert key in parsed, f"{where}.{key} was dropped by the model"
            written_fields_survive(value, parsed[key], f"{where}.{key}")
    elif isinstance(written, list):
        assert isinstance(parsed, list) and len(parsed) == len(written), where
        for i, (w, p) in enumerate(zip(written, parsed, strict=True)):
            written_fields_survive(w, p, f"{where}[{i}]")
    elif isinstance(written, str) and isinstance(parsed, int) and not isinstance(parsed, bool):
        # A quantity field is int | str: "2" may come back as 2, which renders to the same manifest.
        assert str(parsed) == written, f"{where}: {written!r} became {parsed!r}"
    else:
        assert type(parsed) is type(written) and parsed == written, f"{where}: {written!r} became {parsed!r}"


# --- examples ---------------------------------------------------------------------------------------


def test_examples_directory_has_every_kind(example_docs: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {doc["kind"] for docs in example_docs.values() for doc in docs}
    assert kinds == {"InferenceService", "GPUClass", "Tenant", "CostPolicy"}


def test_every_example_parses_and_keeps_what_its_author_wrote(
    example_docs: dict[str, list[dict[str, Any]]],
) -> None:
    parsers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "InferenceService": lambda d: parse_isvc(d).spec.dump(),
        "GPUClass": lambda d: parse_gpuclass(d).spec.dump(),
        "Tenant": lambda d: TenantSpec.model_validate(d["spec"]).dump(),
        "CostPolicy": lambda d: CostPolicySpec.model_validate(d["spec"]).dump(),
    }
    checked = 0
    for name, docs in example_docs.items():
        for doc in docs:
            assert doc["apiVersion"] == "inferop.dev/v1alpha1", name
            parsed = parsers[doc["kind"]](doc)
            written_fields_survive(doc["spec"], parsed, f"{name}: spec")
            checked += 1
    assert checked >= 6


def test_fixed_replicas_default_to_one_and_autoscaling_leaves_them_to_the_hpa(make_isvc: MakeIsvc) -> None:
    assert make_isvc({}).spec.fixed_replicas == 1
    assert make_isvc({"replicas": 0}).spec.fixed_replicas == 0
    assert make_isvc({"replicas": 3}).spec.fixed_replicas == 3
    assert make_isvc({"autoscaling": {"maxReplicas": 3}}).spec.fixed_replicas is None


# --- cross-field rules ---------------------------------------------------------------------------------


def test_replicas_and_autoscaling_together_are_rejected(isvc_doc: IsvcDoc) -> None:
    err = reject(isvc_doc({"replicas": 2, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}))
    assert "spec.replicas and spec.autoscaling are mutually exclusive" in str(err)


@pytest.mark.parametrize(("low", "high", "ok"), [(1, 1, True), (2, 5, True), (4, 3, False), (10, 1, False)])
def test_min_replicas_must_not_exceed_max_replicas(make_isvc: MakeIsvc, isvc_doc: IsvcDoc, low: int, high: int,
                                                   ok: bool) -> None:
    spec = {"autoscaling": {"minReplicas": low, "maxReplicas": high}}
    if ok:
        auto = make_isvc(spec).spec.autoscaling
        assert auto is not None and (auto.min_replicas, auto.max_replicas) == (low, high)
    else:
        err = reject(isvc_doc(spec))
        assert "spec.autoscaling.minReplicas must be less than or equal to maxReplicas" in str(err)


def test_min_replicas_defaults_to_one_so_max_alone_is_enough(make_isvc: MakeIsvc) -> None:
    auto = make_isvc({"autoscaling": {"maxReplicas": 2}}).spec.autoscaling
    assert auto is not None and auto.min_replicas == 1 and auto.mode == "Enforce" and auto.policy == "default"


@pytest.mark.parametrize("count", [0, -1])
def test_gpu_count_below_one_is_rejected(isvc_doc: IsvcDoc, count: int) -> None:
    err = reject(isvc_doc({"resources": {"gpu": {"class": "h100", "count": count}}}))
    assert "spec.resources.gpu.count must be at least 1" in str(err)


def test_gpu_count_defaults_to_one_and_is_capped(make_isvc: MakeIsvc, isvc_doc: IsvcDoc) -> None:
    gpu = make_isvc({"resources": {"gpu": {"class": "h100"}}}).spec.resources.gpu
    assert gpu is not None and gpu.count == 1 and gpu.class_ == "h100"
    err = reject(isvc_doc({"resources": {"gpu": {"class": "h100", "count": 65}}}))
    assert err.field == "spec.resources.gpu.count"


def test_custom_runtime_requires_an_image(make_isvc: MakeIsvc, isvc_doc: IsvcDoc) -> None:
    err = reject(isvc_doc({"runtime": {"name": "custom"}}))
    assert "spec.runtime.image is required when spec.runtime.name is custom" in str(err)
    ok = make_isvc({"runtime": {"name": "custom", "image": "registry.example/server:1"}})
    assert ok.spec.runtime.image == "registry.example/server:1"


def test_unknown_runtime_is_rejected_naming_the_field(isvc_doc: IsvcDoc) -> None:
    err = reject(isvc_doc({"runtime": {"name": "ollama"}}))
    assert err.field == "spec.runtime.name"


# --- single fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["hf://org/model", "s3://bucket/path", "gs://bucket/path", "pvc://claim/dir",
                                 "oci://registry.example/models/llama:1", "http://host/m.tar", "https://host/m"])
def test_every_documented_uri_scheme_is_accepted(make_isvc: MakeIsvc, uri: str) -> None:
    assert make_isvc({"model": {"uri": uri}}).spec.model.uri == uri


@pytest.mark.parametrize("uri", ["ftp://host/model", "meta-llama/Llama-3", "hf://", "s3://bucket/with space",
                                 "HF://org/model", "file:///models"])
def test_bad_uri_is_rejected_naming_spec_model_uri(isvc_doc: IsvcDoc, uri: str) -> None:
    err = reject(isvc_doc({"model": {"uri": uri}}))
    assert str(err).startswith("spec.model.uri")
    assert "hf://" in str(err)  # the message says which schemes work


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"replica": 2}, "spec.replica"),
        ({"autoscaling": {"maxReplicas": 2, "targetLatency": 5}}, "spec.autoscaling.targetLatency"),
        ({"model": {"uri": "hf://a/b", "revision": "main"}}, "spec.model.revision"),
        ({"scheduling": {"tolerations": [{"key": "a", "operater": "Exists"}]}},
         "spec.scheduling.tolerations[0].operater"),
    ],
)
def test_unknown_fields_are_rejected_naming_them(isvc_doc: IsvcDoc, spec: dict[str, Any], field: str) -> None:
    err = reject(isvc_doc(spec))
    assert err.field == field
    assert str(err).startswith(field)


def test_the_error_says_how_many_more_problems_there_are(isvc_doc: IsvcDoc) -> None:
    err = reject(isvc_doc({"replicas": -1, "bogus": 1}))
    assert "(and 1 more problem)" in str(err)


def test_objects_read_from_the_api_may_carry_metadata_and_status(isvc_doc: IsvcDoc) -> None:
    doc = {**isvc_doc({}), "status": {"observedGeneration": 3}}
    doc["metadata"] |= {"uid": "u-1", "generation": 3, "managedFields": []}
    assert parse_isvc(doc).name == "svc"


# --- money -------------------------------------------------------------------------------------------


def gpuclass_with_price(price: Any) -> dict[str, Any]:
    return {"apiVersion": "inferop.dev/v1alpha1", "kind": "GPUClass", "metadata": {"name": "g"},
            "spec": {"price": {"perGPUHour": price}}}


@pytest.mark.parametrize("price", ["4.1", "4.10", "0", "12", "0.000001"])
def test_money_as_a_decimal_string_is_accepted(price: str) -> None:
    cls = parse_gpuclass(gpuclass_with_price(price))
    assert cls.spec.price is not None and cls.spec.price.per_gpu_hour == price  # kept exactly, not re-rounded


@pytest.mark.parametrize("price", [4.1, 4, "abc", "-1", "1.1234567", "4,10", "$4"])
def test_money_that_is_not_a_decimal_string_is_rejected(price: Any) -> None:
    with pytest.raises(InvalidObject) as info:
        parse_gpuclass(gpuclass_with_price(price))
    assert info.value.field == "spec.price.perGPUHour"


def test_tenant_budget_is_money_too() -> None:
    assert TenantSpec.model_validate({"namespaces": ["a"], "budget": {"hourly": "60.00"}}).budget is not None
    with pytest.raises(ValueError):
        TenantSpec.model_validate({"namespaces": ["a"], "budget": {"hourly": 60.0}})


# --- quantities and integers: offline validation must not accept what the API server rejects ------------


@pytest.mark.parametrize("cpu", ["500m", "2", 4, "1.5", "16Gi", "1e3"])
def test_valid_quantities_are_accepted(make_isvc: MakeIsvc, cpu: Any) -> None:
    assert str(make_isvc({"resources": {"cpu": cpu}}).spec.resources.cpu) == str(cpu)


@pytest.mark.parametrize("cpu", ["lots", "2 cores", "16GB"])
def test_malformed_quantity_is_rejected_naming_the_field(isvc_doc: IsvcDoc, cpu: str) -> None:
    err = reject(isvc_doc({"resources": {"cpu": cpu}}))
    assert err.field == "spec.resources.cpu"


def test_fractional_number_for_a_quantity_names_the_field_not_a_union_branch(isvc_doc: IsvcDoc) -> None:
    err = reject(isvc_doc({"resources": {"cpu": 4.5}}))
    assert err.field == "spec.resources.cpu"


@pytest.mark.parametrize("replicas", ["3", True])
def test_non_integer_replicas_are_rejected_as_the_api_server_does(isvc_doc: IsvcDoc, replicas: Any) -> None:
    err = reject(isvc_doc({"replicas": replicas}))
    assert err.field == "spec.replicas"
