"""decide(): how many replicas an autoscaled InferenceService should run, and why. Pure.

What this module is for: the entry point of the cost controller's planner, one deterministic function
from what was observed (latency, SLO attainment, request and token rates, queue depth, GPU
utilization, each with its age and status), the service's replicas, SLO, targets, bounds and
capacity prior, the CostPolicy, the tenant's headroom and the recent history (with the learned
state) to a :class:`Decision`: how many replicas, why (``reason``, ``message``), which bound limited it
(``limited_by``), exactly which inputs it used (``inputs``, JSON-safe), the capacity estimate and the
load forecast. The control loop, the simulator and the backtest all call it.

The pipeline, each step a small pure function in its own module (the rules: ``docs/decide.md``):

1. observe (``cost.plan``): usable signals; the load (tokens/s when observed, else requests/s); a
   load sample every tick and a capacity point for each steady interval, into ``History.learned``;
2. capacity (``cost.capacity``): the load per ready replica at the SLO goal, from the learned points
   with decaying memory, or the prior; none: the service is reactive while it learns;
3. forecast (``cost.forecast``): level, trend and an upper quantile over the horizon (cold start plus
   the decision interval), and the same time of day on previous days;
4. size (``cost.plan.size``): ``ceil(forecast upper / (capacity x utilization))``, the utilization
   target from the error budget (``cost.tuning``);
5. guard: an observed breach (attainment under the goal, latency over the SLO, a target signal over
   its target) raises at once and lowers the capacity to the load that breached; missing, NaN or
   stale data holds and never scales down;
6. stabilize and bound (here): the HPA's stabilization windows, the cooldown, the step limits, then
   minReplicas, maxReplicas, quota, budget and schedule windows; Recommend mode never acts.

Must not: do I/O, read the clock (``now`` is passed in), keep state (``History`` is passed in and a
new one is returned), import Kubernetes, kopf or Prometheus clients.
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
from inferop.cost.capacity import Capacity, below_goal, estimate
from inferop.cost.forecast import Forecast, forecast
from inferop.cost.plan import Load, learn, load_of, size
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.cost.state import Learned
from inferop.cost.tuning import PlannerTuning
from inferop.tenancy.headroom import Headroom

#: The rate window when the caller does not say (the default CostPolicy's 2 minutes at 30 s).
DEFAULT_WINDOW_INTERVALS = 4
#: An observation older than this many CostPolicy intervals is stale (``PlannerTuning`` has it too).
STALE_AFTER_INTERVALS = PlannerTuning.stale_after_intervals
#: One decision at most multiplies the ready replicas by this on a breach (the guard).
MAX_UP_FACTOR = PlannerTuning.max_up_factor
#: Guards ceil() against float noise (2 x 1.5 must be 3, not 4).
_EPSILON = 1e-9


class Reason(StrEnum):
    SLO_BREACH = "SLOBreach"
    SATURATED = "Saturated"
    WAITING_FOR_REPLICAS = "WaitingForReplicas"
    FORECAST = "Forecast"
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
    """What decide() remembers between ticks: recent (time, recommendation), the last scale action,
    the ready replicas and the planner's learned state."""

    recommendations: tuple[tuple[float, int], ...] = ()
    last_scale_time: float | None = None
    #: The ready replicas of the last tick (None: not known, e.g. after a restart) and when the ready
    #: replicas last increased.
    ready: int | None = None
    ready_rose_at: float | None = None
    #: When the ready replicas last changed (None: never seen).
    ready_since: float | None = None
    #: The planner's learned state (capacity points, load history); ``cost.rebuild`` rebuilds it after
    #: a restart.
    learned: Learned = field(default_factory=Learned)
    #: The capacity per replica the last probe down assumed (None: no probe being judged). It holds
    #: while the fewer replicas it led to are judged by a steady rate window.
    probe: float | None = None

    def record(
        self,
        now: float,
        recommendation: int,
        *,
        scaled: bool,
        keep_seconds: float,
        ready: int | None = None,
        learned: Learned | None = None,
        probe: float | None = None,
    ) -> History:
        """This tick's recommendation (and ready replicas, learned state) appended, old entries dropped."""
        kept = tuple((t, r) for t, r in self.recommendations if t > now - keep_seconds)
        changed = ready is not None and ready != self.ready
        return History(
            recommendations=(*kept, (now, recommendation)),
            last_scale_time=now if scaled else self.last_scale_time,
            ready=self.ready if ready is None else ready,
            ready_rose_at=self.rose_at(now, ready),
            ready_since=now if changed else self.ready_since,
            learned=self.learned if learned is None else learned,
            probe=probe,
        )

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
    tuning: PlannerTuning | None = None,
) -> Decision:
    """The replicas an autoscaled service should run now, and why (see the module docstring).

    ``window_seconds`` is the rate window the observations were computed over and
    ``cold_start_seconds`` the time a new replica takes to serve (measured from the cluster, else the
    runtime profile's); None: not known. ``tuning``: the planner's constants (default: the code's,
    with the CostPolicy's ``spec.planner`` applied)."""
    headroom = headroom or Headroom()
    history = history or History()
    tuning = tuning or PlannerTuning.from_policy(policy)
    current = max(0, current_replicas)
    ready = max(0, min(ready_replicas, current))
    interval = policy.interval_seconds
    window = float(window_seconds) if window_seconds else float(DEFAULT_WINDOW_INTERVALS * interval)
    cold_start = tuning.default_cold_start_seconds if cold_start_seconds is None else float(cold_start_seconds)
    horizon = max(0.0, cold_start) + interval + tuning.horizon_margin_seconds
    stale_after = float(tuning.stale_after_intervals * interval)
    bound = bounds(autoscaling, headroom, policy.schedule, now)
    reading = _read(observations, autoscaling, stale_after)
    metrics_available = not reading.problems
    slo = autoscaling.slo.latency if autoscaling.slo is not None else None
    targets = autoscaling.targets
    headroom_factor = 1 - policy.slo_headroom_percent / 100
    line = slo.target_milliseconds * headroom_factor if slo is not None else 0.0
    goal = slo.percentile / 100 if slo is not None else 1.0
    attainment_line = _attainment_line(slo.percentile, policy.slo_headroom_percent) if slo is not None else 1.0
    attainment = reading.attainment
    utilization = tuning.utilization(goal)

    # Step 1, observe: the load, and what this tick teaches (cost.plan.learn).
    load = load_of(_fresh(observations.token_rate, stale_after), reading.rate)
    steady = now - history.ready_since if history.ready == ready and history.ready_since is not None else None
    learned = learn(
        history.learned,
        now=now,
        load=load,
        ready=ready,
        attainment=attainment if slo is not None else None,
        goal=goal,
        requests=(reading.rate or 0.0) * window,
        steady_seconds=steady,
        window=window,
        tuning=tuning,
    )

    # Step 2, capacity (cost.capacity), with the service's prior.
    # The learned state before this tick: what this tick teaches applies from the next one (a tick's
    # observation judges it through the guard only, so a lower attainment never lowers the replicas).
    capacity: Capacity | None = None
    if slo is not None and load is not None:
        known = history.learned if history.learned.unit == load.unit else Learned(unit=load.unit)
        prior = autoscaling.capacity.per_replica(load.unit) if autoscaling.capacity is not None else None
        capacity = estimate(known, now=now, goal=goal, line=attainment_line, prior=prior, tuning=tuning)

    # Step 3, forecast (cost.forecast) over the cold start plus the decision interval.
    prediction: Forecast | None = None
    if load is not None:
        prediction = forecast(
            learned.load, now=now, observed=load.value, horizon=horizon, unit=load.unit, tuning=tuning
        )

    # Step 5, guard: proportional needs of the breaching signals, from the ready replicas.
    up: dict[str, int] = {}
    if slo is not None and reading.latency is not None and attainment is not None:
        if attainment < goal:
            # Without a capacity the tail's ratio sizes the raise too; with one, the latency's ratio
            # does and the plan, on the capacity the breach lowers, sizes the rest: the tail's ratio
            # (at 80% attainment 4x the error budget) overstates the missing replicas, and its 3x
            # raise, then slow descent, was the planner's largest cost.
            tail = (1 - attainment) / (1 - goal) if capacity is None else 1.0
            factor = max(reading.latency / slo.target_milliseconds, tail)
            up["latency"] = _ceil(ready * min(tuning.max_up_factor, factor))
    elif slo is not None and reading.latency is not None and reading.latency > slo.target_milliseconds:
        up["latency"] = _ceil(ready * min(tuning.max_up_factor, reading.latency / slo.target_milliseconds))
    if targets is not None and reading.queue is not None and targets.queue_depth_per_replica is not None:
        if reading.queue > targets.queue_depth_per_replica:
            up["queue"] = _ceil(ready * min(tuning.max_up_factor, reading.queue / targets.queue_depth_per_replica))
    if targets is not None and reading.gpu is not None and targets.gpu_utilization_percent is not None:
        if reading.gpu > targets.gpu_utilization_percent:
            up["gpu"] = _ceil(ready * min(tuning.max_up_factor, reading.gpu / targets.gpu_utilization_percent))
    # The window predates the ready replicas when they rose within it: it judges fewer replicas.
    rose_at = history.rose_at(now, ready)
    predates = rose_at is not None and now - rose_at < window
    # A breach at a load per replica below one already served within the SLO is not load-driven:
    # more replicas would not cure it, so the guard does not raise (the planner still sizes).
    per_replica = load.value / ready if load is not None and ready > 0 else None
    not_load_driven = (
        "latency" in up
        and capacity is not None
        and capacity.lower is not None
        and per_replica is not None
        and per_replica < capacity.lower
    )
    breached = "latency" in up
    if not_load_driven:
        del up["latency"]
    # ... by more than the window's sampling noise (cost.capacity.breached): 94.6% of 95 requests
    # against a 95% goal is noise, and the guard's raise is enough for it.
    significant = attainment is None or below_goal(attainment, (reading.rate or 0.0) * window, goal, tuning.sampling_z)
    if "latency" in up and capacity is not None and per_replica is not None and not predates and significant:
        # An observed breach lowers the capacity at once: this load per replica was too much.
        capacity = capacity.lowered(per_replica)

    # A load per replica served within the SLO now, by replicas steady over the window, is at least
    # the capacity (the first points may all be light loads): the plan never raises on a service that
    # meets its SLO at a load it has not planned for yet.
    meets = (
        slo is not None
        and not breached
        and metrics_available
        and (attainment is not None or reading.latency is not None)
    )
    if capacity is not None and meets and per_replica is not None and steady is not None and steady >= window:
        capacity = capacity.raised(per_replica)
    # Probe down: steady replicas that meet the SLO with the scale-down line's room, on a service never
    # seen breaching within memory (no upper end), may try one replica fewer (paced by the scale-down
    # window); a breach there brackets the capacity. Without it a service already sized above its
    # load would never learn that fewer replicas serve it (the points only say what was served).
    probe: float | None = None
    if (
        capacity is not None
        and meets
        and capacity.upper is None
        and attainment is not None
        and attainment >= attainment_line
        and steady is not None
        and steady >= window
        and ready >= 2
        and load is not None
    ):
        probe = load.value / ((ready - 1) * utilization)
    # The probe holds until a steady window judges the fewer replicas it led to: the window mixes two
    # counts until then (without this the plan went back up at once, and the probe flapped 4-3-4). A
    # breach ends it (the guard raises, and the breach brackets the capacity).
    judging = (history.ready is not None and ready < history.ready) or (steady is not None and steady < window)
    if probe is None and history.probe is not None and judging and not breached and meets:
        probe = history.probe
    if capacity is not None and probe is not None:
        capacity = capacity.probed(probe)
        if capacity.upper is not None:
            probe = None

    # Step 4, size: ceil(forecast upper / (capacity x utilization)).
    planned: int | None = None
    if capacity is not None and prediction is not None:
        planned = size(prediction.upper, capacity.per_replica, utilization)
    plan_text = _plan_text(prediction, capacity, utilization, planned, learned)

    down: dict[str, int] = {}
    driver = ""
    waiting_for = "waiting for the starting replicas before scaling further"
    if up:
        driver = max(up, key=lambda s: (up[s], s == "latency"))
        need = max(up[driver], planned or 0)
        if driver == "latency" and predates and up[driver] > current:
            # The latency's need is awaited; the plan and the other breaching signals still raise.
            rest = {k: v for k, v in up.items() if k != "latency"}
            need = max(current, planned or 0, *rest.values())
            if rest and max(rest.values()) > max(current, planned or 0):
                driver = max(rest, key=lambda k: rest[k])
            waiting_for = (
                f"replicas became ready {now - (rose_at or now):.0f} s ago, within the {window:.0f} s rate "
                "window: waiting for it to judge them before scaling further"
            )
        recommendation = max(current, need)
        if need <= current:
            reason = Reason.WAITING_FOR_REPLICAS
        else:
            reason = Reason.SLO_BREACH if driver == "latency" else Reason.SATURATED
        what = _signal_text(driver, observations, autoscaling, reading)
        if planned is not None:
            what += f"; {plan_text}"
    elif not metrics_available:
        # Missing data holds and never scales down; a forecast above the capacity may still raise.
        recommendation, reason = current, Reason.METRICS_UNAVAILABLE
        what = "metrics unavailable (" + "; ".join(reading.problems) + ")"
        if planned is not None and planned > current:
            recommendation, reason = planned, Reason.FORECAST
            what += f"; {plan_text}"
    elif planned is not None:
        # The planner: the capacity and the forecast size the replicas, both ways.
        down["plan"] = planned
        if targets is not None and targets.queue_depth_per_replica is not None and reading.queue is not None:
            down["queue"] = _ceil(current * reading.queue / targets.queue_depth_per_replica)
        if targets is not None and targets.gpu_utilization_percent is not None and reading.gpu is not None:
            down["gpu"] = _ceil(current * reading.gpu / targets.gpu_utilization_percent)
        recommendation = max(down.values())
        if recommendation > current:
            reason = Reason.FORECAST
        elif recommendation == current:
            reason = Reason.HOLD
        elif reading.no_load and prediction is not None and prediction.upper <= 0:
            reason = Reason.NO_LOAD
        else:
            reason = Reason.SCALE_DOWN_WITH_HEADROOM
        what = plan_text
        if not_load_driven and capacity is not None and per_replica is not None:
            recommendation = max(recommendation, current)
            reason = Reason.HOLD if recommendation == current else reason
            what = (
                f"{_signal_text('latency', observations, autoscaling, reading)} at "
                f"{_amount(per_replica, capacity.unit)} per replica, under the "
                f"{_amount(capacity.lower or 0.0, capacity.unit)} already served within the SLO: not load-driven, "
                f"more replicas would not cure it; {plan_text}"
            )
    else:
        # Reactive (no capacity known yet: no prior and nothing learned): the latency and the targets.
        has_signal = slo is not None or not _no_targets(autoscaling)
        latency_room = (
            slo is None
            or reading.latency_waived
            or (attainment is not None and attainment >= attainment_line)
            or (attainment is None and reading.latency is not None and reading.latency <= line)
        )
        if has_signal and latency_room:
            if slo is not None:
                down["latency"] = 0 if reading.latency_waived else _ceil(current * (reading.latency or 0) / line)
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
                _down_text(observations, autoscaling, reading, line, policy.slo_headroom_percent)
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
        planner=_planner_inputs(
            load, capacity, prediction, planned, utilization, horizon, cold_start, window, learned, tuning
        ),
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
        slo_breached=breached,
        history=history.record(
            now, recommendation, scaled=acts, keep_seconds=keep, ready=ready, learned=learned, probe=probe
        ),
        capacity=capacity.to_json() if capacity is not None else None,
        forecast=prediction.to_json() if prediction is not None else None,
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


def _planner_inputs(
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


def _amount(value: float, unit: str) -> str:
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


def _plan_text(
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
    return (
        f"forecast {_amount(prediction.load, prediction.unit)}, upper {_short(prediction.upper)} over the next "
        f"{prediction.horizon_seconds:.0f} s; capacity {_amount(capacity.per_replica, capacity.unit)} per replica "
        f"at the SLO ({support}); need ceil({_short(prediction.upper)} / ({_short(capacity.per_replica)} x "
        f"{utilization:.2g})) = {planned}"
    )
