"""decide(): how many replicas an autoscaled InferenceService should run, and why. Pure.

What this module is for: the entry point of the cost controller's planner, one deterministic function
from what was observed (latency, SLO attainment, request and token rates, queue depth, GPU
utilization, each with its age and status), the service's replicas, SLO, targets, bounds and
capacity prior, the CostPolicy, the tenant's headroom and the recent history (with the learned
state) to a :class:`Decision`: how many replicas, why (``reason``, ``message``), which bound limited it
(``limited_by``), exactly which inputs it used (``inputs``, JSON-safe), the capacity estimate and the
load forecast. The control loop, the simulator and the backtest all call it.

The pipeline, each step a small pure function in its own module (the rules: ``docs/decide.md``):

1. observe (``cost.reading``, ``cost.plan``): usable signals; the load (tokens/s when observed, else
   requests/s); a load sample every tick and a capacity point for each steady interval, into
   ``History.learned`` (``cost.history``);
2. capacity (``cost.capacity``): the load per ready replica at the SLO goal, from the learned points
   with decaying memory, or the prior; none: the service is reactive while it learns;
3. forecast (``cost.forecast``): level, trend and an upper quantile over the horizon (cold start plus
   the decision interval), and the same time of day on previous days;
4. guard (``cost.guard``): an observed breach (attainment under the goal, latency over the SLO, a
   target signal over its target) needs a raise at once and lowers the capacity to the load that
   breached; the SLO met raises it; the probe down tries one replica fewer;
5. size (``cost.plan.size``): ``ceil(forecast upper / (capacity x utilization))``, the utilization
   target from the error budget (``cost.tuning``);
6. recommend (here): the guard's need when a signal breaches (or the plan's, when higher); missing,
   NaN or stale data holds and never scales down; else the plan, both ways; else (no capacity yet)
   reactive on the latency and the targets;
7. stabilize and bound (``cost.stabilize``, ``cost.bounds``): the HPA's stabilization windows, the
   cooldown, the step limits, then minReplicas, maxReplicas, quota, budget and schedule windows;
   Recommend mode never acts;
8. explain (``cost.explain``): the message and the JSON-safe inputs.

Must not: do I/O, read the clock (``now`` is passed in), keep state (``History`` is passed in and a
new one is returned), import Kubernetes, kopf or Prometheus clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cost import explain
from inferop.cost.bounds import Bounds, bounds, schedule_limits, window_active
from inferop.cost.capacity import Capacity, estimate
from inferop.cost.forecast import Forecast, forecast
from inferop.cost.guard import Guard, ceil_replicas, guard
from inferop.cost.history import History
from inferop.cost.plan import learn, load_of, size
from inferop.cost.reading import Reading, fresh, no_targets, read, scale_down_attainment
from inferop.cost.reasons import LimitedBy, Reason
from inferop.cost.signals import Observations
from inferop.cost.stabilize import stabilize
from inferop.cost.state import Learned
from inferop.cost.tuning import PlannerTuning
from inferop.tenancy.headroom import Headroom

__all__ = [
    "Bounds",
    "Decision",
    "History",
    "LimitedBy",
    "Reason",
    "bounds",
    "decide",
    "schedule_limits",
    "window_active",
]

#: The rate window when the caller does not say (the default CostPolicy's 2 minutes at 30 s).
DEFAULT_WINDOW_INTERVALS = 4


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
    reading = read(observations, autoscaling, stale_after)
    metrics_available = not reading.problems
    slo = autoscaling.slo.latency if autoscaling.slo is not None else None
    goal = slo.percentile / 100 if slo is not None else 1.0
    attainment_line = scale_down_attainment(slo.percentile, policy.slo_headroom_percent) if slo is not None else 1.0
    utilization = tuning.utilization(goal)

    # Step 1, observe: the load, and what this tick teaches (cost.plan.learn).
    load = load_of(fresh(observations.token_rate, stale_after), reading.rate)
    steady = now - history.ready_since if history.ready == ready and history.ready_since is not None else None
    learned = learn(
        history.learned,
        now=now,
        load=load,
        ready=ready,
        attainment=reading.attainment if slo is not None else None,
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

    # Step 4, guard (cost.guard): the breaching signals' needs, and the capacity they lower or raise.
    guarded = guard(
        reading,
        autoscaling=autoscaling,
        capacity=capacity,
        load=load,
        ready=ready,
        now=now,
        window=window,
        steady=steady,
        rose_at=history.rose_at(now, ready),
        previous_ready=history.ready,
        previous_probe=history.probe,
        metrics_available=metrics_available,
        goal=goal,
        attainment_line=attainment_line,
        utilization=utilization,
        tuning=tuning,
    )
    capacity = guarded.capacity

    # Step 5, size (cost.plan.size): ceil(forecast upper / (capacity x utilization)).
    planned: int | None = None
    if capacity is not None and prediction is not None:
        planned = size(prediction.upper, capacity.per_replica, utilization)
    plan_text = explain.plan_text(prediction, capacity, utilization, planned, learned)

    # Step 6, recommend: the guard's needs, else hold on missing data, else the plan, else reactive.
    choice = _recommend(
        observations,
        reading,
        guarded,
        autoscaling=autoscaling,
        policy=policy,
        current=current,
        now=now,
        window=window,
        metrics_available=metrics_available,
        prediction=prediction,
        planned=planned,
        plan_text=plan_text,
    )
    recommendation = choice.recommendation

    # Step 7, stabilize and bound (cost.stabilize, cost.bounds).
    held = stabilize(
        recommendation, choice.reason, current=current, history=history, policy=policy, bound=bound, now=now
    )
    desired, reason, limited_by = held.desired, held.reason, held.limited_by

    # Step 8, explain (cost.explain).
    acts = autoscaling.mode == "Enforce" and desired != current
    message = explain.message(
        reason,
        choice.what,
        held.note,
        current=current,
        ready=ready,
        desired=desired,
        limited_by=limited_by,
        bound=bound,
        waiting_for=choice.waiting_for,
    )
    if autoscaling.mode == "Recommend" and desired != current:
        message += " (Recommend mode: not applied)"
    metrics_message = "all required signals usable" if metrics_available else "; ".join(reading.problems)
    if metrics_available and reading.latency_waived:
        metrics_message = "no load: latency is undefined at zero requests"

    keep = max(policy.scale_up.stabilization_seconds, policy.scale_down.stabilization_seconds) + interval
    inputs = explain.inputs(
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
        up=guarded.up,
        down=choice.down,
        recommendation=recommendation,
        stabilized=held.stabilized,
        history=history,
        up_past=held.up_past,
        down_past=held.down_past,
        planner=explain.planner_inputs(
            load,
            capacity,
            prediction,
            planned,
            utilization,
            horizon,
            cold_start,
            window,
            learned,
            tuning,
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
        slo_breached=guarded.breached,
        history=history.record(
            now,
            recommendation,
            scaled=acts,
            keep_seconds=keep,
            ready=ready,
            learned=learned,
            probe=guarded.probe,
        ),
        capacity=capacity.to_json() if capacity is not None else None,
        forecast=prediction.to_json() if prediction is not None else None,
    )


@dataclass(frozen=True)
class _Choice:
    """The recommendation before stabilization, why, and what the message says about it."""

    recommendation: int
    reason: Reason
    what: str
    #: The needs of the signals that size a scale-down (the plan, the targets, the latency).
    down: dict[str, int]
    waiting_for: str


def _recommend(
    observations: Observations,
    reading: Reading,
    guarded: Guard,
    *,
    autoscaling: Autoscaling,
    policy: CostPolicySpec,
    current: int,
    now: float,
    window: float,
    metrics_available: bool,
    prediction: Forecast | None,
    planned: int | None,
    plan_text: str,
) -> _Choice:
    """The guard's needs when a signal breaches (with the plan's when higher); else, on missing data,
    hold (a plan above the current replicas still raises); else the plan both ways; else (no capacity
    known yet) reactive on the latency and the targets."""
    slo = autoscaling.slo.latency if autoscaling.slo is not None else None
    targets = autoscaling.targets
    line = slo.target_milliseconds * (1 - policy.slo_headroom_percent / 100) if slo is not None else 0.0
    attainment_line = scale_down_attainment(slo.percentile, policy.slo_headroom_percent) if slo is not None else 1.0
    attainment = reading.attainment
    up = guarded.up
    capacity = guarded.capacity
    per_replica = guarded.per_replica
    down: dict[str, int] = {}
    driver = ""
    waiting_for = "waiting for the starting replicas before scaling further"
    if up:
        driver = max(up, key=lambda s: (up[s], s == "latency"))
        need = max(up[driver], planned or 0)
        if driver == "latency" and guarded.predates and up[driver] > current:
            # The latency's need is awaited; the plan and the other breaching signals still raise.
            rest = {k: v for k, v in up.items() if k != "latency"}
            need = max(current, planned or 0, *rest.values())
            if rest and max(rest.values()) > max(current, planned or 0):
                driver = max(rest, key=lambda k: rest[k])
            waiting_for = (
                f"replicas became ready {now - (guarded.rose_at or now):.0f} s ago, within the {window:.0f} s rate "
                "window: waiting for it to judge them before scaling further"
            )
        recommendation = max(current, need)
        if need <= current:
            reason = Reason.WAITING_FOR_REPLICAS
        else:
            reason = Reason.SLO_BREACH if driver == "latency" else Reason.SATURATED
        what = explain.signal_text(driver, observations, autoscaling, reading)
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
            down["queue"] = ceil_replicas(current * reading.queue / targets.queue_depth_per_replica)
        if targets is not None and targets.gpu_utilization_percent is not None and reading.gpu is not None:
            down["gpu"] = ceil_replicas(current * reading.gpu / targets.gpu_utilization_percent)
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
        if guarded.not_load_driven and capacity is not None and per_replica is not None:
            recommendation = max(recommendation, current)
            reason = Reason.HOLD if recommendation == current else reason
            what = explain.not_load_driven_text(observations, autoscaling, reading, per_replica, capacity, plan_text)
    else:
        # Reactive (no capacity known yet: no prior and nothing learned): the latency and the targets.
        has_signal = slo is not None or not no_targets(autoscaling)
        latency_room = (
            slo is None
            or reading.latency_waived
            or (attainment is not None and attainment >= attainment_line)
            or (attainment is None and reading.latency is not None and reading.latency <= line)
        )
        if has_signal and latency_room:
            if slo is not None:
                waived = reading.latency_waived
                down["latency"] = 0 if waived else ceil_replicas(current * (reading.latency or 0) / line)
            if targets is not None and targets.queue_depth_per_replica is not None and reading.queue is not None:
                down["queue"] = ceil_replicas(current * reading.queue / targets.queue_depth_per_replica)
            if targets is not None and targets.gpu_utilization_percent is not None and reading.gpu is not None:
                down["gpu"] = ceil_replicas(current * reading.gpu / targets.gpu_utilization_percent)
            recommendation = min(current, max(down.values()))
            if recommendation == current:
                reason = Reason.HOLD
            elif reading.latency_waived or (slo is None and reading.no_load):
                reason = Reason.NO_LOAD
            else:
                reason = Reason.SCALE_DOWN_WITH_HEADROOM
            what = (
                explain.down_text(observations, autoscaling, reading, line, policy.slo_headroom_percent)
                if reason is not Reason.HOLD
                else explain.hold_text(observations, autoscaling, reading, line, policy.slo_headroom_percent)
            )
        else:
            recommendation, reason = current, Reason.HOLD
            what = explain.hold_text(observations, autoscaling, reading, line, policy.slo_headroom_percent)
    return _Choice(recommendation, reason, what, down, waiting_for)
