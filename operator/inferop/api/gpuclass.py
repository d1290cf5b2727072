"""GPUClass: one kind of GPU, the unit of placement, price and quota (cluster-scoped)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from inferop.api.common import Model, Money, Toleration

RESOURCE_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$"
)


class Price(Model):
    """What one GPU of this class costs per hour."""

    per_gpu_hour: Money = Field(alias="perGPUHour")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"


class GPUClassSpec(Model):
    """Which nodes and which extended resource a GPU class means, and its price."""

    resource_name: Annotated[str, Field(pattern=RESOURCE_NAME_PATTERN, max_length=253)] = Field(
        default="nvidia.com/gpu",
        description="The extended resource requested per GPU, e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb.",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Labels a node must carry, e.g. nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3.",
    )
    tolerations: list[Toleration] = Field(default_factory=list)
    memory_gi_b: Annotated[int, Field(ge=1)] | None = Field(default=None, alias="memoryGiB")
    price: Price | None = None


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
