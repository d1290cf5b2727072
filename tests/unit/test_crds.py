"""The generated CustomResourceDefinitions are current, valid and do what the API promises.

Covers: ``crds/`` is byte-for-byte what ``inferop crds`` generates (this fails when crds/ drifts from the
models); every CRD is a valid apiextensions.k8s.io/v1 object for Kubernetes 1.36 (the pinned control plane);
the schemas are structural (typed nodes, no $ref, no ``additionalProperties: false``, well-typed defaults);
the CEL rules exist where the API says, compile, and — evaluated with cel-python after schema defaulting, as
the API server does — accept the examples and reject bad specs with the same message as the offline validator;
the status and scale subresources point at real fields; printer columns (Ready, Replicas, P95, GPU%, $/hr,
LimitedBy, Age) resolve to schema fields; names, short names (infsvc) and scopes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from inferop.api import InvalidObject, parse_isvc
from inferop.api.crdgen import CRDS, render_crd_files
from inferop.api.quantity import parse_quantity

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
GENERATED = render_crd_files()
CRD_DOCS = {name: yaml.safe_load(text) for name, text in GENERATED.items()}
ISVC_FILE = "inferop.dev_inferenceservices.yaml"


def schema_of(file_name: str) -> dict[str, Any]:
    (version,) = CRD_DOCS[file_name]["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (properties, items and additionalProperties)."""
    yield path, schema
    for key, child in (schema.get("properties") or {}).items():
        yield from nodes(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def node_at(schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    node = schema
    for part in dotted.strip(".").split("."):
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        else:
            node = node["properties"][part]
    return node


# --- crds/ is generated --------------------------------------------------------------------------------


def test_crds_directory_is_up_to_date_with_the_models() -> None:
    on_disk = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    assert sorted(on_disk) == sorted(GENERATED), "crds/ has missing or extra files: run `make crds`"
    for name, text in GENERATED.items():
        assert on_disk[name] == text, f"crds/{name} differs from the models: run `make crds`"


def test_there_is_one_crd_per_kind_of_the_api() -> None:
    kinds = {doc["spec"]["names"]["kind"] for doc in CRD_DOCS.values()}
    assert kinds == {"InferenceService", "GPUClass", "Tenant", "CostPolicy"}


# --- valid CRDs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_crd_is_a_valid_apiextensions_v1_object(file_name: str) -> None:
    doc = CRD_DOCS[file_name]
    assert kubernetes_validate.validate(doc, "1.36", strict=True) == "1.36"
    assert doc["metadata"]["name"] == f"{doc['spec']['names']['plural']}.inferop.dev"
    (version,) = doc["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def test_kubernetes_validate_really_rejects_a_broken_crd() -> None:
    """Guard for the test above: a misspelt field must not pass strict validation."""
    doc = copy.deepcopy(CRD_DOCS[ISVC_FILE])
    doc["spec"]["versions"][0]["servd"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, "1.36", strict=True)


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_schema_is_structural(file_name: str) -> None:
    text = GENERATED[file_name]
    assert "$ref" not in text and "$defs" not in text
    for path, node in nodes(schema_of(file_name)):
        typed = "type" in node or node.get("x-kubernetes-int-or-string") or node.get(
            "x-kubernetes-preserve-unknown-fields")
        assert typed, f"{file_name}: {path or '<root>'} has no type"
        assert node.get("additionalProperties") is not False, f"{file_name}: {path} has additionalProperties: false"
        assert not ("properties" in node and "additionalProperties" in node), f"{file_name}: {path}"
        assert "title" not in node and "nullable" not in node and "const" not in node, f"{file_name}: {path}"
        if "anyOf" in node:  # only the int-or-string idiom may use anyOf
            assert node.get("x-kubernetes-int-or-string") is True, f"{file_name}: {path}"
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], f"{file_name}: {path}"
        if node.get("type") == "object" and "properties" not in node and "additionalProperties" not in node:
            assert node.get("x-kubernetes-preserve-unknown-fields") or path.endswith("metadata"), (
                f"{file_name}: {path} is an object with no fields: the API server would prune everything in it")


_PY_TYPES = {"integer": int, "string": str, "boolean": bool, "object": dict, "array": list}


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_defaults_have_the_type_and_enum_of_their_field(file_name: str) -> None:
    for path, node in nodes(schema_of(file_name)):
        if "default" not in node:
            continue
        value = node["default"]
        if "type" in node:
            assert isinstance(value, _PY_TYPES[node["type"]]) and not (
                node["type"] == "integer" and isinstance(value, bool)), f"{file_name}: {path} default {value!r}"
        if "enum" in node:
            assert value in node["enum"], f"{file_name}: {path}"


def test_money_fields_are_strings_with_a_decimal_pattern() -> None:
    price = node_at(schema_of("inferop.dev_gpuclasses.yaml"), "spec.price.perGPUHour")
    budget = node_at(schema_of("inferop.dev_tenants.yaml"), "spec.budget.hourly")
    for node in (price, budget):
        assert node["type"] == "string"
        assert re.fullmatch(node["pattern"], "4.10") and not re.fullmatch(node["pattern"], "abc")


def test_quantities_are_int_or_string_with_the_quantity_pattern() -> None:
    cpu = node_at(schema_of(ISVC_FILE), "spec.resources.cpu")
    assert cpu["x-kubernetes-int-or-string"] is True
    for good in ("500m", "16Gi", "2", "1e3"):
        assert re.fullmatch(cpu["pattern"], good), good
    for bad in ("lots", "16GB", "2 cores"):
        assert not re.fullmatch(cpu["pattern"], bad), bad


# --- CEL rules ----------------------------------------------------------------------------------------

RULES = {
    # where (in the spec) -> (rule fragment, message fragment)
    "spec": ("has(self.replicas) && has(self.autoscaling)", "mutually exclusive"),
    "spec.autoscaling": ("self.minReplicas <= self.maxReplicas", "minReplicas must be less than or equal"),
    "spec.resources.gpu": ("self.count >= 1", "count must be at least 1"),
    "spec.model": ("self.uri.matches(", "spec.model.uri must start with"),
    "spec.runtime": ("has(self.image)", "spec.runtime.image is required"),
}


@pytest.mark.parametrize("where", sorted(RULES))
def test_cel_rule_is_on_the_right_node(where: str) -> None:
    rule_part, message_part = RULES[where]
    validations = node_at(schema_of(ISVC_FILE), where).get("x-kubernetes-validations") or []
    assert any(rule_part in v["rule"] and message_part in v["message"] for v in validations), validations


@pytest.fixture(scope="module")
def celpy() -> Any:
    return pytest.importorskip("celpy", reason="cel-python (PyPI cel-python) evaluates the CRDs' CEL rules")


def with_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it before validation."""
    if isinstance(value, dict):
        out = dict(value)
        for key, child in (schema.get("properties") or {}).items():
            if key not in out and "default" in child:
                out[key] = copy.deepcopy(child["default"])
            if key in out:
                out[key] = with_defaults(child, out[key])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], v) for v in value]
    return value


def kubernetes_cel_library(celpy: Any) -> dict[str, Any]:
    """The parts of the Kubernetes CEL libraries our rules use (quantity, lists.sum), for cel-python.
    A stand-in built on our own quantity parser: the cluster tier checks the real API server's."""
    from celpy import celtypes

    def is_quantity(text: Any) -> Any:
        return celtypes.BoolType(parse_quantity(str(text)) is not None)

    def quantity(text: Any) -> Any:
        value = parse_quantity(str(text))
        if value is None:
            raise ValueError(f"not a quantity: {text}")
        return value

    return {
        "isQuantity": is_quantity,
        "quantity": quantity,
        "isLessThan": lambda a, b: celtypes.BoolType(a < b),
        "sum": lambda items: celtypes.IntType(sum(int(i) for i in items)),
    }


def cel_violations(celpy: Any, schema: dict[str, Any], value: Any) -> list[str]:
    """Evaluate every x-kubernetes-validations rule on every node present in ``value``."""
    out: list[str] = []
    env = celpy.Environment()
    for validation in schema.get("x-kubernetes-validations") or []:
        program = env.program(env.compile(validation["rule"]), functions=kubernetes_cel_library(celpy))
        if not bool(program.evaluate({"self": celpy.json_to_cel(value)})):
            out.append(validation["message"])
    if isinstance(value, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key in value:
                out += cel_violations(celpy, child, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            out += cel_violations(celpy, schema["items"], item)
    return out


def api_server_cel(celpy: Any, spec: dict[str, Any], file_name: str = ISVC_FILE) -> list[str]:
    spec_schema = schema_of(file_name)["properties"]["spec"]
    return cel_violations(celpy, spec_schema, with_defaults(spec_schema, spec))


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_every_cel_rule_compiles(celpy: Any, file_name: str) -> None:
    env = celpy.Environment()
    rules = [v["rule"] for _, node in nodes(schema_of(file_name)) for v in node.get("x-kubernetes-validations", [])]
    for rule in rules:
        env.compile(rule)
    if file_name == ISVC_FILE:
        assert len(rules) >= 5


def test_cel_accepts_every_example(celpy: Any, example_docs: dict[str, list[dict[str, Any]]]) -> None:
    files = {"InferenceService": ISVC_FILE, "Tenant": "inferop.dev_tenants.yaml",
             "CostPolicy": "inferop.dev_costpolicies.yaml", "GPUClass": "inferop.dev_gpuclasses.yaml"}
    for name, docs in example_docs.items():
        for doc in docs:
            assert api_server_cel(celpy, doc["spec"], files[doc["kind"]]) == [], name


GOOD_SPECS = [
    {"model": {"uri": "hf://a/b"}},
    {"model": {"uri": "s3://bucket/m"}, "replicas": 0},
    {"model": {"uri": "pvc://claim/dir"}, "autoscaling": {"maxReplicas": 1}},
    {"model": {"uri": "oci://r/m:1"}, "autoscaling": {"minReplicas": 3, "maxReplicas": 3}},
    {"model": {"uri": "hf://a/b"}, "resources": {"gpu": {"class": "h100"}}},
    {"model": {"uri": "https://h/m"}, "runtime": {"name": "custom", "image": "img:1"}},
]
BAD_SPECS = [
    ({"model": {"uri": "hf://a/b"}, "replicas": 1, "autoscaling": {"maxReplicas": 2}},
     "spec.replicas and spec.autoscaling are mutually exclusive: set one of them"),
    ({"model": {"uri": "hf://a/b"}, "autoscaling": {"minReplicas": 4, "maxReplicas": 2}},
     "spec.autoscaling.minReplicas must be less than or equal to maxReplicas"),
    ({"model": {"uri": "hf://a/b"}, "autoscaling": {"minReplicas": 1000, "maxReplicas": 999}},
     "spec.autoscaling.minReplicas must be less than or equal to maxReplicas"),
    ({"model": {"uri": "hf://a/b"}, "resources": {"gpu": {"class": "h100", "count": 0}}},
     "spec.resources.gpu.count must be at least 1 when a GPU class is given"),
    ({"model": {"uri": "ftp://host/m"}},
     "spec.model.uri must start with hf://, s3://, gs://, pvc://, oci://, http:// or https://"),
    ({"model": {"uri": "hf://has space"}},
     "spec.model.uri must start with hf://, s3://, gs://, pvc://, oci://, http:// or https://"),
    ({"model": {"uri": "hf://a/b"}, "runtime": {"name": "custom"}},
     "spec.runtime.image is required when spec.runtime.name is custom"),
]


@pytest.mark.parametrize("spec", GOOD_SPECS)
def test_cel_and_the_offline_validator_accept_the_same_good_specs(celpy: Any, spec: dict[str, Any]) -> None:
    assert api_server_cel(celpy, spec) == []
    parse_isvc({"metadata": {"name": "x"}, "spec": spec})


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_cel_rejects_bad_specs_with_the_offline_validators_message(celpy: Any, spec: dict[str, Any],
                                                                  message: str) -> None:
    assert api_server_cel(celpy, spec) == [message]
    with pytest.raises(InvalidObject) as info:
        parse_isvc({"metadata": {"name": "x"}, "spec": spec})
    assert str(info.value) == message


# --- subresources, printer columns, names ---------------------------------------------------------------


def test_inferenceservice_has_status_and_scale_subresources_pointing_at_real_fields() -> None:
    (version,) = CRD_DOCS[ISVC_FILE]["spec"]["versions"]
    sub = version["subresources"]
    assert sub["status"] == {}
    scale = sub["scale"]
    schema = schema_of(ISVC_FILE)
    assert node_at(schema, scale["specReplicasPath"])["type"] == "integer"
    assert node_at(schema, scale["statusReplicasPath"])["type"] == "integer"
    assert node_at(schema, scale["labelSelectorPath"])["type"] == "string"


@pytest.mark.parametrize(("file_name", "has_status"), [
    ("inferop.dev_tenants.yaml", True), ("inferop.dev_gpuclasses.yaml", False),
    ("inferop.dev_costpolicies.yaml", False)])
def test_status_subresource_exactly_where_there_is_a_status(file_name: str, has_status: bool) -> None:
    (version,) = CRD_DOCS[file_name]["spec"]["versions"]
    assert ("status" in version.get("subresources", {})) is has_status
    assert ("status" in schema_of(file_name)["properties"]) is has_status
    assert "scale" not in version.get("subresources", {})


def test_inferenceservice_printer_columns() -> None:
    (version,) = CRD_DOCS[ISVC_FILE]["spec"]["versions"]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names == [
        "Ready", "Replicas", "P95", "InSLO%", "GPU%", "$/hr", "LimitedBy", "ScaledToZero", "LastRequest", "Age"
    ]
    ready = version["additionalPrinterColumns"][0]
    assert ready["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    age = version["additionalPrinterColumns"][-1]
    assert (age["type"], age["jsonPath"]) == ("date", ".metadata.creationTimestamp")


@pytest.mark.parametrize("file_name", sorted(GENERATED))
def test_printer_columns_point_at_fields_of_the_schema(file_name: str) -> None:
    (version,) = CRD_DOCS[file_name]["spec"]["versions"]
    schema = schema_of(file_name)
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"]
        if path.startswith(".metadata."):
            continue
        dotted = re.sub(r"\[\?\(.*?\)\]", "[]", path)  # a filter on a list selects its items
        node = node_at(schema, dotted)
        if column["type"] == "integer":
            assert node["type"] == "integer", f"{file_name}: column {column['name']}"


@pytest.mark.parametrize(("kind", "short", "scope"), [
    ("InferenceService", "infsvc", "Namespaced"), ("GPUClass", "gpuc", "Cluster"),
    ("Tenant", "tnt", "Cluster"), ("CostPolicy", "cpol", "Cluster")])
def test_names_and_scope(kind: str, short: str, scope: str) -> None:
    (doc,) = [d for d in CRD_DOCS.values() if d["spec"]["names"]["kind"] == kind]
    names = doc["spec"]["names"]
    assert short in names["shortNames"] and "inferop" in names["categories"]
    assert names["singular"] == kind.lower() and names["listKind"] == f"{kind}List"
    assert doc["spec"]["scope"] == scope and doc["spec"]["group"] == "inferop.dev"


def test_every_crd_in_the_registry_is_generated() -> None:
    assert {f"inferop.dev_{c.plural}.yaml" for c in CRDS} == set(GENERATED)
