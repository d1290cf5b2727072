"""decide(): how many replicas an autoscaled InferenceService should run, and why. Pure.

What this module is for: one deterministic function from what was observed (latency, queue depth,
request rate, GPU utilization, each with its age and status), the service's replicas, its SLO,
targets and bounds, the CostPolicy, the tenant's headroom and the recent history, to a
:class:`Decision` that says how many replicas, why (``reason``, ``message``), which bound limited it
(``limited_by``) and exactly which inputs it used (``inputs``, JSON-safe). The control loop, the
simulator and the backtest all call it; the same inputs always give the same Decision.

Must not: do I/O, read the clock (``now`` is passed in), keep state (``History`` is passed in and a
new one is returned), import Kubernetes, kopf or Prometheus clients.

Rules, in the order they apply:

1. Usable signals. An observation is usable when its status is Ok (one finite, non-negative series,
   see ``signals``) and its age is at most ``3 x intervalSeconds`` (``STALE_AFTER_INTERVALS``).
   Required signals: the latency when ``slo`` is set, the queue depth when
   ``targets.queueDepthPerReplica`` is set, the GPU utilization when
   ``targets.gpuUtilizationPercent`` is set. If a required signal is unusable,
   ``metrics_available`` is False and the message says which and why. The SLO attainment (the
   fraction of the window's requests that finished within the SLO target, read from the histogram's
   buckets: exact when the target is a bucket bound, where ``histogram_quantile`` only interpolates)
   is optional: when it is usable it judges the SLO, otherwise the latency quantile does.
2. No load. When the request rate is usable and exactly 0 and the queue depth is usable and 0 (or the
   runtime has no queue series), the service has no load: a NaN or empty latency is then normal
   (``histogram_quantile`` of zero rates is NaN) and does not count as missing; the service may scale
   down towards its lower bound (reason ``NoLoad``). A missing or NaN request rate is never "no load".
3. Scale up fast (any usable signal above its target, even when other signals are missing).
   For each breaching signal the proportional need is ``ceil(ready x min(2, observed / target))``,
   with ``ready = min(readyReplicas, currentReplicas)``: the observation was produced by the ready
   replicas, so replicas still starting (model loads take minutes) are not counted twice. One decision
   at most triples the ready replicas (``MAX_UP_FACTOR``): near saturation queueing makes latency
   grow much faster than load, so a burst reading 10x the SLO does not need 10x the replicas, and
   the next decision sees what the step did. With the SLO attainment usable, the latency breaches
   when the attainment is below the goal (the percentile: 95% for p95), and its ratio is the larger
   of ``p / SLO`` and the error-budget overrun ``(1 - attainment) / (1 - goal)``. The
   recommendation is the largest need, at least the current replicas. Reason ``SLOBreach`` when the
   latency drives it, ``Saturated`` when the queue depth or GPU utilization does, and
   ``WaitingForReplicas`` when the replicas already starting cover the need. Settling: for
   ``SETTLE_INTERVALS`` decision intervals after the ready replicas increased (``History`` remembers
   the ready count and when it rose), a latency breach recommends the current replicas
   (``WaitingForReplicas``): the rate window still holds mostly requests served, or queued, before the
   new replicas were ready, so judging them then scales up again what the last step already fixed.
   The settle lasts ``BACKLOG_SETTLE_INTERVALS`` (four: the 2-minute rate window at the default
   30 s interval) when the ready replicas complete fewer requests per second each than
   ``BACKLOG_THROUGHPUT_FRACTION`` of the peak (the highest request rate per ready replica of the last
   ``THROUGHPUT_MEMORY_SECONDS``, remembered in ``History``): replicas with that much room are not
   what is missing, and the window still holds the backlog they are draining. A queue-depth or GPU
   breach is not held (they are read per ready replica).
4. Hold on missing data. Otherwise, if a required signal is unusable, recommend the current replicas
   (reason ``MetricsUnavailable``): missing data never scales down.
5. Scale down slowly, only with SLO headroom. Otherwise, when the latency is at most
   ``target x (1 - sloHeadroomPercent/100)`` (or the service has no load, rule 2) and every target
   signal is at most its target, the need is the largest of ``ceil(current x latency / (target x
   (1 - headroom)))``, ``ceil(current x queue / queueTarget)`` and ``ceil(current x gpu / gpuTarget)``
   (a signal without a target or waived by no load needs 0), and the recommendation is
   ``min(current, need)`` (reason ``ScaleDownWithHeadroom`` or ``NoLoad``). Between the headroom
   line and the target the recommendation is the current replicas (reason ``Hold``). With the SLO
   attainment usable, the latency leaves room when at most ``100 - sloHeadroomPercent`` percent of the
   error budget is used (p95 with 20%: at least 96% within the SLO); the latency need stays
   ``ceil(current x latency / line)``. When that need would keep every replica (the quantile,
   interpolated inside a wide bucket, can sit above the line however many replicas run), the need is
   ``current - 1`` if at most ``BLIND_STEP_BUDGET`` of the error budget is used (p95: 98% within),
   else ``current``: a step no signal sizes needs clearer room than one the quantile sizes. With the
   attainment usable, the latency need is also at most ``ceil(requestRate / proven)`` (at least 1):
   ``proven`` is the highest request rate per ready replica of the last ``THROUGHPUT_MEMORY_SECONDS``
   that was served with the attainment at or above the line, every replica ready and the ready count
   unchanged for ``PROVEN_STEADY_INTERVALS`` (so the rate window saw only those replicas;
   ``History.proven``). A load already served within the line at that density sizes the step where
   the latency percentile cannot: an LLM's latency hardly moves with load until it nears saturation. Without
   an SLO and without targets there is nothing to scale on: ``Hold``, and only the
   bounds apply.
6. Stabilization, as the Kubernetes HPA does it. Every decision records its recommendation in the
   ``History``. Scaling up goes to the smallest recommendation of the last
   ``scaleUp.stabilizationSeconds`` (including this one), scaling down to the largest of the last
   ``scaleDown.stabilizationSeconds``. A scale-down also needs the history to reach back over the
   whole scale-down window (a recorded recommendation no later than ``now - window + interval``):
   after a restart or a gap in the history the controller waits one full window. When
   stabilization keeps the current replicas the reason is ``Stabilizing``.
7. Cooldown. No scale-down within ``cooldownSeconds`` of the last scale action (reason ``Cooldown``).
   Scaling up has no cooldown.
8. Step limits. One decision adds at most ``max(scaleUp.maxStepReplicas, ceil(current x
   scaleUp.maxStepPercent / 100))`` replicas and removes at most the same expression for
   ``scaleDown`` (``maxStepPercent`` unset: only ``maxStepReplicas``).
9. Bounds, applied last and immediately (not subject to stabilization, cooldown or step limits, and
   also while holding on missing data). The upper bound is ``min(maxReplicas, quota, budget)``
   (``Headroom``: the most replicas this service may run, its current ones included; None =
   unlimited). The lower bound is ``minReplicas``, or the upper bound when that is smaller: quota and
   budget win over minReplicas, so scaling never creates pods the quota would leave Pending. Active
   schedule windows narrow the range from inside: the floor is the largest ``minReplicas`` and the
   ceiling the smallest ``maxReplicas`` of the windows active at ``now``, clamped into the range.
   ``limited_by`` names the bound that changed the result (``MinReplicas``, ``MaxReplicas``,
   ``Quota``, ``Budget``, ``Schedule``); on a tie MaxReplicas is named before Quota before Budget.
   When a bound stops a wanted change entirely the reason is ``AtMinimum`` / ``AtMaximum``; when it
   moves the replicas against the rule (the current replicas lie outside the bounds) it is
   ``OutsideBounds`` (``MetricsUnavailable`` is kept as the reason while holding).
10. Schedule windows are in UTC. A window is active on its ``days`` from ``start`` (inclusive) to
    ``end`` (exclusive). When ``end <= start`` the window crosses midnight: it runs from ``start`` on
    a listed day to ``end`` on the next day (``start == end`` is a 24-hour window).
11. Acting. ``acts`` is True only in ``Enforce`` mode and when ``desired_replicas != current``.
    ``Recommend`` mode computes the same decision, says so in the message, and never acts (its
    history records recommendations but no scale actions, so it has no cooldown).
12. Zero replicas. ``minReplicas`` is at least 1, so a service found at 0 replicas is brought up to
    its lower bound even while metrics are missing (a stopped service exports nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from inferop.api.costpolicy import DAYS, CostPolicySpec, ScaleRule, ScheduleWindow
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.cost.state import Learned
from inferop.tenancy.headroom import Headroom

#: An observation older than this many CostPolicy intervals is stale.
STALE_AFTER_INTERVALS = 3
#: One decision at most multiplies the ready replicas by this (see rule 3).
MAX_UP_FACTOR = 3.0
#: After the ready replicas increase, a latency breach waits this many decision intervals before scaling
#: up again (rule 3): the rate window still holds requests served before the new replicas were ready.
SETTLE_INTERVALS = 2
#: A scale-down the latency percentile cannot size (rule 5) needs at most this fraction of the error
#: budget used (p95: at least 98% of requests within the SLO).
BLIND_STEP_BUDGET = 0.4
#: Settling lasts ``BACKLOG_SETTLE_INTERVALS`` instead when the ready replicas complete fewer requests
#: each than this fraction of the peak (rule 3): they have room, so the breach is a backlog draining.
BACKLOG_THROUGHPUT_FRACTION = 0.5
BACKLOG_SETTLE_INTERVALS = 4
#: The peak and the proven throughput per ready replica are the highest of this many seconds.
THROUGHPUT_MEMORY_SECONDS = 3600.0
#: A throughput is proven (rule 5) only after the ready replicas stayed the same for this many
#: intervals (the 2-minute rate window at the default 30 s interval).
PROVEN_STEADY_INTERVALS = 4
#: Guards ceil() against float noise (2 x 1.5 must be 3, not 4).
_EPSILON = 1e-9


class Reason(StrEnum):
    SLO_BREACH = "SLOBreach"
    SATURATED = "Saturated"
    WAITING_FOR_REPLICAS = "WaitingForReplicas"
    SCALE_DOWN_WITH_HEADROOM = "ScaleDownWithHeadroom"
    NO_LOAD = "NoLoad"
    HOLD = "Hold"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    STABILIZING = "Stabilizing"
    COOLDOWN = "Cooldown"
    AT_MINIMUM = "AtMinimum"
    AT_MAXIMUM = "AtMaximum"
    OUTSIDE_BOUNDS = "OutsideBounds"


LimitedBy = Literal["MinReplicas", "MaxReplicas", "Quota", "Budget", "Schedule"]


@dataclass(frozen=True)
class History:
    """What decide() remembers between ticks: recent (time, recommendation) and the last scale action."""

    recommendations: tuple[tuple[float, int], ...] = ()
    last_scale_time: float | None = None
    #: The ready replicas of the last tick (None: not known, e.g. after a restart) and when the ready
    #: replicas last increased (rule 3's settle time).
    ready: int | None = None
    ready_rose_at: float | None = None
    #: (time, completed requests per second per ready replica), kept as a sliding-window maximum: each
    #: entry is larger than every later one, none older than ``THROUGHPUT_MEMORY_SECONDS``.
    throughput: tuple[tuple[float, float], ...] = ()
    #: The same, only for ticks whose throughput was proven: served within the scale-down line (rule 5).
    proven: tuple[tuple[float, float], ...] = ()
    #: When the ready replicas last changed (None: never seen).
    ready_since: float | None = None
    #: The planner's learned state (capacity points, load history); ``cost.rebuild`` rebuilds it after
    #: a restart.
    learned: Learned = field(default_factory=Learned)

    def record(
        self,
        now: float,
        recommendation: int,
        *,
        scaled: bool,
        keep_seconds: float,
        ready: int | None = None,
        throughput: float | None = None,
        proven: float | None = None,
    ) -> History:
        """This tick's recommendation (ready replicas, throughputs) appended, old entries dropped."""
        kept = tuple((t, r) for t, r in self.recommendations if t > now - keep_seconds)
        changed = ready is not None and ready != self.ready
        return History(
            recommendations=(*kept, (now, recommendation)),
            last_scale_time=now if scaled else self.last_scale_time,
            ready=self.ready if ready is None else ready,
            ready_rose_at=self.rose_at(now, ready),
            throughput=_sliding_max(self.throughput, now, throughput),
            proven=_sliding_max(self.proven, now, proven),
            ready_since=now if changed else self.ready_since,
            learned=self.learned,
        )

    def peak_throughput(self, now: float) -> float | None:
        """The highest completed-request rate per ready replica of the last ``THROUGHPUT_MEMORY_SECONDS``."""
        return _window_max(self.throughput, now)

    def proven_throughput(self, now: float) -> float | None:
        """The highest of those rates served within the scale-down line with steady ready replicas."""
        return _window_max(self.proven, now)

    def steady_since(self, now: float, ready: int, seconds: float) -> bool:
        """Whether ``ready`` replicas have been ready (no more, no fewer) for at least ``seconds``."""
        return self.ready == ready and self.ready_since is not None and now - self.ready_since >= seconds

    def rose_at(self, now: float, ready: int | None) -> float | None:
        """When the ready replicas last increased, counting ``ready`` seen at ``now``."""
        if ready is not None and self.ready is not None and ready > self.ready:
            return now
        return self.ready_rose_at

    def within(self, now: float, seconds: float) -> list[int]:
        """Recommendations recorded in the last ``seconds`` (HPA semantics: strictly after the cutoff)."""
        return [r for t, r in self.recommendations if now - seconds < t <= now]

    def covers(self, now: float, seconds: float, interval: float) -> bool:
        """Whether the history reaches back over a window of ``seconds`` (to within one interval)."""
        return seconds <= 0 or any(t <= now - seconds + interval for t, _ in self.recommendations)


