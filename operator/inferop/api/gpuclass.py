"""GPUClass: one kind of GPU, the unit of placement, price and quota (cluster-scoped)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from inferop.api.common import MAX_SELECTOR_ENTRIES, LabelKey, LabelValue, Model, Money, Toleration

RESOURCE_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$"
)
_RESOURCE_NAME_RE = re.compile(RESOURCE_NAME_PATTERN)
MSG_RESOURCE_NAME = (
    "spec.resourceName must be an extended resource name with a domain prefix, e.g. nvidia.com/gpu or "
    "amd.com/gpu: not cpu, memory, pods, ephemeral-storage, hugepages-*, a kubernetes.io/ name or requests.*"
)
#: Kubernetes' IsExtendedResourceName: a domain prefix ("/") that is not kubernetes.io's, and no
#: "requests." prefix (a quota key). Everything else (cpu, memory, pods, hugepages-2Mi) is a native
#: resource: a GPU count written under it replaces the user's CPU or memory and every Tenant's quota.
CEL_RESOURCE_NAME = "self.contains('/') && !self.contains('kubernetes.io/') && !self.startsWith('requests.')"


def is_extended_resource_name(name: str) -> bool:
    """What ``CEL_RESOURCE_NAME`` admits (plus the pattern): the only names a GPU count may be written under."""
    return (
        "/" in name
        and "kubernetes.io/" not in name
        and not name.startswith("requests.")
        and len(name) <= 253
        and _RESOURCE_NAME_RE.fullmatch(name) is not None
    )


class Price(Model):
    """What one GPU of this class costs per hour."""

    per_gpu_hour: Money = Field(alias="perGPUHour")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"


class GPUClassSpec(Model):
    """Which nodes and which extended resource a GPU class means, and its price."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": CEL_RESOURCE_NAME.replace("self", "self.resourceName"),
                    "message": MSG_RESOURCE_NAME,
                    "fieldPath": ".resourceName",
                },
            ]
        }
    )

    resource_name: Annotated[str, Field(pattern=RESOURCE_NAME_PATTERN, max_length=253)] = Field(
        default="nvidia.com/gpu",
        description="The extended resource requested per GPU, e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb "
        "(a domain-prefixed extended resource: never cpu, memory or a kubernetes.io/ name).",
    )
    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_SELECTOR_ENTRIES,
        description="Labels a node must carry, e.g. nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3.",
    )
    tolerations: list[Toleration] = Field(default_factory=list, max_length=MAX_SELECTOR_ENTRIES)
    memory_gi_b: Annotated[int, Field(ge=1)] | None = Field(default=None, alias="memoryGiB")
    price: Price | None = None

    @field_validator("resource_name")
    @classmethod
    def _extended_resource(cls, value: str) -> str:
        if not is_extended_resource_name(value):
            raise ValueError(MSG_RESOURCE_NAME)
        return value


class GPUClass(Model):
    """A GPUClass object (apiVersion inferop.dev/v1alpha1, kind GPUClass)."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["inferop.dev/v1alpha1"] = "inferop.dev/v1alpha1"
    kind: Literal["GPUClass"] = "GPUClass"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: GPUClassSpec

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))
