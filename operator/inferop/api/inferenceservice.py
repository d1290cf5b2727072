"""InferenceService: one model served behind one Service, at a fixed size or autoscaled to an SLO.

Pure data and validation. Cross-field rules are written twice on purpose, in one place each: as CEL
(``x-kubernetes-validations``, enforced by the API server) and as a pydantic validator (enforced by
``inferop render`` offline), both carrying the same message.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from inferop.api.affinity import affinity_problem
from inferop.api.common import (
    MAX_SELECTOR_ENTRIES,
    Condition,
    FreeForm,
    IntOrString,
    LabelKey,
    LabelValue,
    Model,
    Quantity,
    StatusModel,
    Toleration,
)

RUNTIMES = ("vllm", "tgi", "triton", "kserve", "torchserve", "custom")
RuntimeName = Literal["vllm", "tgi", "triton", "kserve", "torchserve", "custom"]
URI_SCHEMES = ("hf", "s3", "gs", "pvc", "oci", "http", "https")
URI_PATTERN = r"^(hf|s3|gs|pvc|oci|https?)://[^\s]+$"
QUANTIZATIONS = ("awq", "gptq", "fp8", "bitsandbytes", "int8", "int4")

# Messages shared by CEL and the offline validators.
MSG_REPLICAS_XOR = "spec.replicas and spec.autoscaling are mutually exclusive: set one of them"
MSG_MIN_LE_MAX = "spec.autoscaling.minReplicas must be less than or equal to maxReplicas"
MSG_GPU_COUNT = "spec.resources.gpu.count must be at least 1 when a GPU class is given"
MSG_URI = "spec.model.uri must start with hf://, s3://, gs://, pvc://, oci://, http:// or https://"
MSG_CUSTOM_IMAGE = "spec.runtime.image is required when spec.runtime.name is custom"
MSG_ZERO_NEEDS_S2Z = "spec.autoscaling.minReplicas may be 0 only with spec.autoscaling.scaleToZero"
MSG_S2Z_NEEDS_ZERO = "spec.autoscaling.scaleToZero needs spec.autoscaling.minReplicas: 0"
#: ``<name>-pods`` (the pods Service of a scale-to-zero service) must be a DNS-1035 label too.
MAX_SCALE_TO_ZERO_NAME = 58
MSG_S2Z_NAME = (
    f"metadata.name must be at most {MAX_SCALE_TO_ZERO_NAME} characters with spec.autoscaling.scaleToZero: "
    "the pods Service <name>-pods must fit in 63"
)

# Size bounds of what a user passes to the model server. Generous for real inference servers: vLLM,
# TGI and Triton take a few dozen flags, and the largest single values seen in practice (an inline
# chat template, a JSON --hf-overrides or --override-generation-config, a PEM certificate in an env
# var) are a few KiB each. They keep one InferenceService (and the Deployment that copies its args and
# env) far below the API server's 256 KiB annotation and ~1.5 MiB object limits, so that no user can
# make an object the operator's bookkeeping or a Deployment apply cannot write.
MAX_ARGS = 256
MAX_ARG_LENGTH = 32 * 1024
MAX_ENV = 256
MAX_ENV_NAME_LENGTH = 256
MAX_ENV_VALUE_LENGTH = 32 * 1024
#: args and env values together (the sum of their lengths).
MAX_RUNTIME_TOTAL = 128 * 1024
MAX_IMAGE_LENGTH = 1024
MSG_RUNTIME_TOTAL = (
    f"spec.runtime.args and spec.runtime.env values must be at most {MAX_RUNTIME_TOTAL // 1024} KiB together; "
    "mount large configuration from a ConfigMap instead"
)
CEL_RUNTIME_TOTAL = (
    "(has(self.args) ? self.args.map(a, size(a)).sum() : 0) + "
    "(has(self.env) ? self.env.map(e, has(e.value) ? size(e.value) : 0).sum() : 0) "
    f"<= {MAX_RUNTIME_TOTAL}"
)


def cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    out: JsonDict = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


class ModelSource(Model):
    """Where the model comes from and how it is stored."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [cel(f"self.uri.matches(r'{URI_PATTERN}')", MSG_URI, ".uri")]}
    )

    uri: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="hf://org/name, s3://bucket/path, gs://bucket/path, pvc://claim/path, oci://image, http(s)://url"
    )
    format: Annotated[str, Field(max_length=63)] | None = Field(
        default=None, description="Model format, e.g. safetensors, onnx, tensorrt, torchscript."
    )
    quantization: Literal["awq", "gptq", "fp8", "bitsandbytes", "int8", "int4"] | None = None

    @field_validator("uri")
    @classmethod
    def _uri_scheme(cls, value: str) -> str:
        if not re.match(URI_PATTERN, value):
            raise ValueError(MSG_URI)
        return value


