"""``spec.scheduling.affinity`` checked against the core/v1 Affinity schema before anything is applied.

Covers: the hand-encoded schema (``inferop.api.affinity.SCHEMAS``) is the one of the kubernetes client's
generated models (walked through ``openapi_types``/``attribute_map``), so a field a new Kubernetes adds
fails here; valid affinities pass; an unknown key, a wrong type or a list where an object belongs is
named by its full field path; ``parse_isvc`` turns it into an InvalidObject (Ready=False, InvalidSpec).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from inferop.api import InvalidObject, parse_isvc
from inferop.api.affinity import SCHEMAS, affinity_problem

ROOT = Path(__file__).resolve().parents[2]


def _walk(model: str, seen: dict[str, dict[str, Any]]) -> None:
    if model in seen:
        return
    cls = getattr(k8s, model)
    fields: dict[str, Any] = {}
    seen[model] = fields
    for attr, typ in cls.openapi_types.items():
        wire = cls.attribute_map[attr]
        fields[wire] = _type(typ, seen)


def _type(typ: str, seen: dict[str, dict[str, Any]]) -> Any:
    if typ == "str":
        return "str"
    if typ == "int":
        return "int"
    if m := re.fullmatch(r"[Ll]ist\[(.+)\]", typ):
        return ("list", _type(m.group(1), seen))
    if m := re.fullmatch(r"[Dd]ict\[str, (.+)\]|dict\(str, (.+)\)", typ):
        return ("map", _type(m.group(1) or m.group(2), seen))
    _walk(typ, seen)
    return typ.removeprefix("V1")


def test_the_encoded_schema_is_the_kubernetes_clients() -> None:
    seen: dict[str, dict[str, Any]] = {}
    _walk("V1Affinity", seen)
    generated = {name.removeprefix("V1"): fields for name, fields in seen.items()}
    assert generated == SCHEMAS


VALID: dict[str, Any] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]
        },
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": []}]}}
        ],
    },
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app": "chat"}},
                    "matchLabelKeys": ["pod-template-hash"],
                },
            }
        ]
    },
}


def test_a_valid_affinity_passes() -> None:
    assert affinity_problem(VALID) is None
    assert affinity_problem(None) is None
    assert affinity_problem({}) is None


@pytest.mark.parametrize(
    ("affinity", "expected"),
    [
        ({"nodeAffinity": {"foo": 1}}, "spec.scheduling.affinity.nodeAffinity.foo: unknown field"),
        ({"nodeAfinity": {}}, "spec.scheduling.affinity.nodeAfinity: unknown field"),
        (
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"x": []}]}}},
            "spec.scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ".nodeSelectorTerms[0].x: unknown field",
        ),
        (
            {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"topologyKey": "zone"}}},
            "spec.scheduling.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution: must be a list",
        ),
        (
            {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": "high"}]}},
            "spec.scheduling.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: "
            "must be an integer",
        ),
        ({"nodeAffinity": []}, "spec.scheduling.affinity.nodeAffinity: must be an object"),
    ],
)
def test_a_misfit_is_named_by_its_field_path(affinity: dict[str, Any], expected: str) -> None:
    problem = affinity_problem(affinity)
    assert problem is not None and problem.startswith(expected), problem


def test_parse_isvc_reports_the_field() -> None:
    body = yaml.safe_load((ROOT / "examples" / "llm-vllm.yaml").read_text())
    body["metadata"]["namespace"] = "a"
    parse_isvc(body)
    body["spec"]["scheduling"] = {"affinity": {"nodeAffinity": {"foo": "bar"}}}
    with pytest.raises(InvalidObject) as err:
        parse_isvc(body)
    assert str(err.value).startswith("spec.scheduling.affinity.nodeAffinity.foo: unknown field")
