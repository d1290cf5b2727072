"""Generate the CustomResourceDefinitions from the pydantic models (the single source of truth).

Pure: returns dicts; ``inferop crds`` writes them to ``crds/``. The conversion turns pydantic's JSON
Schema into a Kubernetes *structural* schema: ``$ref`` inlined, ``Optional`` unwrapped, ``title`` and
``additionalProperties: false`` dropped (structural schemas forbid the latter: the API server prunes
unknown fields, and rejects them only for clients that ask for strict field validation, as kubectl
does by default), ``propertyNames`` bounds turned into CEL, CEL rules kept.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from inferop.api.common import GROUP, VERSION
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.gpuclass import GPUClassSpec
from inferop.api.inferenceservice import (
    MAX_SCALE_TO_ZERO_NAME,
    MSG_NAME,
    MSG_S2Z_NAME,
    NAME_PATTERN,
    InferenceServiceSpec,
    InferenceServiceStatus,
)
from inferop.api.tenant import TenantSpec, TenantStatus


@dataclass(frozen=True)
class CRD:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    scope: str
    spec: type[BaseModel]
    status: type[BaseModel] | None
    printer_columns: tuple[dict[str, str], ...] = ()
    scale: bool = False
    #: CEL rules on the whole object (e.g. on metadata.name).
    root_rules: tuple[dict[str, str], ...] = ()
    description: str = ""
    extra_status: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

CRDS: tuple[CRD, ...] = (
    CRD(
        kind="InferenceService",
        plural="inferenceservices",
        short_names=("infsvc",),
        scope="Namespaced",
        spec=InferenceServiceSpec,
        status=InferenceServiceStatus,
        scale=True,
        root_rules=(
            {
                "rule": f"self.metadata.name.matches('{NAME_PATTERN}') && size(self.metadata.name) <= 63",
                "message": MSG_NAME,
            },
            {
                "rule": "!has(self.spec.autoscaling) || !has(self.spec.autoscaling.scaleToZero)"
                f" || size(self.metadata.name) <= {MAX_SCALE_TO_ZERO_NAME}",
                "message": MSG_S2Z_NAME,
            },
        ),
        description="An AI inference service: one model, served at the lowest cost that meets its latency SLO.",
        printer_columns=(
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
            {
                "name": "P95",
                "type": "string",
                "jsonPath": ".status.signals.latencyMilliseconds",
                "description": "Observed latency percentile of the SLO, in milliseconds",
            },
            {
                "name": "InSLO%",
                "type": "number",
                "jsonPath": ".status.signals.sloAttainmentPercent",
                "description": "Percent of recent requests within the SLO target (what the cost controller judges)",
            },
            {"name": "GPU%", "type": "integer", "jsonPath": ".status.signals.gpuUtilizationPercent"},
            {"name": "$/hr", "type": "string", "jsonPath": ".status.cost.hourly"},
            {"name": "LimitedBy", "type": "string", "jsonPath": ".status.autoscaling.limitedBy"},
            {
                "name": "ScaledToZero",
                "type": "boolean",
                "jsonPath": ".status.autoscaling.scaledToZero",
                "description": "At zero replicas: requests wait in the activator for the first replica",
            },
            {
                "name": "LastRequest",
                "type": "date",
                "jsonPath": ".status.autoscaling.lastRequestTime",
                "description": "The last request seen (coarse)",
            },
            _AGE,
        ),
    ),
    CRD(
        kind="GPUClass",
        plural="gpuclasses",
        short_names=("gpuc",),
        scope="Cluster",
        spec=GPUClassSpec,
        status=None,
        description="A kind of GPU: which nodes, which extended resource, what price.",
        printer_columns=(
            {"name": "Resource", "type": "string", "jsonPath": ".spec.resourceName"},
            {"name": "$/GPU-hr", "type": "string", "jsonPath": ".spec.price.perGPUHour"},
            {"name": "Memory", "type": "integer", "jsonPath": ".spec.memoryGiB"},
            _AGE,
        ),
    ),
    CRD(
        kind="Tenant",
        plural="tenants",
        short_names=("tnt",),
        scope="Cluster",
        spec=TenantSpec,
        status=TenantStatus,
        description="A team's namespaces, with their GPU/CPU/memory quota and dollar budget.",
        printer_columns=(
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "GPUs", "type": "integer", "jsonPath": ".status.usage.gpus"},
            {"name": "Quota", "type": "integer", "jsonPath": ".spec.quota.gpus"},
            {"name": "$/hr", "type": "string", "jsonPath": ".status.usage.hourly"},
            {"name": "Budget", "type": "string", "jsonPath": ".spec.budget.hourly"},
            _AGE,
        ),
    ),
    CRD(
        kind="CostPolicy",
        plural="costpolicies",
        short_names=("cpol",),
        scope="Cluster",
        spec=CostPolicySpec,
        status=None,
        description="How aggressively the cost controller scales.",
        printer_columns=(
            {"name": "Interval", "type": "integer", "jsonPath": ".spec.intervalSeconds"},
            {"name": "Headroom%", "type": "integer", "jsonPath": ".spec.sloHeadroomPercent"},
            _AGE,
        ),
    ),
)


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and turn pydantic's JSON Schema into a structural OpenAPI v3 schema."""
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        merged = {**copy.deepcopy(target), **node}
        return _resolve(merged, defs)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return _resolve({**options[0], **rest}, defs)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    node.pop("title", None)
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    if "default" in node and node["default"] is None:
        node.pop("default")
    if node.get("type") == "object" and "default" in node and node["default"] == {}:
        node.pop("default")
    if "propertyNames" in node:
        # Structural schemas have no propertyNames: a bound on map keys becomes a CEL rule.
        names = node.pop("propertyNames")
        if set(names) - {"type", "maxLength"}:
            raise ValueError(f"cannot express propertyNames {names} in a structural schema")
        if "maxLength" in names:
            limit = names["maxLength"]
            rule = {"rule": f"self.all(k, size(k) <= {limit})", "message": f"keys must be at most {limit} characters"}
            node["x-kubernetes-validations"] = [*node.get("x-kubernetes-validations", []), rule]
    if "enum" in node and "type" not in node:
        node["type"] = "integer" if all(isinstance(v, int) for v in node["enum"]) else "string"
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {k: _resolve(v, defs) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf"):
            out[key] = _resolve(value, defs)
        else:
            out[key] = value
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    return out


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _resolve(raw, defs)
    return schema


def build_crd(crd: CRD) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": structural_schema(crd.spec),
    }
    subresources: dict[str, Any] = {}
    if crd.status is not None:
        properties["status"] = structural_schema(crd.status)
        subresources["status"] = {}
    if crd.scale:
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "description": crd.description,
                "required": ["spec"],
                "properties": properties,
                **({"x-kubernetes-validations": list(crd.root_rules)} if crd.root_rules else {}),
            }
        },
        "additionalPrinterColumns": list(crd.printer_columns),
    }
    if subresources:
        version["subresources"] = subresources
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": crd.name,
            "labels": {"app.kubernetes.io/name": "inferop", "app.kubernetes.io/part-of": "inferop"},
        },
        "spec": {
            "group": GROUP,
            "scope": crd.scope,
            "names": {
                "kind": crd.kind,
                "listKind": f"{crd.kind}List",
                "plural": crd.plural,
                "singular": crd.kind.lower(),
                "shortNames": list(crd.short_names),
                "categories": ["inferop"],
            },
            "versions": [version],
        },
    }


def render_crd_files() -> dict[str, str]:
    """File name -> YAML text, exactly as committed in ``crds/``."""
    header = "# Generated by `inferop crds` from the pydantic models in operator/inferop/api. Do not edit.\n"
    return {
        f"{GROUP}_{crd.plural}.yaml": header + yaml.safe_dump(build_crd(crd), sort_keys=False, width=120)
        for crd in CRDS
    }