class EnvVar(Model):
    name: Annotated[str, Field(min_length=1, max_length=MAX_ENV_NAME_LENGTH, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    value: Annotated[str, Field(max_length=MAX_ENV_VALUE_LENGTH)] = ""


class Runtime(Model):
    """Which server runs the model: a built-in profile, optionally overridden."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.name != 'custom' || has(self.image)", MSG_CUSTOM_IMAGE),
                cel(CEL_RUNTIME_TOTAL, MSG_RUNTIME_TOTAL),
            ]
        }
    )

    name: RuntimeName = "vllm"
    image: Annotated[str, Field(min_length=1, max_length=MAX_IMAGE_LENGTH)] | None = None
    args: list[Annotated[str, Field(max_length=MAX_ARG_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_ARGS, description="Extra arguments appended to the profile's."
    )
    env: list[EnvVar] = Field(default_factory=list, max_length=MAX_ENV)
    port: Annotated[int, Field(ge=1, le=65535)] | None = None

    @model_validator(mode="after")
    def _custom_needs_image(self) -> Runtime:
        if self.name == "custom" and not self.image:
            raise ValueError(MSG_CUSTOM_IMAGE)
        return self

    @model_validator(mode="after")
    def _bounded_total(self) -> Runtime:
        if sum(map(len, self.args)) + sum(len(e.value) for e in self.env) > MAX_RUNTIME_TOTAL:
            raise ValueError(MSG_RUNTIME_TOTAL)
        return self


class GPURequest(Model):
    """GPUs per replica; count > 1 means tensor/model parallelism inside one replica."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [cel("self.count >= 1", MSG_GPU_COUNT, ".count")]}
    )

    class_: Annotated[str, Field(min_length=1, max_length=253)] = Field(alias="class")
    count: Annotated[int, Field(le=64)] = 1

    @model_validator(mode="after")
    def _count_positive(self) -> GPURequest:
        if self.count < 1:
            raise ValueError(MSG_GPU_COUNT)
        return self


class Resources(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: GPURequest | None = None


class LatencySLO(Model):
    metric: Literal["e2e", "ttft", "itl"] = Field(
        default="e2e", description="e2e: whole request; ttft: time to first token; itl: inter-token latency."
    )
    percentile: Literal[50, 90, 95, 99] = 95
    target_milliseconds: Annotated[int, Field(ge=1, le=3_600_000)]


class SLO(Model):
    latency: LatencySLO


class Targets(Model):
    gpu_utilization_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    queue_depth_per_replica: Annotated[int, Field(ge=1, le=10_000)] | None = None


PromQL = Annotated[str, Field(min_length=1, max_length=4096)]


class QueryOverrides(Model):
    """Per-service PromQL replacing the batched query for one signal. Each must return one series in
    the signal's unit; ``{namespace}``, ``{name}`` and ``{window}`` are substituted."""

    latency_milliseconds: PromQL | None = None
    queue_depth_per_replica: PromQL | None = None
    request_rate: PromQL | None = None
    gpu_utilization_percent: PromQL | None = None


MSG_CAPACITY_RATE = (
    'spec.autoscaling.capacity.requestsPerSecondPerReplica must be a positive decimal number, e.g. "2.5"'
)
MSG_CAPACITY_EMPTY = "spec.autoscaling.capacity must set tokensPerSecondPerReplica or requestsPerSecondPerReplica"
DECIMAL_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$"


class CapacityPrior(Model):
    """What one ready replica serves while the SLO holds, from the user's own benchmark: the planner's
    prior until it has learned the capacity from the service's own observations."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.tokensPerSecondPerReplica) || has(self.requestsPerSecondPerReplica)", MSG_CAPACITY_EMPTY)
            ]
        }
    )

    tokens_per_second_per_replica: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        default=None, description="Prompt plus generated tokens per second one replica serves within the SLO."
    )
    requests_per_second_per_replica: Annotated[str, Field(pattern=DECIMAL_PATTERN, max_length=32)] | None = Field(
        default=None, description="Requests per second one replica serves within the SLO (a decimal string)."
    )

    @field_validator("requests_per_second_per_replica")
    @classmethod
    def _positive_rate(cls, value: str | None) -> str | None:
        if value is not None and (not re.match(DECIMAL_PATTERN, value) or float(value) <= 0):
            raise ValueError(MSG_CAPACITY_RATE)
        return value

    @model_validator(mode="after")
    def _one_set(self) -> CapacityPrior:
        if self.tokens_per_second_per_replica is None and self.requests_per_second_per_replica is None:
            raise ValueError(MSG_CAPACITY_EMPTY)
        return self

    def per_replica(self, unit: str) -> float | None:
        """The prior in ``unit`` ("tokens" or "requests"), or None when it does not give that unit."""
        if unit == "tokens":
            return None if self.tokens_per_second_per_replica is None else float(self.tokens_per_second_per_replica)
        return None if self.requests_per_second_per_replica is None else float(self.requests_per_second_per_replica)


class ScaleToZero(Model):
    """Scale to zero replicas after ``idleSeconds`` without a request; the activator holds requests
    while the first replica starts (docs/activator.md)."""

    idle_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] = Field(
        default=300, description="Seconds without a request (and no forecast load) before going to zero."
    )
    max_held_requests: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000, description="Requests the activator holds per replica of it while at zero; more get 503."
    )
    hold_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=300, description="A held request gets 504 after this long; keep it above the cold start."
    )


class Autoscaling(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.minReplicas <= self.maxReplicas", MSG_MIN_LE_MAX),
                cel("self.minReplicas != 0 || has(self.scaleToZero)", MSG_ZERO_NEEDS_S2Z),
                cel("!has(self.scaleToZero) || self.minReplicas == 0", MSG_S2Z_NEEDS_ZERO),
            ]
        }
    )

    min_replicas: Annotated[int, Field(ge=0, le=1000)] = Field(
        default=1, description="The floor; 0 only with scaleToZero (the operator then owns the way to zero)."
    )
    max_replicas: Annotated[int, Field(ge=1, le=1000)]
    slo: SLO | None = None
    targets: Targets | None = None
    mode: Literal["Enforce", "Recommend"] = "Enforce"
    policy: Annotated[str, Field(min_length=1, max_length=253)] = "default"
    queries: QueryOverrides | None = Field(
        default=None, description="Per-service PromQL overrides (for custom runtimes or unusual labels)."
    )
    capacity: CapacityPrior | None = Field(
        default=None, description="The capacity per replica at the SLO, from your own benchmark (the planner's prior)."
    )
    scale_to_zero: ScaleToZero | None = Field(
        default=None, description="Go to zero replicas when idle (needs minReplicas: 0 and the activator)."
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(MSG_MIN_LE_MAX)
        return self

    @model_validator(mode="after")
    def _zero_iff_scale_to_zero(self) -> Autoscaling:
        if self.min_replicas == 0 and self.scale_to_zero is None:
            raise ValueError(MSG_ZERO_NEEDS_S2Z)
        if self.scale_to_zero is not None and self.min_replicas != 0:
            raise ValueError(MSG_S2Z_NEEDS_ZERO)
        return self

    @property
    def floor(self) -> int:
        """The fewest replicas while serving: the HPA's and the planner's floor (never 0: an HPA cannot
        hold zero; going to zero and back is the operator's, ``inferop.cost.zero``)."""
        return max(1, self.min_replicas)


class Scheduling(Model):
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=MAX_SELECTOR_ENTRIES)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=MAX_SELECTOR_ENTRIES)
    affinity: FreeForm | None = None
    priority_class_name: Annotated[str, Field(max_length=253)] | None = None

    @field_validator("affinity")
    @classmethod
    def _affinity_fits_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # Free-form in the CRD; an unknown key would make server-side apply fail with HTTP 500.
        problem = affinity_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Rollout(Model):
    max_surge: IntOrString | None = None
    max_unavailable: IntOrString | None = None


class InferenceServiceSpec(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [cel("!(has(self.replicas) && has(self.autoscaling))", MSG_REPLICAS_XOR)]
        }
    )

    model: ModelSource
    runtime: Runtime = Field(default_factory=Runtime)
    resources: Resources = Field(default_factory=Resources)
    replicas: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="Fixed number of replicas (1 when neither replicas nor autoscaling is set)."
    )
    autoscaling: Autoscaling | None = None
    scheduling: Scheduling = Field(default_factory=Scheduling)
    rollout: Rollout = Field(default_factory=Rollout)

    @model_validator(mode="after")
    def _replicas_xor_autoscaling(self) -> InferenceServiceSpec:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError(MSG_REPLICAS_XOR)
        return self

    @property
    def scale_to_zero(self) -> ScaleToZero | None:
        """The scale-to-zero settings, or None for a service that never goes to zero."""
        return self.autoscaling.scale_to_zero if self.autoscaling is not None else None

    @property
    def fixed_replicas(self) -> int | None:
        """The replicas the operator sets on the Deployment, or None when an HPA owns them."""
        if self.autoscaling is not None:
            return None
        return 1 if self.replicas is None else self.replicas


