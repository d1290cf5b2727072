"""The chart's values contract, without Helm: values.schema.json is closed everywhere (a misspelt key is an
error, not a silently ignored setting), accepts the defaults and every ci/ variant, rejects what the API
server would reject (floats for money, unknown CostPolicy/GPUClass fields); its generated parts and
crds-src/ match crds/ and the models; every value is documented in the chart's README."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from inferop.api.crdgen import render_crd_files

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "inferop"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
VARIANTS = sorted((CHART / "ci").glob("*-values.yaml"))


def chart_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chart_check", ROOT / "hack" / "chart_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def merged(override: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Helm's value merge: maps merge recursively, anything else replaces."""
    out = copy.deepcopy(base if base is not None else DEFAULTS)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(value, out[key])
        else:
            out[key] = value
    return out


def errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]


def object_schemas(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from object_schemas(item, f"{where}/{i}")


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_object_in_the_schema_is_closed() -> None:
    open_objects = [
        where
        for where, node in object_schemas(SCHEMA)
        if node.get("additionalProperties") is not False and where != ""  # root checked below
    ]
    assert SCHEMA["additionalProperties"] is False
    assert open_objects == []


def test_every_free_form_map_constrains_its_values() -> None:
    """Maps (labels, annotations, nodeSelector, gpuClasses) say what their values are."""
    assert SCHEMA["$defs"]["stringMap"]["additionalProperties"] == {"type": "string"}
    assert SCHEMA["properties"]["gpuClasses"]["additionalProperties"] == {"$ref": "#/$defs/gpuClassSpec"}
    for key in ("podAnnotations", "podLabels", "nodeSelector"):
        assert SCHEMA["properties"][key] == {"$ref": "#/$defs/stringMap"}
    # The one open object: Helm's .Values.global, which every chart receives.
    assert "properties" not in SCHEMA["properties"]["global"]


def test_defaults_are_valid() -> None:
    assert errors(DEFAULTS) == []


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda p: p.name)
def test_every_ci_variant_is_valid(variant: Path) -> None:
    assert errors(merged(yaml.safe_load(variant.read_text()))) == []


GPU = {"resourceName": "nvidia.com/gpu", "price": {"perGPUHour": "4.10", "currency": "USD"}}


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"image": {"tagg": "v1"}}, "'tagg' was unexpected"),
        ({"crds": {"instal": False}}, "'instal' was unexpected"),
        ({"resources": {"request": {"cpu": "1"}}}, "'request' was unexpected"),
        ({"serviceMonitor": {"enable": True}}, "'enable' was unexpected"),
        ({"costPolicy": {"spec": {"intervalSecond": 10}}}, "'intervalSecond' was unexpected"),
        ({"costPolicy": {"spec": {"intervalSeconds": 1}}}, "1 is less than the minimum of 5"),
        ({"costPolicy": {"spec": {"onMissingMetrics": "ScaleDown"}}}, "'ScaleDown' is not one of ['Hold']"),
        ({"gpuClasses": {"h100": {**GPU, "prce": {}}}}, "'prce' was unexpected"),
        ({"gpuClasses": {"h100": {**GPU, "price": {"perGPUHour": 4.1}}}}, "4.1 is not of type 'string'"),
        ({"gpuClasses": {"H100": GPU}}, "'H100' does not match"),
        ({"tolerations": [{"key": "a", "efect": "NoSchedule"}]}, "'efect' was unexpected"),
        ({"extraEnv": [{"name": "A", "valu": "b"}]}, "'valu' was unexpected"),
        ({"prometheus": {"url": "prometheus:9090"}}, "does not match"),
        ({"image": {"digest": "sha256:abc"}}, "does not match"),
        ({"serviceMonitor": {"enabled": True, "interval": "30 seconds"}}, "does not match"),
    ],
)
def test_mistakes_are_rejected(override: dict[str, Any], fragment: str) -> None:
    found = errors(merged(override))
    assert any(fragment in e for e in found), found


def test_gpuclass_values_accept_the_examples() -> None:
    docs = list(yaml.safe_load_all((ROOT / "examples" / "gpuclasses.yaml").read_text()))
    assert errors(merged({"gpuClasses": {d["metadata"]["name"]: d["spec"] for d in docs}})) == []


def test_default_costpolicy_is_the_example() -> None:
    example = yaml.safe_load((ROOT / "examples" / "costpolicy-default.yaml").read_text())
    assert DEFAULTS["costPolicy"]["spec"] == example["spec"]
    assert DEFAULTS["costPolicy"]["name"] == example["metadata"]["name"] == "default"


def test_crds_src_is_a_copy_of_crds_and_of_the_models() -> None:
    generated = render_crd_files()
    copies = {p.name: p.read_text() for p in (CHART / "crds-src").glob("*.yaml")}
    repo = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    assert copies == generated, "charts/inferop/crds-src/ drifted: run `.venv/bin/python hack/chart_check.py sync`"
    assert copies == repo


def test_generated_parts_of_the_schema_are_in_sync() -> None:
    assert chart_check().sync(check=True) == []


def test_sync_notices_a_drifted_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = chart_check()
    schema = json.loads((CHART / "values.schema.json").read_text())
    schema["$defs"]["gpuClassSpec"]["properties"].pop("memoryGiB")
    drifted = tmp_path / "values.schema.json"
    drifted.write_text(json.dumps(schema, indent=2) + "\n")
    monkeypatch.setattr(module, "VALUES_SCHEMA", drifted)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "CRDS_SRC", CHART / "crds-src")
    monkeypatch.setattr(module, "crd_files", lambda: {p.name: p.read_text() for p in (CHART / "crds-src").glob("*")})
    assert module.sync(check=True) == ["values.schema.json"]


def leaf_keys(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("spec", "requests", "limits"):
            yield from leaf_keys(value, f"{path}.")
        else:
            yield path


def test_every_value_is_in_the_readme_table() -> None:
    readme = (CHART / "README.md").read_text()
    missing = [key for key in leaf_keys(DEFAULTS) if f"`{key}`" not in readme]
    assert missing == []
