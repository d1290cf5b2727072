"""The usable signals of one tick (``Reading``), and the lines they are judged against. Pure.

What this module is for: the first half of the observe step. An observation is usable when its status
is Ok and it is at most ``stale_after`` seconds old; the latency is required when an SLO is set, the
queue depth and GPU utilization when their targets are; what is unusable is a problem (the decision
then holds), except a NaN or empty latency at a real zero request rate and an empty queue (no load).
The SLO attainment is read only beside a usable latency, and only when it is at most 1. Must not: turn
missing data into zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inferop.api.inferenceservice import Autoscaling
from inferop.cost.signals import Observation, Observations, ObservationStatus


@dataclass
class Reading:
    """The usable values of one tick and what is wrong with the others."""

    latency: float | None = None
    queue: float | None = None
    gpu: float | None = None
    attainment: float | None = None
    rate: float | None = None
    no_load: bool = False
    latency_waived: bool = False
    problems: list[str] = field(default_factory=list)
    stale: dict[str, bool] = field(default_factory=dict)


def fresh(obs: Observation, stale_after: float) -> float | None:
    """The observation's value when it is usable and at most ``stale_after`` seconds old, else None."""
    if not obs.usable or obs.value is None:
        return None
    if obs.age_seconds is not None and obs.age_seconds > stale_after:
        return None
    return obs.value


def _problem(name: str, obs: Observation, stale_after: float) -> str:
    if obs.usable:
        return f"{name}: stale ({obs.age_seconds:.0f} s old, limit {stale_after:.0f} s)"
    return f"{name}: {obs.describe()}"


def read(observations: Observations, autoscaling: Autoscaling, stale_after: float) -> Reading:
    """The usable values of the signals the spec requires, and what is wrong with the others."""
    reading = Reading()
    latency_obs = observations.latency_milliseconds
    queue_obs = observations.queue_depth_per_replica
    gpu_obs = observations.gpu_utilization_percent
    rate = fresh(observations.request_rate, stale_after)
    queue = fresh(queue_obs, stale_after)
    queue_idle = queue == 0 or queue_obs.status is ObservationStatus.UNSUPPORTED
    reading.no_load = rate == 0 and queue_idle
    reading.rate = rate
    for key, obs in (
        ("latencyMilliseconds", latency_obs),
        ("queueDepthPerReplica", queue_obs),
        ("requestRate", observations.request_rate),
        ("gpuUtilizationPercent", gpu_obs),
        ("sloAttainment", observations.slo_attainment),
    ):
        reading.stale[key] = obs.usable and fresh(obs, stale_after) is None

    targets = autoscaling.targets
    if autoscaling.slo is not None:
        reading.latency = fresh(latency_obs, stale_after)
        if reading.latency is None:
            waivable = latency_obs.status in (ObservationStatus.NAN, ObservationStatus.EMPTY)
            if reading.no_load and waivable:
                reading.latency_waived = True
            else:
                reading.problems.append(_problem("latency", latency_obs, stale_after))
        if reading.latency is not None:
            attainment = fresh(observations.slo_attainment, stale_after)
            reading.attainment = attainment if attainment is not None and attainment <= 1 else None
    if targets is not None and targets.queue_depth_per_replica is not None:
        reading.queue = queue
        if queue is None:
            reading.problems.append(_problem("queue depth", queue_obs, stale_after))
    if targets is not None and targets.gpu_utilization_percent is not None:
        reading.gpu = fresh(gpu_obs, stale_after)
        if reading.gpu is None:
            reading.problems.append(_problem("GPU utilization", gpu_obs, stale_after))
    return reading


def scale_down_attainment(percentile: int, headroom_percent: int) -> float:
    """The SLO attainment at or above which scaling down is allowed: the goal with ``sloHeadroomPercent``
    of its error budget unused (p95, 20%: at most 4% of requests over the SLO, 96% within)."""
    return 1 - (1 - percentile / 100) * (1 - headroom_percent / 100)


def no_targets(autoscaling: Autoscaling) -> bool:
    """Whether the spec sets neither a queue depth nor a GPU utilization target."""
    targets = autoscaling.targets
    return targets is None or (targets.queue_depth_per_replica is None and targets.gpu_utilization_percent is None)
