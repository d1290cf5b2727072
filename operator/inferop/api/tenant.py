"""Tenant: a team's namespaces with their GPU/CPU/memory quota and dollar budget (cluster-scoped)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from inferop.api.common import Condition, Model, Money, Quantity, StatusModel

NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Quota(Model):
    gpus: Annotated[int, Field(ge=0)] | None = Field(default=None, description="GPUs across all classes.")
    gpus_per_class: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        alias="gpusPerClass",
        description="At most this many GPUs of one GPUClass (enforced by inferop's clamp, not by a ResourceQuota).",
    )
    cpu: Quantity | None = None
    memory: Quantity | None = None
    inference_services: Annotated[int, Field(ge=0)] | None = None


class Budget(Model):
    hourly: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"


class LimitDefaults(Model):
    """LimitRange defaults for containers in the tenant's namespaces."""

    default_cpu: Quantity | None = Field(default=None, alias="defaultCPU")
    default_memory: Quantity | None = None
    default_request_cpu: Quantity | None = Field(default=None, alias="defaultRequestCPU")
    default_request_memory: Quantity | None = None


class TenantSpec(Model):
    namespaces: list[Annotated[str, Field(pattern=NAMESPACE_PATTERN, max_length=63)]] = Field(
        max_length=256, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    quota: Quota = Field(default_factory=Quota)
    budget: Budget | None = None
    limit_defaults: LimitDefaults | None = None
    pod_security: Literal["privileged", "baseline", "restricted"] = Field(
        default="restricted", description="Pod Security admission level enforced on the tenant's namespaces."
    )


class TenantUsage(StatusModel):
    gpus: int | None = None
    hourly: str | None = None


class TenantStatus(StatusModel):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    usage: TenantUsage | None = None


class Tenant(Model):
    """A Tenant object as read from a file or the API."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["inferop.dev/v1alpha1"] = "inferop.dev/v1alpha1"
    kind: Literal["Tenant"] = "Tenant"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: TenantSpec

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))