def _sliding_max(
    entries: tuple[tuple[float, float], ...], now: float, value: float | None
) -> tuple[tuple[float, float], ...]:
    """``entries`` without those older than ``THROUGHPUT_MEMORY_SECONDS`` or not larger than ``value``,
    then ``(now, value)``: the maximum of the window is always among the entries (0 is not a sample)."""
    kept = tuple((t, v) for t, v in entries if t > now - THROUGHPUT_MEMORY_SECONDS)
    if value is None or value <= 0:
        return kept
    return (*((t, v) for t, v in kept if v > value), (now, value))


def _window_max(entries: tuple[tuple[float, float], ...], now: float) -> float | None:
    values = [v for t, v in entries if t > now - THROUGHPUT_MEMORY_SECONDS]
    return max(values) if values else None


@dataclass(frozen=True)
class Bounds:
    lower: int
    upper: int
    lower_by: LimitedBy
    upper_by: LimitedBy
    schedule_floor: int | None = None
    schedule_ceiling: int | None = None


@dataclass(frozen=True)
class Decision:
    desired_replicas: int
    current_replicas: int
    reason: Reason
    message: str
    limited_by: LimitedBy | None
    metrics_available: bool
    metrics_message: str
    #: True only in Enforce mode when desired_replicas != current_replicas.
    acts: bool
    #: Everything the decision used, JSON-safe (for status.autoscaling.lastDecision.inputs).
    inputs: Mapping[str, Any]
    #: The unstabilized recommendation recorded in the history.
    recommendation: int
    #: The history to pass to the next tick, assuming the decision is carried out when it acts. If
    #: acting fails, pass ``previous.record(now, d.recommendation, scaled=False, keep_seconds=...)``.
    history: History = field(default_factory=History)
    #: Whether this decision judged the SLO breached (rule 3: the attainment below the goal when it is
    #: usable, else the latency above the target); the ``inferop_slo_breach`` gauge reports it.
    slo_breached: bool = False
    #: ``status.autoscaling.capacity`` (camelCase, JSON-safe): the capacity estimate per ready replica
    #: (``perReplica``, ``unit``, ``lower``, ``upper``, ``source``: prior|learned, ``points``); None
    #: when there is none.
    capacity: Mapping[str, Any] | None = None
    #: ``status.autoscaling.forecast`` (camelCase, JSON-safe): the load forecast over the horizon
    #: (``load``, ``upper``, ``horizonSeconds``, ``unit``); None when there is none.
    forecast: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The status form (camelCase; the caller adds the time)."""
        return {
            "from": self.current_replicas,
            "to": self.desired_replicas,
            "reason": str(self.reason),
            "message": self.message,
            "limitedBy": self.limited_by,
            "metricsAvailable": self.metrics_available,
            "inputs": dict(self.inputs),
        }


# -- schedule and bounds -------------------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return min(24 * 60, int(hours) * 60 + int(minutes))


def window_active(window: ScheduleWindow, now: float) -> bool:
    """Whether a schedule window is active at ``now`` (unix seconds, read in UTC)."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    day, previous = DAYS[moment.weekday()], DAYS[(moment.weekday() - 1) % 7]
    minute = moment.hour * 60 + moment.minute
    start, end = _minutes(window.start), _minutes(window.end)
    if start < end:
        return day in window.days and start <= minute < end
    return (day in window.days and minute >= start) or (previous in window.days and minute < end)


