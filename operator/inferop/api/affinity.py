"""The Kubernetes core/v1 ``Affinity`` schema, encoded here, to check ``spec.scheduling.affinity``.

The CRD keeps the affinity free-form (``x-kubernetes-preserve-unknown-fields``: the Affinity schema is
large and changes between Kubernetes versions), so the API server accepts any keys in it. Server-side
apply of the Deployment then fails on an unknown key with HTTP 500 "field not declared in schema".
``affinity_problem`` finds such a problem before anything is applied and names the field path, so the
service reports ``Ready=False, reason: InvalidSpec``.

Encoded by hand because this layer is pure (no ``kubernetes`` import, see the import-linter contracts);
``tests/unit/test_affinity.py`` checks the encoding against the kubernetes client's generated models
(``V1Affinity.openapi_types``/``attribute_map``), so a new Kubernetes field shows up as a test failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A type: "str", "int", ("list", T), ("map", T) or a schema name in ``SCHEMAS``.
Type = str | tuple[str, Any]

SCHEMAS: dict[str, dict[str, Type]] = {
    "Affinity": {
        "nodeAffinity": "NodeAffinity",
        "podAffinity": "PodAffinity",
        "podAntiAffinity": "PodAntiAffinity",
    },
    "NodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": "NodeSelector",
        "preferredDuringSchedulingIgnoredDuringExecution": ("list", "PreferredSchedulingTerm"),
    },
    "NodeSelector": {"nodeSelectorTerms": ("list", "NodeSelectorTerm")},
    "NodeSelectorTerm": {
        "matchExpressions": ("list", "NodeSelectorRequirement"),
        "matchFields": ("list", "NodeSelectorRequirement"),
    },
    "NodeSelectorRequirement": {"key": "str", "operator": "str", "values": ("list", "str")},
    "PreferredSchedulingTerm": {"weight": "int", "preference": "NodeSelectorTerm"},
    "PodAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": ("list", "PodAffinityTerm"),
        "preferredDuringSchedulingIgnoredDuringExecution": ("list", "WeightedPodAffinityTerm"),
    },
    "PodAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": ("list", "PodAffinityTerm"),
        "preferredDuringSchedulingIgnoredDuringExecution": ("list", "WeightedPodAffinityTerm"),
    },
    "PodAffinityTerm": {
        "labelSelector": "LabelSelector",
        "namespaceSelector": "LabelSelector",
        "namespaces": ("list", "str"),
        "topologyKey": "str",
        "matchLabelKeys": ("list", "str"),
        "mismatchLabelKeys": ("list", "str"),
    },
    "WeightedPodAffinityTerm": {"weight": "int", "podAffinityTerm": "PodAffinityTerm"},
    "LabelSelector": {
        "matchLabels": ("map", "str"),
        "matchExpressions": ("list", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {"key": "str", "operator": "str", "values": ("list", "str")},
}


def _check(value: Any, typ: Type, where: str) -> str | None:
    if value is None:
        return None  # JSON null: the API server treats it as absent
    if isinstance(typ, tuple):
        container, item = typ
        if container == "list":
            if not isinstance(value, list):
                return f"{where}: must be a list"
            for i, entry in enumerate(value):
                problem = _check(entry, item, f"{where}[{i}]")
                if problem:
                    return problem
            return None
        if not isinstance(value, Mapping):
            return f"{where}: must be an object"
        for key, entry in value.items():
            problem = _check(entry, item, f"{where}.{key}")
            if problem:
                return problem
        return None
    if typ == "str":
        return None if isinstance(value, str) else f"{where}: must be a string"
    if typ == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{where}: must be an integer"
    if not isinstance(value, Mapping):
        return f"{where}: must be an object"
    fields = SCHEMAS[typ]
    for key, entry in value.items():
        if key not in fields:
            return f"{where}.{key}: unknown field (allowed in {typ}: {', '.join(fields)})"
        problem = _check(entry, fields[key], f"{where}.{key}")
        if problem:
            return problem
    return None


def affinity_problem(affinity: Any, where: str = "spec.scheduling.affinity") -> str | None:
    """The first place where ``affinity`` does not fit the core/v1 Affinity schema, as
    "<field path>: <what is wrong>", or None when it fits. Values (operators, weights) are left to the API server."""
    return _check(affinity, "Affinity", where)
