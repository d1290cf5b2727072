"""The text of a decision: its message and its inputs. Pure.

What this module is for: saying what ``decide()`` saw and did, in words a user reads in
``status.autoscaling.lastDecision`` and the Events (``message``: the signal or the plan that drove the
recommendation, then the rule that held or bounded it), and in the JSON-safe ``inputs`` that record
every value the decision used (the observations, the bounds, the policy, the needs, the history's
windows, the planner's load, capacity and forecast). Must not: decide anything; the numbers it prints
are the steps' own (``cost.reading``, ``cost.guard``, ``cost.plan``, ``cost.stabilize``).
"""

from __future__ import annotations

from typing import Any

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.bounds import Bounds
from inferop.cost.capacity import Capacity
from inferop.cost.forecast import Forecast
from inferop.cost.history import History
from inferop.cost.plan import Load
from inferop.cost.reading import Reading, no_targets, scale_down_attainment
from inferop.cost.reasons import LimitedBy, Reason
from inferop.cost.signals import Observations
from inferop.cost.state import Learned
from inferop.cost.tuning import PlannerTuning
from inferop.tenancy.headroom import Headroom


def _latency_text(observations: Observations, autoscaling: Autoscaling, value: float) -> str:
    statistic = observations.latency_milliseconds.statistic
    if not statistic or statistic == "override":
        statistic = f"p{autoscaling.slo.latency.percentile}" if autoscaling.slo is not None else "latency"
    return f"{statistic} {value:.0f} ms"


def signal_text(signal: str, observations: Observations, autoscaling: Autoscaling, reading: Reading) -> str:
    targets = autoscaling.targets
    if signal == "latency" and reading.latency is not None and autoscaling.slo is not None:
        target = autoscaling.slo.latency.target_milliseconds
        if reading.attainment is not None:
            goal = autoscaling.slo.latency.percentile / 100
            return (
                f"{reading.attainment:.1%} of requests within SLO {target} ms < goal {goal:.0%} "
                f"({_latency_text(observations, autoscaling, reading.latency)})"
            )
        return f"{_latency_text(observations, autoscaling, reading.latency)} > SLO {target} ms"
    if signal == "queue" and reading.queue is not None and targets is not None:
        return f"queue depth {reading.queue:.1f} per replica > target {targets.queue_depth_per_replica}"
    if signal == "gpu" and reading.gpu is not None and targets is not None:
        return f"GPU utilization {reading.gpu:.0f}% > target {targets.gpu_utilization_percent}%"
    return signal


def not_load_driven_text(
    observations: Observations,
    autoscaling: Autoscaling,
    reading: Reading,
    per_replica: float,
    capacity: Capacity,
    plan: str,
) -> str:
    """A latency breach at a load per replica under one already served within the SLO (``cost.guard``)."""
    return (
        f"{signal_text('latency', observations, autoscaling, reading)} at "
        f"{amount(per_replica, capacity.unit)} per replica, under the "
        f"{amount(capacity.lower or 0.0, capacity.unit)} already served within the SLO: not load-driven, "
        f"more replicas would not cure it; {plan}"
    )


def down_text(
    observations: Observations, autoscaling: Autoscaling, reading: Reading, line: float, headroom_percent: int
) -> str:
    parts: list[str] = []
    if reading.latency_waived or (reading.no_load and autoscaling.slo is None):
        parts.append("no requests and no queue")
    elif reading.latency is not None and autoscaling.slo is not None and reading.attainment is not None:
        slo = autoscaling.slo.latency
        parts.append(
            f"{reading.attainment:.1%} of requests within SLO {slo.target_milliseconds} ms "
            f">= {scale_down_attainment(slo.percentile, headroom_percent):.1%} (goal {slo.percentile}% with "
            f"{headroom_percent}% of the error budget to spare; "
            f"{_latency_text(observations, autoscaling, reading.latency)})"
        )
    elif reading.latency is not None and autoscaling.slo is not None:
        slo = autoscaling.slo.latency
        parts.append(
            f"{_latency_text(observations, autoscaling, reading.latency)} <= {line:.0f} ms "
            f"(SLO {slo.target_milliseconds} ms less {headroom_percent}% headroom)"
        )
    targets = autoscaling.targets
    if reading.queue is not None and targets is not None and not reading.latency_waived:
        parts.append(f"queue depth {reading.queue:.1f} <= target {targets.queue_depth_per_replica}")
    if reading.gpu is not None and targets is not None:
        parts.append(f"GPU utilization {reading.gpu:.0f}% <= target {targets.gpu_utilization_percent}%")
    return ", ".join(parts) or "no signal"