def schedule_limits(schedule: list[ScheduleWindow], now: float) -> tuple[int | None, int | None]:
    """(floor, ceiling) of the windows active at ``now``: the largest minimum and the smallest maximum."""
    active = [w for w in schedule if window_active(w, now)]
    floors = [w.min_replicas for w in active if w.min_replicas is not None]
    ceilings = [w.max_replicas for w in active if w.max_replicas is not None]
    return (max(floors) if floors else None, min(ceilings) if ceilings else None)


def bounds(autoscaling: Autoscaling, headroom: Headroom, schedule: list[ScheduleWindow], now: float) -> Bounds:
    """[lower, upper] for this tick and which limit sets each end (rule 9)."""
    hard_upper: int = autoscaling.max_replicas
    upper_by: LimitedBy = "MaxReplicas"
    limits: tuple[tuple[LimitedBy, int | None], ...] = (
        ("Quota", headroom.quota_replicas),
        ("Budget", headroom.budget_replicas),
    )
    for name, limit in limits:
        if limit is not None and max(0, limit) < hard_upper:
            hard_upper, upper_by = max(0, limit), name
    lower: int = autoscaling.min_replicas
    lower_by: LimitedBy = "MinReplicas"
    if lower > hard_upper:
        lower, lower_by = hard_upper, upper_by
    floor, ceiling = schedule_limits(schedule, now)
    upper = hard_upper
    if floor is not None and floor > lower:
        lower, lower_by = min(floor, hard_upper), "Schedule"
    if ceiling is not None and ceiling < upper:
        upper, upper_by = max(ceiling, lower), "Schedule"
    return Bounds(lower, upper, lower_by, upper_by, floor, ceiling)


