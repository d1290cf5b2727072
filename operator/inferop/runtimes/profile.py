"""The shape of a runtime profile (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

#: The unit a service's load is measured in (``cost.state.LoadUnit``): tokens per second where the
#: runtime exports token counters, requests per second where it does not.
LoadUnit = Literal["tokens", "requests"]
#: Seconds from a pod's creation to Ready when nothing was measured yet (the planner's forecast horizon
#: starts from it; ``cost.coldstart`` replaces it with the median of the service's own pods).
DEFAULT_COLD_START_SECONDS = 120.0

#: Where the model is placed when a storage initializer or PVC provides it.
MODEL_DIR = "/mnt/models"


class UnsupportedByRuntime(ValueError):
    """A spec field the chosen runtime cannot honour; the message names the field and the fix."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path


@dataclass(frozen=True)
class Probe:
    path: str
    port: str = "http"  # a named container port
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    failure_threshold: int = 3
    timeout_seconds: int = 5


@dataclass(frozen=True)
class Histogram:
    """A Prometheus histogram: ``<name>_bucket`` with ``le`` in ``unit`` seconds (1.0, 0.001 for ms)."""

    name: str
    unit_seconds: float = 1.0


@dataclass(frozen=True)
class MeanLatency:
    """A latency known only as a sum/count pair of counters (no percentiles)."""

    sum_counter: str
    count_counter: str
    unit_seconds: float


@dataclass(frozen=True)
class MetricSeries:
    path: str = "/metrics"
    port: str = "http"
    #: SLO metric (e2e, ttft, itl) -> histogram.
    latency: Mapping[str, Histogram] = field(default_factory=dict)
    #: Fallback when the server exposes no latency histogram (mean, not a percentile).
    mean_latency: MeanLatency | None = None
    queue_depth: str | None = None  # gauge, per pod
    request_rate: str | None = None  # counter, use rate()
    #: Token counters (use rate()): prompt tokens and generated tokens, cumulative per pod. Both or
    #: neither; the load is then prompt plus generated tokens per second, else requests per second.
    prompt_tokens: str | None = None
    generation_tokens: str | None = None

    def __post_init__(self) -> None:
        if (self.prompt_tokens is None) != (self.generation_tokens is None):
            raise ValueError("a runtime exports both token counters (prompt and generated) or neither")

    @property
    def token_counters(self) -> tuple[str, str] | None:
        """(prompt, generated) token counters, or None when the runtime exports none."""
        if self.prompt_tokens is None or self.generation_tokens is None:
            return None
        return (self.prompt_tokens, self.generation_tokens)


@dataclass(frozen=True)
class ModelArgs:
    """What the server needs to find the model, computed from the model reference."""

    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RuntimeProfile:
    name: str
    image: str
    port: int
    #: Arguments that make the server listen on a given HTTP port; None when the port is fixed.
    port_args: Callable[[int], tuple[str, ...]] | None = lambda port: ()
    #: Extra named container ports (e.g. Triton's separate metrics port).
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    #: How the model reaches the server. Arguments: a model reference (an ``hf`` repo id or a local
    #: directory under MODEL_DIR), whether it is a repo id, and the served name.
    model_args: Callable[[str, bool, str], ModelArgs] = lambda ref, is_repo, name: ModelArgs()
    #: Whether the server downloads Hugging Face repos itself (else a storage initializer does).
    native_hf: bool = False
    #: spec.model.quantization value -> extra args; a value missing here is rejected.
    quantization_args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    quantization_hint: str = "this runtime reads quantization from the model artifact; remove the field"
    #: Extra environment every replica gets (writable caches under /cache for a non-root user).
    env: Mapping[str, str] = field(default_factory=dict)
    startup: Probe | None = None
    readiness: Probe | None = None
    liveness: Probe | None = None
    metrics: MetricSeries = field(default_factory=MetricSeries)
    #: The user id the image's server runs as when forced non-root (None: leave it to the image).
    run_as_user: int | None = 1000
    #: Whether the server runs under the Pod Security "restricted" profile.
    restricted: bool = True
    sources: tuple[str, ...] = ()
    #: Seconds from pod creation to Ready assumed until the service's own pods were measured.
    cold_start_seconds: float = DEFAULT_COLD_START_SECONDS

    @property
    def load_unit(self) -> LoadUnit:
        """``tokens`` when the runtime exports token counters, else ``requests``."""
        return "tokens" if self.metrics.token_counters is not None else "requests"

    def quantization(self, value: str | None) -> tuple[str, ...]:
        if value is None:
            return ()
        if value not in self.quantization_args:
            supported = ", ".join(sorted(self.quantization_args)) or "none"
            raise UnsupportedByRuntime(
                "spec.model.quantization",
                f"runtime {self.name} does not support quantization {value!r} (supported: {supported}); "
                + self.quantization_hint,
            )
        return self.quantization_args[value]

    def latency_series(self, metric: str) -> Histogram | MeanLatency:
        if metric in self.metrics.latency:
            return self.metrics.latency[metric]
        if metric == "e2e" and self.metrics.mean_latency is not None:
            return self.metrics.mean_latency
        known = ", ".join(sorted(self.metrics.latency)) or "none"
        raise UnsupportedByRuntime(
            "spec.autoscaling.slo.latency.metric",
            f"runtime {self.name} exposes no {metric!r} latency series (has: {known}); "
            "choose another metric or set a per-service query override",
        )