def hold_text(
    observations: Observations, autoscaling: Autoscaling, reading: Reading, line: float, headroom_percent: int
) -> str:
    if autoscaling.slo is None and no_targets(autoscaling):
        return "no SLO and no targets set: only the bounds apply"
    if reading.latency is not None and autoscaling.slo is not None and reading.attainment is not None:
        slo = autoscaling.slo.latency
        return (
            f"{reading.attainment:.1%} of requests within SLO {slo.target_milliseconds} ms meets the "
            f"{slo.percentile}% goal, below the scale-down line "
            f"{scale_down_attainment(slo.percentile, headroom_percent):.1%}"
        )
    if reading.latency is not None and autoscaling.slo is not None:
        slo = autoscaling.slo.latency
        latency = _latency_text(observations, autoscaling, reading.latency)
        if reading.latency > line:
            return f"{latency} within SLO {slo.target_milliseconds} ms, above the scale-down line {line:.0f} ms"
        return f"{latency} within SLO {slo.target_milliseconds} ms"
    return "signals within their targets"


def message(
    reason: Reason,
    what: str,
    note: str,
    *,
    current: int,
    ready: int,
    desired: int,
    limited_by: LimitedBy | None,
    bound: Bounds,
    waiting_for: str = "",
) -> str:
    replicas = f"with {current} replica{'s' if current != 1 else ''}"
    if reason is Reason.WAITING_FOR_REPLICAS:
        return f"{what} {replicas}, {ready} ready: {waiting_for}"
    if reason in (Reason.STABILIZING, Reason.COOLDOWN):
        return f"{what} {replicas}: {note}: holding {desired}"
    if reason is Reason.AT_MAXIMUM:
        return f"{what} {replicas}: already at the upper bound {bound.upper} ({limited_by})"
    if reason is Reason.AT_MINIMUM:
        return f"{what} {replicas}: already at the lower bound {bound.lower} ({limited_by})"
    if reason is Reason.OUTSIDE_BOUNDS:
        return (
            f"{what} {replicas}: outside the bounds [{bound.lower}, {bound.upper}]: scaling to {desired} ({limited_by})"
        )
    if reason is Reason.METRICS_UNAVAILABLE:
        text = f"{what}: holding {current} replica{'s' if current != 1 else ''}"
        if desired != current:
            text += f", moved into the bounds [{bound.lower}, {bound.upper}]: scaling to {desired} ({limited_by})"
        return text
    if reason is Reason.HOLD or desired == current:
        return f"{what} {replicas}: holding"
    verb = "scaling to" if desired > current else "scaling down to"
    text = f"{what} {replicas}: {verb} {desired}"
    if limited_by is not None:
        text += f" (limited by {limited_by})"
    return text