# -- signals -------------------------------------------------------------------------------------


@dataclass
class _Reading:
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


def _fresh(obs: Observation, stale_after: float) -> float | None:
    if not obs.usable or obs.value is None:
        return None
    if obs.age_seconds is not None and obs.age_seconds > stale_after:
        return None
    return obs.value


def _problem(name: str, obs: Observation, stale_after: float) -> str:
    if obs.usable:
        return f"{name}: stale ({obs.age_seconds:.0f} s old, limit {stale_after:.0f} s)"
    return f"{name}: {obs.describe()}"


def _read(observations: Observations, autoscaling: Autoscaling, stale_after: float) -> _Reading:
    reading = _Reading()
    latency_obs = observations.latency_milliseconds
    queue_obs = observations.queue_depth_per_replica
    gpu_obs = observations.gpu_utilization_percent
    rate = _fresh(observations.request_rate, stale_after)
    queue = _fresh(queue_obs, stale_after)
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
        reading.stale[key] = obs.usable and _fresh(obs, stale_after) is None

    targets = autoscaling.targets
    if autoscaling.slo is not None:
        reading.latency = _fresh(latency_obs, stale_after)
        if reading.latency is None:
            waivable = latency_obs.status in (ObservationStatus.NAN, ObservationStatus.EMPTY)
            if reading.no_load and waivable:
                reading.latency_waived = True
            else:
                reading.problems.append(_problem("latency", latency_obs, stale_after))
        if reading.latency is not None:
            attainment = _fresh(observations.slo_attainment, stale_after)
            reading.attainment = attainment if attainment is not None and attainment <= 1 else None
    if targets is not None and targets.queue_depth_per_replica is not None:
        reading.queue = queue
        if queue is None:
            reading.problems.append(_problem("queue depth", queue_obs, stale_after))
    if targets is not None and targets.gpu_utilization_percent is not None:
        reading.gpu = _fresh(gpu_obs, stale_after)
        if reading.gpu is None:
            reading.problems.append(_problem("GPU utilization", gpu_obs, stale_after))
    return reading


