"""Properties of decide() over generated specs, policies, observations, headroom and history (hypothesis).

The generator fills the planner's learned state (capacity points and load history, in tokens or
requests), the ready replicas' history, a token rate and sometimes a capacity prior.

Covers: a higher forecast (every load sample and the load observed scaled up) or a lower capacity
(every capacity point and the prior scaled down) never yields fewer replicas; the result always lies
in [minReplicas, min(maxReplicas, quota, budget)] (the ceiling wins
when the two cross) and inside the schedule's narrowed range; missing, NaN, infinite, stale,
multi-series or failed data never scales down (only bounds can lower the replicas then); a higher
observed latency, or a lower SLO attainment, never yields fewer replicas; Recommend mode never acts
and recommends what Enforce would do; step limits and the cooldown hold whenever no bound intervened;
the same inputs always give the same Decision; the inputs are JSON without NaN or infinity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from inferop.api.costpolicy import DAYS, CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.decide import Decision, History, bounds, decide
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.cost.state import CapacityPoint, Learned, LoadSample
from inferop.tenancy.headroom import Headroom

S = ObservationStatus
START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
UNUSABLE = [S.EMPTY, S.NAN, S.INFINITE, S.NEGATIVE, S.MULTI_SERIES, S.QUERY_FAILED, S.MALFORMED, S.UNSUPPORTED]


def broken(status: ObservationStatus) -> Observation:
    return Observation(status, series=2 if status is S.MULTI_SERIES else 0)


def observations_of(max_value: float) -> st.SearchStrategy[Observation]:
    return st.one_of(
        st.builds(
            Observation.ok,
            st.floats(0, max_value, allow_nan=False, allow_infinity=False),
            st.floats(0, 400, allow_nan=False),
        ),
        st.just(Observation.ok(0.0, 1.0)),
        st.sampled_from(UNUSABLE).map(broken),
    )


@dataclass(frozen=True)
class Scenario:
    observations: Observations
    current: int
    ready: int
    autoscaling: Autoscaling
    policy: CostPolicySpec
    headroom: Headroom
    history: History
    now: float

    def run(self, **changes: Any) -> Decision:
        s = replace(self, **changes)
        return decide(
            s.observations,
            current_replicas=s.current,
            ready_replicas=s.ready,
            autoscaling=s.autoscaling,
            policy=s.policy,
            headroom=s.headroom,
            history=s.history,
            now=s.now,
        )

    @property
    def hard_upper(self) -> int:
        limits = [self.autoscaling.max_replicas, self.headroom.quota_replicas, self.headroom.budget_replicas]
        return max(0, min(x for x in limits if x is not None))


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def schedule_windows(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.one_of(st.none(), st.integers(0, 25)))
    high = draw(st.one_of(st.none(), st.integers(low or 0, 30)))
    window: dict[str, Any] = {
        "days": draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)),
        "start": hhmm(draw(st.integers(0, 24 * 60 - 1))),
        "end": hhmm(draw(st.integers(0, 24 * 60))),
    }
    if low is not None:
        window["minReplicas"] = low
    if high is not None:
        window["maxReplicas"] = high
    return window


@st.composite
def scenarios(draw: st.DrawFn, slo: bool | None = None) -> Scenario:
    min_replicas = draw(st.integers(1, 10))
    spec: dict[str, Any] = {
        "minReplicas": min_replicas,
        "maxReplicas": draw(st.integers(min_replicas, 25)),
        "mode": draw(st.sampled_from(["Enforce", "Enforce", "Recommend"])),
    }
    if slo if slo is not None else draw(st.booleans()):
        spec["slo"] = {
            "latency": {
                "percentile": draw(st.sampled_from([50, 90, 95, 99])),
                "targetMilliseconds": draw(st.integers(1, 20_000)),
            }
        }
    targets: dict[str, int] = {}
    if draw(st.booleans()):
        targets["queueDepthPerReplica"] = draw(st.integers(1, 20))
    if draw(st.booleans()):
        targets["gpuUtilizationPercent"] = draw(st.integers(1, 100))
    if targets:
        spec["targets"] = targets

    def rule(window: int, step: int, percent: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stabilizationSeconds": draw(st.integers(0, window)),
            "maxStepReplicas": draw(st.integers(1, step)),
        }
        if draw(st.booleans()):
            out["maxStepPercent"] = draw(st.integers(1, percent))
        return out

    policy = CostPolicySpec.model_validate(
        {
            "intervalSeconds": draw(st.sampled_from([5, 15, 30, 60, 120])),
            "scaleUp": rule(120, 10, 300),
            "scaleDown": rule(600, 5, 100),
            "cooldownSeconds": draw(st.integers(0, 300)),
            "sloHeadroomPercent": draw(st.integers(0, 90)),
            "schedule": draw(st.one_of(st.just([]), st.lists(schedule_windows(), max_size=2))),
        }
    )
    now = START + draw(st.integers(0, 366 * 86_400))
    # Mostly inside [minReplicas, maxReplicas], sometimes anywhere (outside after a spec or quota change).
    current = draw(st.one_of(st.integers(spec["minReplicas"], spec["maxReplicas"]), st.integers(0, 30)))
    unit = draw(st.sampled_from(["tokens", "requests"]))
    scale = 1000.0 if unit == "tokens" else 1.0
    if draw(st.booleans()):
        spec["capacity"] = (
            {"tokensPerSecondPerReplica": draw(st.integers(1, 20_000))}
            if unit == "tokens"
            else {"requestsPerSecondPerReplica": str(draw(st.integers(1, 400)) / 20)}
        )
    points = tuple(
        sorted(
            (
                CapacityPoint(now - ago, per * scale, att)
                for ago, per, att in draw(
                    st.lists(
                        st.tuples(st.integers(1, 20_000), st.floats(0.01, 20), st.floats(0, 1)),
                        max_size=12,
                    )
                )
            ),
            key=lambda p: p.time,
        )
    )
    base_load = draw(st.floats(0, 200)) * scale
    load = tuple(
        LoadSample(now - ago, max(0.0, base_load * (1 + wiggle)))
        for ago, wiggle in sorted(
            draw(
                st.lists(
                    st.tuples(st.sampled_from([*range(30, 900, 30), *range(86_300, 86_700, 30)]), st.floats(-0.5, 2)),
                    max_size=40,
                    unique_by=lambda x: x[0],
                )
            ),
            reverse=True,
        )
    )
    learned = Learned(unit=unit, points=points, load=load)
    ready_before = draw(st.one_of(st.none(), st.integers(0, 30)))
    ready_since = None if ready_before is None else now - draw(st.integers(0, 900))
    if draw(st.booleans()):  # any history: stabilization and cooldown often hold
        history = History(
            recommendations=tuple(
                sorted(
                    (now - offset, rec)
                    for offset, rec in draw(st.lists(st.tuples(st.integers(1, 900), st.integers(0, 40)), max_size=30))
                )
            ),
            last_scale_time=draw(st.one_of(st.none(), st.integers(0, 900).map(lambda ago: now - ago))),
            ready=ready_before,
            ready_since=ready_since,
            learned=learned,
        )
    else:  # a quiet history: low recommendations over the last 15 minutes, no recent action
        step = policy.interval_seconds
        history = History(
            recommendations=tuple((now - ago, 0) for ago in range(900, 0, -step)),
            ready=ready_before,
            ready_since=ready_since,
            learned=learned,
        )
    return Scenario(
        observations=Observations(
            latency_milliseconds=draw(observations_of(100_000)),
            queue_depth_per_replica=draw(observations_of(100)),
            request_rate=draw(observations_of(1000)),
            gpu_utilization_percent=draw(observations_of(100)),
            slo_attainment=draw(st.one_of(st.floats(0, 1).map(lambda a: Observation.ok(a, 1.0)), observations_of(1))),
            token_rate=draw(observations_of(400_000)) if unit == "tokens" else Observation.missing(S.UNSUPPORTED),
        ),
        current=current,
        ready=draw(st.integers(0, current + 3)),
        autoscaling=Autoscaling.model_validate(spec),
        policy=policy,
        headroom=Headroom(
            quota_replicas=draw(st.one_of(st.none(), st.none(), st.integers(0, 30))),
            budget_replicas=draw(st.one_of(st.none(), st.none(), st.integers(0, 30))),
        ),
        history=history,
        now=float(now),
    )


PROPERTY = settings(max_examples=400, deadline=None)


@PROPERTY
@given(scenarios())
def test_bounds_are_always_respected(s: Scenario) -> None:
    d = s.run()
    if s.autoscaling.min_replicas <= s.hard_upper:
        assert s.autoscaling.min_replicas <= d.desired_replicas <= s.hard_upper
    else:  # quota or budget below minReplicas: the ceiling wins, no Pending pods
        assert d.desired_replicas == s.hard_upper
    b = bounds(s.autoscaling, s.headroom, s.policy.schedule, s.now)
    assert b.lower <= d.desired_replicas <= b.upper
    if d.limited_by is not None:  # a bound changed the result: the result is that bound
        assert d.desired_replicas in (b.lower, b.upper)
        assert d.limited_by in (b.lower_by, b.upper_by)


@PROPERTY
@given(scenarios(slo=True), st.sampled_from(UNUSABLE + ["stale"]), st.sampled_from(UNUSABLE + ["positive"]))
def test_missing_or_nan_latency_never_scales_down(s: Scenario, latency: Any, rate: Any) -> None:
    stale = s.policy.interval_seconds * 3 + 1
    latency_obs = Observation.ok(1.0, stale) if latency == "stale" else broken(latency)
    rate_obs = Observation.ok(5.0, 1.0) if rate == "positive" else broken(rate)  # never a real zero rate
    obs = replace(s.observations, latency_milliseconds=latency_obs, request_rate=rate_obs)
    d = s.run(observations=obs)
    assert not d.metrics_available
    b = bounds(s.autoscaling, s.headroom, s.policy.schedule, s.now)
    assert d.desired_replicas >= min(s.current, b.upper)


@PROPERTY
@given(scenarios())
def test_unavailable_metrics_never_scale_down(s: Scenario) -> None:
    d = s.run()
    if not d.metrics_available:
        b = bounds(s.autoscaling, s.headroom, s.policy.schedule, s.now)
        assert d.desired_replicas >= min(s.current, b.upper)


def latency_sweep(s: Scenario, extra: list[float]) -> list[float]:
    """Latencies in increasing order: right at and around every threshold where decide() changes its
    mind (the headroom line, the target, each step of the proportional needs), plus ``extra``."""
    assert s.autoscaling.slo is not None
    target = s.autoscaling.slo.latency.target_milliseconds
    line = target * (1 - s.policy.slo_headroom_percent / 100)
    current, ready = max(1, s.current), max(1, min(s.ready, s.current))
    thresholds = [0.0, line, float(target)]
    thresholds += [line * j / current for j in range(current + 1)]  # scale-down needs change
    thresholds += [target * j / ready for j in range(ready, 3 * ready + 1)]  # scale-up needs change
    points = {max(0.0, x + d) for x in thresholds for d in (0.0, -1.0, 1.0, -1e-6 * x, 1e-6 * x)}
    return sorted(points | {x * target for x in extra})


@PROPERTY
@given(scenarios(slo=True), st.lists(st.floats(0, 3, allow_nan=False), max_size=5), st.floats(0, 400))
def test_higher_latency_never_yields_fewer_replicas(s: Scenario, extra: list[float], age: float) -> None:
    desired = [
        s.run(observations=replace(s.observations, latency_milliseconds=Observation.ok(latency, age))).desired_replicas
        for latency in latency_sweep(s, extra)
    ]
    assert desired == sorted(desired)


@PROPERTY
@given(scenarios(slo=True), st.floats(0, 3, allow_nan=False), st.lists(st.floats(0, 1), max_size=5))
def test_lower_slo_attainment_never_yields_fewer_replicas(s: Scenario, latency: float, extra: list[float]) -> None:
    assert s.autoscaling.slo is not None
    slo = s.autoscaling.slo.latency
    goal = slo.percentile / 100
    line = 1 - (1 - goal) * (1 - s.policy.slo_headroom_percent / 100)
    ready = max(1, min(s.ready, s.current))
    # around the goal, the scale-down line and every step of the error-budget ratio (1 - a) / (1 - goal)
    thresholds = [0.0, goal, line, 1.0] + [1 - (1 - goal) * j / ready for j in range(ready, 3 * ready + 1)]
    points = sorted({min(1.0, max(0.0, x + d)) for x in [*thresholds, *extra] for d in (0.0, -1e-9, 1e-9)})
    latency_obs = Observation.ok(latency * slo.target_milliseconds, 5.0)
    desired = [
        s.run(
            observations=replace(
                s.observations, latency_milliseconds=latency_obs, slo_attainment=Observation.ok(attainment, 5.0)
            )
        ).desired_replicas
        for attainment in reversed(points)  # from all requests within the SLO down to none
    ]
    assert desired == sorted(desired)


def scaled_load(s: Scenario, factor: float) -> Scenario:
    """Every load sample and the load observed now times ``factor``."""
    learned = s.history.learned
    load = tuple(LoadSample(x.time, x.load * factor) for x in learned.load)
    obs = s.observations
    if learned.unit == "tokens":
        obs = replace(obs, token_rate=Observation.ok(obs.token_rate.value * factor, 1.0))
    else:
        obs = replace(obs, request_rate=Observation.ok(obs.request_rate.value * factor, 1.0))
    return replace(s, observations=obs, history=replace(s.history, learned=replace(learned, load=load)))


def scaled_capacity(s: Scenario, factor: float) -> Scenario:
    """Every capacity point and the prior times ``factor``."""
    learned = s.history.learned
    points = tuple(replace(p, per_replica=p.per_replica * factor) for p in learned.points)
    autoscaling = s.autoscaling
    prior = autoscaling.capacity
    if prior is not None:
        tokens = prior.tokens_per_second_per_replica
        rps = prior.requests_per_second_per_replica
        prior = prior.model_copy(
            update={
                "tokens_per_second_per_replica": None if tokens is None else max(1, round(tokens * factor)),
                "requests_per_second_per_replica": None if rps is None else f"{float(rps) * factor:.9f}",
            }
        )
        autoscaling = autoscaling.model_copy(update={"capacity": prior})
    history = replace(s.history, learned=replace(learned, points=points))
    return replace(s, history=history, autoscaling=autoscaling)


def usable_load(s: Scenario) -> bool:
    obs = s.observations.token_rate if s.history.learned.unit == "tokens" else s.observations.request_rate
    return obs.usable and obs.value is not None and (obs.age_seconds or 0) <= 3 * s.policy.interval_seconds


@PROPERTY
@given(scenarios(slo=True), st.lists(st.floats(1, 10), min_size=1, max_size=4))
def test_a_higher_forecast_never_yields_fewer_replicas(s: Scenario, factors: list[float]) -> None:
    if not usable_load(s):
        return
    desired = [scaled_load(s, f).run().desired_replicas for f in sorted({1.0, *factors})]
    assert desired == sorted(desired)


@PROPERTY
@given(scenarios(slo=True), st.lists(st.floats(0.05, 1), min_size=1, max_size=4))
def test_a_lower_capacity_never_yields_fewer_replicas(s: Scenario, factors: list[float]) -> None:
    # the requests prior is a decimal string: compare capacities scaled from the same string
    desired = [scaled_capacity(s, f).run().desired_replicas for f in sorted({1.0, *factors}, reverse=True)]
    assert desired == sorted(desired)


@PROPERTY
@given(scenarios())
def test_recommend_never_acts_and_recommends_what_enforce_would_do(s: Scenario) -> None:
    recommend = s.run(autoscaling=s.autoscaling.model_copy(update={"mode": "Recommend"}))
    enforce = s.run(autoscaling=s.autoscaling.model_copy(update={"mode": "Enforce"}))
    assert recommend.acts is False
    assert recommend.history.last_scale_time == s.history.last_scale_time
    assert recommend.desired_replicas == enforce.desired_replicas
    assert enforce.acts == (enforce.desired_replicas != s.current)


@PROPERTY
@given(scenarios())
def test_steps_and_cooldown_hold_when_no_bound_intervened(s: Scenario) -> None:
    d = s.run()
    if d.limited_by is not None:
        return
    current = s.current
    up, down = s.policy.scale_up, s.policy.scale_down
    up_step = max(up.max_step_replicas, -(-current * (up.max_step_percent or 0) // 100))
    down_step = max(down.max_step_replicas, -(-current * (down.max_step_percent or 0) // 100))
    assert current - down_step <= d.desired_replicas <= current + up_step
    if d.desired_replicas < current:
        last = s.history.last_scale_time
        assert last is None or s.now - last >= s.policy.cooldown_seconds
        assert d.metrics_available


@PROPERTY
@given(scenarios())
def test_decide_is_deterministic_and_its_inputs_are_json(s: Scenario) -> None:
    first, second = s.run(), s.run()
    assert first == second
    text = json.dumps(first.inputs, allow_nan=False, sort_keys=True)
    assert json.dumps(second.inputs, allow_nan=False, sort_keys=True) == text
    json.dumps(first.to_json(), allow_nan=False)