def inputs(
    observations: Observations,
    *,
    autoscaling: Autoscaling,
    policy: CostPolicySpec,
    now: float,
    current: int,
    ready_replicas: int,
    ready: int,
    headroom: Headroom,
    bound: Bounds,
    reading: Reading,
    stale_after: float,
    up: dict[str, int],
    down: dict[str, int],
    recommendation: int,
    stabilized: int,
    history: History,
    up_past: list[int],
    down_past: list[int],
    planner: dict[str, Any],
) -> dict[str, Any]:
    observed: dict[str, Any] = {}
    for key, obs in (
        ("latencyMilliseconds", observations.latency_milliseconds),
        ("queueDepthPerReplica", observations.queue_depth_per_replica),
        ("requestRate", observations.request_rate),
        ("gpuUtilizationPercent", observations.gpu_utilization_percent),
        ("sloAttainment", observations.slo_attainment),
    ):
        observed[key] = {**obs.to_json(), **({"stale": True} if reading.stale.get(key) else {})}
    slo = autoscaling.slo.latency if autoscaling.slo is not None else None
    targets = autoscaling.targets
    return {
        "time": now,
        "mode": autoscaling.mode,
        "replicas": {"current": current, "ready": ready_replicas},
        "observations": observed,
        "noLoad": reading.no_load,
        "slo": (
            {"metric": slo.metric, "percentile": slo.percentile, "targetMilliseconds": slo.target_milliseconds}
            if slo is not None
            else None
        ),
        "targets": (
            {
                "gpuUtilizationPercent": targets.gpu_utilization_percent,
                "queueDepthPerReplica": targets.queue_depth_per_replica,
            }
            if targets is not None
            else None
        ),
        "bounds": {
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "quotaReplicas": headroom.quota_replicas,
            "budgetReplicas": headroom.budget_replicas,
            "scheduleMinReplicas": bound.schedule_floor,
            "scheduleMaxReplicas": bound.schedule_ceiling,
            "lower": bound.lower,
            "upper": bound.upper,
        },
        "policy": {
            "intervalSeconds": policy.interval_seconds,
            "staleAfterSeconds": stale_after,
            "sloHeadroomPercent": policy.slo_headroom_percent,
            "cooldownSeconds": policy.cooldown_seconds,
            "scaleUp": policy.scale_up.model_dump(by_alias=True, mode="json"),
            "scaleDown": policy.scale_down.model_dump(by_alias=True, mode="json"),
        },
        "needs": {"up": dict(up), "down": dict(down)},
        "recommendation": recommendation,
        "stabilized": stabilized,
        "history": {
            "scaleUpWindowMin": min(up_past) if up_past else None,
            "scaleDownWindowMax": max(down_past) if down_past else None,
            "lastScaleTime": history.last_scale_time,
            "readyRoseAt": history.rose_at(now, ready),
        },
        "planner": planner,
    }


def planner_inputs(
    load: Load | None,
    capacity: Capacity | None,
    prediction: Forecast | None,
    planned: int | None,
    utilization: float,
    horizon: float,
    cold_start: float,
    window: float,
    learned: Learned,
    tuning: PlannerTuning,
) -> dict[str, Any]:
    return {
        "load": None if load is None else {"value": load.value, "unit": load.unit},
        "capacity": None if capacity is None else {**capacity.to_json(), "spanSeconds": capacity.span_seconds},
        "forecast": (
            None
            if prediction is None
            else {
                **prediction.to_json(),
                "level": prediction.level,
                "trendPerSecond": prediction.trend,
                "dailyRatio": prediction.daily_ratio,
                "samples": prediction.samples,
                "reversion": None if prediction.reversion is None else prediction.reversion.to_json(),
            }
        ),
        "utilization": utilization,
        "planned": planned,
        "horizonSeconds": horizon,
        "coldStartSeconds": cold_start,
        "windowSeconds": window,
        "learnedPoints": len(learned.points),
        "learnedSamples": len(learned.load),
        "upperQuantile": tuning.upper_quantile,
    }


def amount(value: float, unit: str) -> str:
    """A load for a message: ``41k tok/s``, ``5.2k tok/s``, ``3.4 req/s``."""
    suffix = "tok/s" if unit == "tokens" else "req/s"
    return f"{_short(value)} {suffix}"


def _short(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}"


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def plan_text(
    prediction: Forecast | None,
    capacity: Capacity | None,
    utilization: float,
    planned: int | None,
    learned: Learned,
) -> str:
    """ "forecast 41k tok/s, upper 48k over the next 150 s; capacity 5.2k tok/s per replica at the SLO
    (learned, 212 points over 3 h); need ceil(48k / (5.2k x 0.9)) = 11"."""
    if prediction is None or capacity is None or planned is None:
        return ""
    support = (
        f"learned, {capacity.points} point{'s' if capacity.points != 1 else ''} over {_duration(capacity.span_seconds)}"
        if capacity.source == "learned"
        else ("prior" if capacity.points == 0 else f"prior, above the {capacity.points} points learned")
    )
    text = (
        f"forecast {amount(prediction.load, prediction.unit)}, upper {_short(prediction.upper)} over the next "
        f"{prediction.horizon_seconds:.0f} s; capacity {amount(capacity.per_replica, capacity.unit)} per replica "
        f"at the SLO ({support}); need ceil({_short(prediction.upper)} / ({_short(capacity.per_replica)} x "
        f"{utilization:.2g})) = {planned}"
    )
    reverts = prediction.reversion
    if reverts is not None and reverts.autocorrelation < 1.0:
        text += (
            f" (the load reverts to its recent mean {_short(reverts.mean)}: autocorrelation "
            f"{reverts.autocorrelation:.2f} at {reverts.lag_seconds:.0f} s over {reverts.pairs} pairs)"
        )
    return text