class Decision(StatusModel):
    time: str | None = None
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None
    reason: str | None = None
    message: str | None = None
    inputs: FreeForm | None = None


class CapacityStatus(StatusModel):
    """The planner's capacity estimate per ready replica at the SLO."""

    per_replica: float | None = None
    unit: Literal["tokens", "requests"] | None = None
    lower: float | None = Field(default=None, description="The highest load per replica seen within the SLO.")
    upper: float | None = Field(default=None, description="The lowest load per replica seen breaching the SLO.")
    source: Literal["prior", "learned"] | None = None
    points: int | None = Field(default=None, description="How many steady intervals the estimate rests on.")


class ForecastStatus(StatusModel):
    """The planner's load forecast over the horizon (cold start plus the decision interval)."""

    load: float | None = None
    upper: float | None = None
    horizon_seconds: float | None = None
    unit: Literal["tokens", "requests"] | None = None


class AutoscalingStatus(StatusModel):
    desired_replicas: int | None = None
    limited_by: str | None = None
    last_decision: Decision | None = None
    recent_decisions: list[Decision] = Field(default_factory=list)
    capacity: CapacityStatus | None = None
    forecast: ForecastStatus | None = None
    scaled_to_zero: bool | None = Field(
        default=None, description="True while the service is at zero replicas (requests wait in the activator)."
    )
    scaled_to_zero_at: str | None = Field(default=None, description="When the service last went to zero.")
    last_request_time: str | None = Field(
        default=None,
        description="The last request seen (Prometheus, or the activator's activation annotation); coarse.",
    )