def _ceil(value: float) -> int:
    return max(0, math.ceil(value - _EPSILON))


def _step(rule: ScaleRule, current: int) -> int:
    if rule.max_step_percent is None:
        return rule.max_step_replicas
    return max(rule.max_step_replicas, math.ceil(current * rule.max_step_percent / 100))


# -- messages ------------------------------------------------------------------------------------


def _latency_text(observations: Observations, autoscaling: Autoscaling, value: float) -> str:
    statistic = observations.latency_milliseconds.statistic
    if not statistic or statistic == "override":
        statistic = f"p{autoscaling.slo.latency.percentile}" if autoscaling.slo is not None else "latency"
    return f"{statistic} {value:.0f} ms"


def _signal_text(signal: str, observations: Observations, autoscaling: Autoscaling, reading: _Reading) -> str:
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


def _down_text(
    observations: Observations, autoscaling: Autoscaling, reading: _Reading, line: float, headroom_percent: int
) -> str:
    parts: list[str] = []
    if reading.latency_waived or (reading.no_load and autoscaling.slo is None):
        parts.append("no requests and no queue")
    elif reading.latency is not None and autoscaling.slo is not None and reading.attainment is not None:
        slo = autoscaling.slo.latency
        parts.append(
            f"{reading.attainment:.1%} of requests within SLO {slo.target_milliseconds} ms "
            f">= {_attainment_line(slo.percentile, headroom_percent):.1%} (goal {slo.percentile}% with "
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


def _attainment_line(percentile: int, headroom_percent: int) -> float:
    """The SLO attainment at or above which scaling down is allowed: the goal with ``sloHeadroomPercent``
    of its error budget unused (p95, 20%: at most 4% of requests over the SLO, 96% within)."""
    return 1 - (1 - percentile / 100) * (1 - headroom_percent / 100)


def _hold_text(
    observations: Observations, autoscaling: Autoscaling, reading: _Reading, line: float, headroom_percent: int
) -> str:
    if autoscaling.slo is None and _no_targets(autoscaling):
        return "no SLO and no targets set: only the bounds apply"
    if reading.latency is not None and autoscaling.slo is not None and reading.attainment is not None:
        slo = autoscaling.slo.latency
        return (
            f"{reading.attainment:.1%} of requests within SLO {slo.target_milliseconds} ms meets the "
            f"{slo.percentile}% goal, below the scale-down line "
            f"{_attainment_line(slo.percentile, headroom_percent):.1%}"
        )
    if reading.latency is not None and autoscaling.slo is not None:
        slo = autoscaling.slo.latency
        latency = _latency_text(observations, autoscaling, reading.latency)
        if reading.latency > line:
            return f"{latency} within SLO {slo.target_milliseconds} ms, above the scale-down line {line:.0f} ms"
        return f"{latency} within SLO {slo.target_milliseconds} ms"
    return "signals within their targets"


def _no_targets(autoscaling: Autoscaling) -> bool:
    targets = autoscaling.targets
    return targets is None or (targets.queue_depth_per_replica is None and targets.gpu_utilization_percent is None)


# -- decide --------------------------------------------------------------------------------------


def decide(
    observations: Observations,
    *,
    current_replicas: int,
    ready_replicas: int,
    autoscaling: Autoscaling,
    policy: CostPolicySpec,
    now: float,
    headroom: Headroom | None = None,
    history: History | None = None,
    window_seconds: float | None = None,
    cold_start_seconds: float | None = None,
) -> Decision:
    """The replicas an autoscaled service should run now, and why (see the module docstring).

    ``window_seconds`` is the rate window the observations were computed over and
    ``cold_start_seconds`` the time a new replica takes to serve (measured from the cluster, else the
    runtime profile's); None: not known."""
    headroom = headroom or Headroom()
    history = history or History()
    current = max(0, current_replicas)
    ready = max(0, min(ready_replicas, current))
    interval = policy.interval_seconds
    stale_after = float(STALE_AFTER_INTERVALS * interval)
    bound = bounds(autoscaling, headroom, policy.schedule, now)
    reading = _read(observations, autoscaling, stale_after)
    metrics_available = not reading.problems
    slo = autoscaling.slo.latency if autoscaling.slo is not None else None
    targets = autoscaling.targets
    headroom_factor = 1 - policy.slo_headroom_percent / 100
    line = slo.target_milliseconds * headroom_factor if slo is not None else 0.0

    # Rule 3: proportional needs of the breaching signals, from the ready replicas.
    up: dict[str, int] = {}
    goal = slo.percentile / 100 if slo is not None else 1.0
    attainment = reading.attainment
    if slo is not None and reading.latency is not None and attainment is not None:
        if attainment < goal:
            factor = max(reading.latency / slo.target_milliseconds, (1 - attainment) / (1 - goal))
            up["latency"] = _ceil(ready * min(MAX_UP_FACTOR, factor))
    elif slo is not None and reading.latency is not None and reading.latency > slo.target_milliseconds:
        up["latency"] = _ceil(ready * min(MAX_UP_FACTOR, reading.latency / slo.target_milliseconds))
    if targets is not None and reading.queue is not None and targets.queue_depth_per_replica is not None:
        if reading.queue > targets.queue_depth_per_replica:
            up["queue"] = _ceil(ready * min(MAX_UP_FACTOR, reading.queue / targets.queue_depth_per_replica))
    if targets is not None and reading.gpu is not None and targets.gpu_utilization_percent is not None:
        if reading.gpu > targets.gpu_utilization_percent:
            up["gpu"] = _ceil(ready * min(MAX_UP_FACTOR, reading.gpu / targets.gpu_utilization_percent))

    down: dict[str, int] = {}
    driver = ""
    sized_by = ""
    waiting_for = "waiting for the starting replicas before scaling further"
    if up:
        driver = max(up, key=lambda s: (up[s], s == "latency"))
        need = up[driver]
        rose_at = history.rose_at(now, ready)
        settle, draining = SETTLE_INTERVALS * interval, ""
        peak = history.peak_throughput(now)
        if reading.rate is not None and peak is not None and ready > 0:
            each = reading.rate / ready
            if each < BACKLOG_THROUGHPUT_FRACTION * peak:
                settle = BACKLOG_SETTLE_INTERVALS * interval
                draining = (
                    f", and they complete {each:.2f} requests/s each, under {BACKLOG_THROUGHPUT_FRACTION:.0%} "
                    f"of the peak {peak:.2f} (a backlog draining, not missing capacity)"
                )
        if driver == "latency" and need > current and rose_at is not None and now - rose_at < settle:
            need = current
            waiting_for = (
                f"replicas became ready {now - rose_at:.0f} s ago{draining}: waiting {settle:.0f} s for the "
                "latency window to reflect them before scaling further"
            )
        recommendation = max(current, need)
        if need <= current:
            reason = Reason.WAITING_FOR_REPLICAS
        else:
            reason = Reason.SLO_BREACH if driver == "latency" else Reason.SATURATED
        what = _signal_text(driver, observations, autoscaling, reading)
    elif not metrics_available:
        recommendation, reason = current, Reason.METRICS_UNAVAILABLE
        what = "metrics unavailable (" + "; ".join(reading.problems) + ")"
    else:
        has_signal = slo is not None or not _no_targets(autoscaling)
        attainment_line = _attainment_line(slo.percentile, policy.slo_headroom_percent) if slo is not None else 1.0
        latency_room = (
            slo is None
            or reading.latency_waived
            or (attainment is not None and attainment >= attainment_line)
            or (attainment is None and reading.latency is not None and reading.latency <= line)
        )
        if has_signal and latency_room:
            if slo is not None:
                down["latency"] = 0 if reading.latency_waived else _ceil(current * (reading.latency or 0) / line)
                blind_line = 1 - (1 - goal) * BLIND_STEP_BUDGET
                if attainment is not None and not reading.latency_waived and down["latency"] >= current:
                    # The quantile says "keep" but the attainment says there is room: one replica less,
                    # when the room is clear (the step is not sized by any signal).
                    down["latency"] = current - 1 if attainment >= blind_line else current
                proven = history.proven_throughput(now)
                if proven is not None and reading.rate is not None and attainment is not None:
                    need_at_proven = max(1, _ceil(reading.rate / proven))
                    if need_at_proven < down["latency"]:
                        down["latency"] = need_at_proven
                        sized_by = (
                            f"; {reading.rate:.1f} requests/s need {need_at_proven} replicas at the "
                            f"{proven:.2f} per replica served within the line in the last hour"
                        )
            if targets is not None and targets.queue_depth_per_replica is not None and reading.queue is not None:
                down["queue"] = _ceil(current * reading.queue / targets.queue_depth_per_replica)
            if targets is not None and targets.gpu_utilization_percent is not None and reading.gpu is not None:
                down["gpu"] = _ceil(current * reading.gpu / targets.gpu_utilization_percent)
            recommendation = min(current, max(down.values()))
            if recommendation == current:
                reason = Reason.HOLD
            elif reading.latency_waived or (slo is None and reading.no_load):
                reason = Reason.NO_LOAD
            else:
                reason = Reason.SCALE_DOWN_WITH_HEADROOM
            what = (
                _down_text(observations, autoscaling, reading, line, policy.slo_headroom_percent) + sized_by
                if reason is not Reason.HOLD
                else _hold_text(observations, autoscaling, reading, line, policy.slo_headroom_percent)
            )
        else:
            recommendation, reason = current, Reason.HOLD
            what = _hold_text(observations, autoscaling, reading, line, policy.slo_headroom_percent)

    # Rule 6: stabilization over the recorded recommendations.
    up_window = policy.scale_up.stabilization_seconds
    down_window = policy.scale_down.stabilization_seconds
    up_past = history.within(now, up_window)
    down_past = history.within(now, down_window)
    up_recommendation = min([recommendation, *up_past])
    down_recommendation = max([recommendation, *down_past])
    stabilized = current
    if stabilized < up_recommendation:
        stabilized = up_recommendation
    if stabilized > down_recommendation:
        stabilized = down_recommendation
    covered = history.covers(now, down_window, interval)
    note = ""
    if stabilized < current and not covered:
        stabilized = current
        note = f"would scale to {recommendation}, but scale-down waits for {down_window} s of recommendations"
    if recommendation != current and stabilized == current and not note:
        largest = max(down_past) if recommendation < current else min(up_past)
        window = down_window if recommendation < current else up_window
        note = f"would scale to {recommendation}, but the last {window} s recommended {largest}"
    if note:
        reason = Reason.STABILIZING

    # Rule 7: cooldown after the last scale action (scale-down only).
    last = history.last_scale_time
    if stabilized < current and last is not None and now - last < policy.cooldown_seconds:
        note = (
            f"would scale to {stabilized}, but last scaled {now - last:.0f} s ago "
            f"(cooldown {policy.cooldown_seconds} s)"
        )
        stabilized, reason = current, Reason.COOLDOWN

    # Rule 8: step limits.
    stepped = stabilized
    if stabilized > current:
        stepped = min(stabilized, current + _step(policy.scale_up, current))
    elif stabilized < current:
        stepped = max(stabilized, current - _step(policy.scale_down, current))

    # Rule 9: bounds.
    desired = min(max(stepped, bound.lower), bound.upper)
    limited_by: LimitedBy | None = None
    if stepped < bound.lower:
        limited_by = bound.lower_by
    elif stepped > bound.upper:
        limited_by = bound.upper_by
    bounded_recommendation = min(max(recommendation, bound.lower), bound.upper)
    if recommendation != current and bounded_recommendation == current:
        # The bound, not stabilization, cooldown or steps, is why nothing happens.
        up_wanted = recommendation > current
        reason = Reason.AT_MAXIMUM if up_wanted else Reason.AT_MINIMUM
        limited_by = bound.upper_by if up_wanted else bound.lower_by
    elif limited_by is not None and reason is not Reason.METRICS_UNAVAILABLE:
        wanted = (stepped > current) - (stepped < current)
        moved = (desired > current) - (desired < current)
        if desired == current and wanted != 0:
            reason = Reason.AT_MAXIMUM if wanted > 0 else Reason.AT_MINIMUM
        elif moved != wanted:
            reason = Reason.OUTSIDE_BOUNDS

    acts = autoscaling.mode == "Enforce" and desired != current
    message = _message(
        reason,
        what,
        note,
        current=current,
        ready=ready,
        desired=desired,
        limited_by=limited_by,
        bound=bound,
        waiting_for=waiting_for,
    )
    if autoscaling.mode == "Recommend" and desired != current:
        message += " (Recommend mode: not applied)"
    metrics_message = "all required signals usable" if metrics_available else "; ".join(reading.problems)
    if metrics_available and reading.latency_waived:
        metrics_message = "no load: latency is undefined at zero requests"

    keep = max(up_window, down_window) + interval
    throughput = reading.rate / ready if reading.rate is not None and ready > 0 else None
    served_within_line = (
        slo is not None
        and attainment is not None
        and attainment >= _attainment_line(slo.percentile, policy.slo_headroom_percent)
        and ready == current
        and history.steady_since(now, ready, PROVEN_STEADY_INTERVALS * interval)
    )
    inputs = _inputs(
        observations,
        autoscaling=autoscaling,
        policy=policy,
        now=now,
        current=current,
        ready_replicas=ready_replicas,
        ready=ready,
        headroom=headroom,
        bound=bound,
        reading=reading,
        stale_after=stale_after,
        up=up,
        down=down,
        recommendation=recommendation,
        stabilized=stabilized,
        history=history,
        up_past=up_past,
        down_past=down_past,
    )
    return Decision(
        desired_replicas=desired,
        current_replicas=current,
        reason=reason,
        message=message,
        limited_by=limited_by,
        metrics_available=metrics_available,
        metrics_message=metrics_message,
        acts=acts,
        inputs=inputs,
        recommendation=recommendation,
        slo_breached="latency" in up,
        history=history.record(
            now,
            recommendation,
            scaled=acts,
            keep_seconds=keep,
            ready=ready,
            throughput=throughput,
            proven=throughput if served_within_line else None,
        ),
    )


def _message(
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


def _inputs(
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
    reading: _Reading,
    stale_after: float,
    up: dict[str, int],
    down: dict[str, int],
    recommendation: int,
    stabilized: int,
    history: History,
    up_past: list[int],
    down_past: list[int],
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
            "peakThroughputPerReplica": history.peak_throughput(now),
            "provenThroughputPerReplica": history.proven_throughput(now),
        },
    }
