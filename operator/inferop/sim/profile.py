"""Service profiles: how fast one replica of a model serves. Pure data.

What this module is for: the numbers the service model (``inferop.sim.engine``) needs for one
(model, GPU, runtime) combination: the cost of one continuous-batching iteration, the cost of prompt
processing, the batch and KV-cache limits, the cold start and the price. Built-in profiles live in
``inferop/sim/profiles/*.yaml``, each number derived in a comment from a cited public figure;
``inferop.cli.files.load_profile`` reads them (and profile files) and :func:`parse_profile` checks them.

Must not: fit anything to a trace (a profile describes the hardware, never the workload), or read files.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from inferop.api.common import Model, Money
from inferop.api.validation import InvalidObject, describe_validation_error

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "llama-8b-h100"

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class Iteration(Model):
    """One decode iteration: ``base + perSequence x running + perContextToken x context tokens``."""

    base_milliseconds: PositiveFloat
    per_sequence_milliseconds: NonNegativeFloat
    per_context_token_microseconds: NonNegativeFloat


class Prefill(Model):
    per_token_milliseconds: PositiveFloat


class Batching(Model):
    max_num_seqs: Annotated[int, Field(ge=1)]
    kv_cache_tokens: Annotated[int, Field(ge=1)]


class ServiceProfile(Model):
    """Per-replica capacity of one model on one GPU type (see the module docstring)."""

    name: Annotated[str, Field(min_length=1)]
    model: str = ""
    gpu: str = ""
    gpus_per_replica: Annotated[int, Field(ge=1)] = 1
    price_per_gpu_hour: Money = Field(alias="pricePerGPUHour")
    iteration: Iteration
    prefill: Prefill
    batching: Batching
    cold_start_seconds: NonNegativeFloat
    sources: list[str] = Field(default_factory=list)

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_per_gpu_hour)

    def iteration_seconds(self, running: int, context_tokens: float) -> float:
        """Seconds of one decode iteration with ``running`` sequences holding ``context_tokens``."""
        it = self.iteration
        return (
            it.base_milliseconds / 1e3
            + it.per_sequence_milliseconds / 1e3 * running
            + it.per_context_token_microseconds / 1e6 * context_tokens
        )

    def isolated_latency(self, input_tokens: int, output_tokens: int) -> tuple[float, float]:
        """(time to first token, end-to-end seconds) of one request alone on an idle replica."""
        prefill = input_tokens * self.prefill.per_token_milliseconds / 1e3
        context = input_tokens + output_tokens / 2
        return prefill, prefill + max(1, output_tokens) * self.iteration_seconds(1, context)


class ProfileError(ValueError):
    """A profile that cannot be loaded; ``invalid`` holds every field problem when the file parsed."""

    def __init__(self, message: str, invalid: InvalidObject | None = None, path: str = "") -> None:
        super().__init__(message)
        self.invalid = invalid
        self.path = path


def parse_profile(source: str, doc: object) -> ServiceProfile:
    """A profile from the parsed YAML ``doc`` of ``source`` (a file's path). Raises ProfileError."""
    if not isinstance(doc, dict):
        raise ProfileError(f"{source}: expected a mapping")
    try:
        return ServiceProfile.model_validate(doc)
    except ValidationError as err:
        problems = describe_validation_error(err)
        raise ProfileError(f"{source}: {problems}", problems, source) from None
