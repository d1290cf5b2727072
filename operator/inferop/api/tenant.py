"""Tenant: a team's namespaces with their GPU/CPU/memory quota and dollar budget (cluster-scoped)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from inferop.api.common import Condition, Model, Money, Quantity, StatusModel
from inferop.api.quantity import parse_quantity

NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Requests a container gets in a tenant namespace when it names none (a ResourceQuota on cpu or
#: memory rejects pods without requests, so the LimitRange always fills them in).
DEFAULT_REQUEST_CPU = "100m"
DEFAULT_REQUEST_MEMORY = "128Mi"
MSG_DEFAULT_CPU = (
    f"spec.limitDefaults.defaultCPU must be at least defaultRequestCPU ({DEFAULT_REQUEST_CPU} when unset): "
    "a LimitRange's default limit cannot be below its default request"
)
MSG_DEFAULT_MEMORY = (
    f"spec.limitDefaults.defaultMemory must be at least defaultRequestMemory ({DEFAULT_REQUEST_MEMORY} when unset): "
    "a LimitRange's default limit cannot be below its default request"
)


def _cel_default_at_least_request(default: str, request: str, fallback: str) -> str:
    """CEL: ``self.<default>`` >= ``self.<request>`` (or ``fallback``), as Kubernetes quantities. A value
    that is not a quantity passes here: its own field rule reports it."""
    req = f"(has(self.{request}) ? string(self.{request}) : '{fallback}')"
    return (
        f"!has(self.{default}) || !isQuantity(string(self.{default})) || !isQuantity({req}) || "
        f"!quantity(string(self.{default})).isLessThan(quantity({req}))"
    )


class Quota(Model):
    gpus: Annotated[int, Field(ge=0)] | None = Field(default=None, description="GPUs across all classes.")
    gpus_per_class: dict[Annotated[str, Field(max_length=253)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        alias="gpusPerClass",
        max_length=64,
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

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": _cel_default_at_least_request("defaultCPU", "defaultRequestCPU", DEFAULT_REQUEST_CPU),
                    "message": MSG_DEFAULT_CPU,
                    "fieldPath": ".defaultCPU",
                },
                {
                    "rule": _cel_default_at_least_request(
                        "defaultMemory", "defaultRequestMemory", DEFAULT_REQUEST_MEMORY
                    ),
                    "message": MSG_DEFAULT_MEMORY,
                    "fieldPath": ".defaultMemory",
                },
            ]
        }
    )

    default_cpu: Quantity | None = Field(default=None, alias="defaultCPU")
    default_memory: Quantity | None = None
    default_request_cpu: Quantity | None = Field(default=None, alias="defaultRequestCPU")
    default_request_memory: Quantity | None = None

    @model_validator(mode="after")
    def _default_at_least_request(self) -> LimitDefaults:
        for default, request, fallback, message in (
            (self.default_cpu, self.default_request_cpu, DEFAULT_REQUEST_CPU, MSG_DEFAULT_CPU),
            (self.default_memory, self.default_request_memory, DEFAULT_REQUEST_MEMORY, MSG_DEFAULT_MEMORY),
        ):
            limit = parse_quantity(default) if default is not None else None
            floor = parse_quantity(request if request is not None else fallback)
            if limit is not None and floor is not None and limit < floor:
                raise ValueError(message)
        return self


#: Namespaces a Tenant may list only with ``spec.allowSystemNamespaces: true`` (the CEL rule and the
#: operator's runtime check share this prefix).
SYSTEM_NAMESPACE_PREFIX = "kube-"
MSG_SYSTEM_NAMESPACES = (
    "spec.namespaces: kube-* namespaces belong to Kubernetes; set spec.allowSystemNamespaces: true to list one"
)


class TenantSpec(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.allowSystemNamespaces) && self.allowSystemNamespaces)"
                    f" || self.namespaces.all(n, !n.startsWith('{SYSTEM_NAMESPACE_PREFIX}'))",
                    "message": MSG_SYSTEM_NAMESPACES,
                    "fieldPath": ".namespaces",
                }
            ]
        }
    )

    namespaces: list[Annotated[str, Field(pattern=NAMESPACE_PATTERN, max_length=63)]] = Field(
        max_length=256, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    quota: Quota = Field(default_factory=Quota)
    budget: Budget | None = None
    limit_defaults: LimitDefaults | None = None
    pod_security: Literal["privileged", "baseline", "restricted"] = Field(
        default="restricted", description="Pod Security admission level enforced on the tenant's namespaces."
    )
    allow_system_namespaces: bool = Field(
        default=False,
        description="Allow kube-* namespaces and the operator's own namespace in spec.namespaces.",
    )
    allow_system_priority_classes: bool = Field(
        default=False,
        description="Allow pods with priorityClassName system-node-critical or system-cluster-critical in the "
        "tenant's namespaces (denied by a ResourceQuota with hard pods: 0 for those classes otherwise).",
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