class CostStatus(StatusModel):
    hourly: str | None = Field(default=None, description="Price per hour now; absent when unknown (see unknownReason).")
    currency: str | None = None
    unknown_reason: str | None = Field(
        default=None, description="Why the cost is unknown (e.g. the GPUClass was deleted); unknown is not zero."
    )


class Signals(StatusModel):
    """The last observed signals, in integers for the printer columns."""

    latency_milliseconds: int | None = None
    gpu_utilization_percent: int | None = None
    queue_depth: int | None = None
    slo_attainment_percent: float | None = Field(
        default=None, description="Percent of the rate window's requests that finished within the SLO target."
    )


class InferenceServiceStatus(StatusModel):
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    replicas: int | None = None
    ready_replicas: int | None = None
    selector: str | None = Field(default=None, description="Label selector of the pods, for the scale subresource.")
    url: str | None = None
    autoscaling: AutoscalingStatus | None = None
    cost: CostStatus | None = None
    signals: Signals | None = None


NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MSG_NAME = (
    "metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, "
    "at most 63 characters): it names the Service"
)


class InferenceService(Model):
    """An InferenceService object as read from a file or the API."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="after")
    def _name_is_dns_label(self) -> InferenceService:
        name = self.metadata.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 63 or not re.match(NAME_PATTERN, name)):
            raise ValueError(MSG_NAME)
        if isinstance(name, str) and self.spec.scale_to_zero is not None and len(name) > MAX_SCALE_TO_ZERO_NAME:
            raise ValueError(MSG_S2Z_NAME)
        return self

    api_version: Literal["inferop.dev/v1alpha1"] = "inferop.dev/v1alpha1"
    kind: Literal["InferenceService"] = "InferenceService"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: InferenceServiceSpec

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")
