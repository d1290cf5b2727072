"""decide(), rule by rule, on hand-computed cases (inferop.cost.decide).

Covers: proportional scale-up on an SLO breach and on queue or GPU saturation (the largest need wins,
computed from ready replicas, limited by the scale-up step); holding while starting replicas cover
the need; slow scale-down only below the SLO headroom line (proportional need, step limit,
stabilization window with the HPA's max-over-window rule and full-window coverage, cooldown after the
last scale action); holding on empty, NaN, stale, multi-series and failed data with
MetricsAvailable=False, while a usable breaching signal may still scale up; zero traffic as "no load"
only when the request rate is a real 0; minReplicas, maxReplicas, quota, budget and schedule
floors/ceilings (UTC, overnight windows) with limitedBy naming the bound; zero replicas; Recommend
mode; the explanation (reason, message, JSON-safe inputs) and the returned history.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.decide import Decision, History, Reason, bounds, decide, window_active
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.cost.state import CapacityPoint, Learned
from inferop.tenancy.headroom import Headroom

NOW = datetime(2024, 1, 3, 12, 0, tzinfo=UTC).timestamp()  # a Wednesday, 12:00 UTC
S = ObservationStatus


def autoscaling(**spec: Any) -> Autoscaling:
    base: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 10,
        "slo": {"latency": {"percentile": 95, "targetMilliseconds": 5000}},
    }
    return Autoscaling.model_validate({**base, **spec})


def policy(**spec: Any) -> CostPolicySpec:
    return CostPolicySpec.model_validate(spec)


def ok(value: float, age: float = 5.0, statistic: str = "") -> Observation:
    return Observation.ok(value, age, statistic)


def observed(
    latency: Observation | float | None = None,
    queue: Observation | float | None = 0.5,
    rate: Observation | float | None = 10.0,
    gpu: Observation | float | None = 50.0,
) -> Observations:
    def obs(value: Observation | float | None, statistic: str = "") -> Observation:
        if isinstance(value, Observation):
            return value
        if value is None:
            return Observation.missing(S.EMPTY)
        return ok(value, statistic=statistic)

    return Observations(obs(latency, "p95"), obs(queue), obs(rate), obs(gpu))


def steady(recommendation: int, seconds: int = 300, interval: int = 30, now: float = NOW) -> History:
    """A history that recommended ``recommendation`` every interval over the last ``seconds``."""
    ticks = range(seconds // interval, 0, -1)
    return History(recommendations=tuple((now - k * interval, recommendation) for k in ticks))


def run(
    obs: Observations,
    current: int,
    ready: int | None = None,
    spec: Autoscaling | None = None,
    pol: CostPolicySpec | None = None,
    headroom: Headroom | None = None,
    history: History | None = None,
    now: float = NOW,
) -> Decision:
    return decide(
        obs,
        current_replicas=current,
        ready_replicas=current if ready is None else ready,
        autoscaling=spec or autoscaling(),
        policy=pol or policy(),
        headroom=headroom,
        history=history,
        now=now,
    )


# -- scale up ------------------------------------------------------------------------------------


def test_slo_breach_scales_up_proportionally() -> None:
    d = run(observed(latency=6200), current=2)
    # ceil(2 x 6200 / 5000) = ceil(2.48) = 3
    assert (d.desired_replicas, d.reason, d.limited_by, d.acts) == (3, Reason.SLO_BREACH, None, True)
    assert d.message == "p95 6200 ms > SLO 5000 ms with 2 replicas: scaling to 3"
    assert d.metrics_available


def test_scale_up_is_limited_by_the_larger_of_step_replicas_and_step_percent() -> None:
    # need ceil(4 x min(2, 10)) = 8; default step max(4, 100% of 4) = 4
    assert run(observed(latency=50_000), current=4).desired_replicas == 8
    pol = policy(scaleUp={"stabilizationSeconds": 0, "maxStepReplicas": 1, "maxStepPercent": 50})
    # step max(1, ceil(4 x 50%)) = 2
    assert run(observed(latency=50_000), current=4, pol=pol).desired_replicas == 6
    pol = policy(scaleUp={"stabilizationSeconds": 0, "maxStepReplicas": 3, "maxStepPercent": 50})
    # step max(3, 2) = 3
    assert run(observed(latency=50_000), current=4, pol=pol).desired_replicas == 7


def test_queue_saturation_scales_up_even_within_the_slo() -> None:
    spec = autoscaling(targets={"queueDepthPerReplica": 4})
    d = run(observed(latency=3000, queue=9), current=3, spec=spec)
    # need ceil(3 x 9 / 4) = 7
    assert (d.desired_replicas, d.reason) == (7, Reason.SATURATED)
    assert d.message.startswith("queue depth 9.0 per replica > target 4 with 3 replicas: scaling to 7")


def test_gpu_saturation_scales_up() -> None:
    spec = autoscaling(targets={"gpuUtilizationPercent": 80})
    d = run(observed(latency=3000, gpu=95), current=4, spec=spec)
    # ceil(4 x 95 / 80) = ceil(4.75) = 5
    assert (d.desired_replicas, d.reason) == (5, Reason.SATURATED)
    assert "GPU utilization 95% > target 80%" in d.message


def test_the_largest_need_of_all_breaching_signals_wins() -> None:
    spec = autoscaling(targets={"queueDepthPerReplica": 4})
    d = run(observed(latency=6000, queue=7), current=2, spec=spec)
    # latency ceil(2 x 1.2) = 3, queue ceil(2 x 1.75) = 4
    assert (d.desired_replicas, d.reason) == (4, Reason.SATURATED)
    assert d.inputs["needs"]["up"] == {"latency": 3, "queue": 4}


def test_float_noise_does_not_add_a_replica() -> None:
    # 2 x 7500 / 5000 is exactly 3
    assert run(observed(latency=7500), current=2).desired_replicas == 3


def test_need_is_computed_from_ready_replicas_and_starting_ones_are_awaited() -> None:
    # 4 replicas, 2 ready: the 6000 ms came from 2 replicas; ceil(2 x 1.2) = 3 <= 4 already coming.
    d = run(observed(latency=6000), current=4, ready=2)
    assert (d.desired_replicas, d.reason, d.acts) == (4, Reason.WAITING_FOR_REPLICAS, False)
    assert "2 ready" in d.message
    # a bigger breach cannot need more than three times the ready replicas: ceil(2 x min(3, 6)) = 6,
    # which the 6 replicas already coming cover; with 4 (2 ready) it scales to 6
    assert run(observed(latency=30_000), current=6, ready=2).reason is Reason.WAITING_FOR_REPLICAS
    assert run(observed(latency=30_000), current=4, ready=2).desired_replicas == 6
    # with 3 of 4 ready: ceil(3 x 3) = 9, the step (max(4, 100% of 4)) allows 8
    assert run(observed(latency=30_000), current=4, ready=3).desired_replicas == 8


def test_scale_up_ignores_cooldown() -> None:
    history = History(last_scale_time=NOW - 10)
    assert run(observed(latency=6200), current=2, history=history).desired_replicas == 3


def test_scale_up_stabilization_uses_the_smallest_recent_recommendation() -> None:
    pol = policy(scaleUp={"stabilizationSeconds": 60, "maxStepReplicas": 4})
    history = History(recommendations=((NOW - 30, 2),))
    d = run(observed(latency=6200), current=2, pol=pol, history=history)
    assert (d.desired_replicas, d.reason) == (2, Reason.STABILIZING)
    # the inputs' window is the rate window (4 intervals), not the 60 s stabilization window the note names
    assert "the last 60 s recommended 2" in d.message and d.inputs["planner"]["windowSeconds"] == 120.0
    # once the low recommendation leaves the window, it scales
    later = run(observed(latency=6200), current=2, pol=pol, history=history, now=NOW + 31)
    assert later.desired_replicas == 3


# -- scale down ----------------------------------------------------------------------------------


def test_scale_down_needs_headroom_below_the_slo() -> None:
    # line = 5000 x (1 - 20%) = 4000 ms; 4500 ms is inside the SLO but above the line: hold
    d = run(observed(latency=4500), current=4, history=steady(1))
    assert (d.desired_replicas, d.reason, d.acts) == (4, Reason.HOLD, False)
    assert d.message == "p95 4500 ms within SLO 5000 ms, above the scale-down line 4000 ms with 4 replicas: holding"


def test_scale_down_with_headroom_is_paced_by_the_default_step() -> None:
    d = run(observed(latency=1000), current=4, history=steady(1))
    # need ceil(4 x 1000 / 4000) = 1; the default scale-down step is max(1, 50% of 4) = 2 -> 2
    assert (d.desired_replicas, d.reason, d.limited_by) == (2, Reason.SCALE_DOWN_WITH_HEADROOM, None)
    assert d.recommendation == 1
    assert d.message == "p95 1000 ms <= 4000 ms (SLO 5000 ms less 20% headroom) with 4 replicas: scaling down to 2"
    one = policy(scaleDown={"stabilizationSeconds": 300, "maxStepReplicas": 1})
    assert run(observed(latency=1000), current=4, history=steady(1), pol=one).desired_replicas == 3


def test_scale_down_need_is_the_largest_of_the_signals() -> None:
    spec = autoscaling(targets={"queueDepthPerReplica": 4, "gpuUtilizationPercent": 80})
    pol = policy(scaleDown={"stabilizationSeconds": 300, "maxStepReplicas": 10})
    d = run(observed(latency=1000, queue=2, gpu=60), current=8, spec=spec, pol=pol, history=steady(0))
    # latency ceil(8 x 0.25) = 2, queue ceil(8 x 0.5) = 4, GPU ceil(8 x 0.75) = 6
    assert d.inputs["needs"]["down"] == {"latency": 2, "queue": 4, "gpu": 6}
    assert d.desired_replicas == 6


def test_scale_down_step_percent() -> None:
    pol = policy(scaleDown={"stabilizationSeconds": 0, "maxStepReplicas": 1, "maxStepPercent": 50})
    # need ceil(10 x 100 / 4000) = 1; step max(1, 50% of 10) = 5
    assert run(observed(latency=100), current=10, pol=pol).desired_replicas == 5


def test_scale_down_uses_the_largest_recommendation_of_the_window() -> None:
    history = History(recommendations=((NOW - 290, 1), (NOW - 200, 3), (NOW - 100, 1), (NOW - 30, 1)))
    d = run(observed(latency=1000), current=4, history=history)
    assert (d.desired_replicas, d.reason) == (3, Reason.SCALE_DOWN_WITH_HEADROOM)
    history = History(recommendations=((NOW - 290, 1), (NOW - 200, 4), (NOW - 30, 1)))
    d = run(observed(latency=1000), current=4, history=history)
    assert (d.desired_replicas, d.reason) == (4, Reason.STABILIZING)
    assert "the last 300 s recommended 4" in d.message


def test_scale_down_waits_until_the_history_covers_the_window() -> None:
    # A fresh controller (or one back from a gap) has not watched the service for 300 s yet.
    d = run(observed(latency=1000), current=4, history=History())
    assert (d.desired_replicas, d.reason) == (4, Reason.STABILIZING)
    assert "waits for 300 s" in d.message
    short = steady(1, seconds=120)
    assert run(observed(latency=1000), current=4, history=short).desired_replicas == 4
    assert run(observed(latency=1000), current=4, history=steady(1, seconds=270)).desired_replicas == 2


def test_no_scale_down_within_cooldown_of_the_last_scale_action() -> None:
    history = History(recommendations=steady(1).recommendations, last_scale_time=NOW - 30)
    d = run(observed(latency=1000), current=4, history=history)
    assert (d.desired_replicas, d.reason) == (4, Reason.COOLDOWN)
    assert "last scaled 30 s ago (cooldown 60 s)" in d.message
    history = History(recommendations=steady(1).recommendations, last_scale_time=NOW - 61)
    assert run(observed(latency=1000), current=4, history=history).desired_replicas == 2


def test_without_an_slo_targets_alone_drive_both_directions() -> None:
    spec = Autoscaling.model_validate({"minReplicas": 1, "maxReplicas": 10, "targets": {"queueDepthPerReplica": 4}})
    up = run(observed(latency=None, queue=8), current=2, spec=spec)
    assert (up.desired_replicas, up.reason, up.metrics_available) == (4, Reason.SATURATED, True)
    down = run(observed(latency=None, queue=1), current=4, spec=spec, history=steady(1))
    assert (down.desired_replicas, down.reason) == (2, Reason.SCALE_DOWN_WITH_HEADROOM)


def test_without_slo_or_targets_only_bounds_apply() -> None:
    spec = Autoscaling.model_validate({"minReplicas": 2, "maxReplicas": 5})
    d = run(observed(latency=None), current=3, spec=spec, history=steady(1))
    assert (d.desired_replicas, d.reason) == (3, Reason.HOLD)
    assert "no SLO and no targets" in d.message
    assert run(observed(latency=None), current=7, spec=spec).desired_replicas == 5


# -- missing data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latency", "problem"),
    [
        (Observation.missing(S.EMPTY), "latency: no data"),
        (Observation.missing(S.NAN), "latency: NaN"),
        (Observation(S.MULTI_SERIES, series=2), "latency: 2 series for one service"),
        (Observation.missing(S.QUERY_FAILED, "timeout"), "latency: query failed (timeout)"),
        (Observation.missing(S.INFINITE), "latency: infinite"),
        (ok(1000, age=91), "latency: stale (91 s old, limit 90 s)"),
    ],
)
def test_unusable_latency_holds_and_never_scales_down(latency: Observation, problem: str) -> None:
    d = run(observed(latency=latency), current=4, history=steady(1))
    assert (d.desired_replicas, d.reason, d.acts) == (4, Reason.METRICS_UNAVAILABLE, False)
    assert not d.metrics_available
    assert d.metrics_message == problem
    assert d.message == f"metrics unavailable ({problem}): holding 4 replicas"
    assert d.recommendation == 4  # recorded, so a scale-down after recovery waits a full window


def test_staleness_follows_the_policy_interval() -> None:
    pol = policy(intervalSeconds=60)
    assert run(observed(latency=ok(6200, age=170)), current=2, pol=pol).desired_replicas == 3
    assert run(observed(latency=ok(6200, age=181)), current=2, pol=pol).reason == Reason.METRICS_UNAVAILABLE


def test_a_missing_target_signal_holds_too() -> None:
    spec = autoscaling(targets={"gpuUtilizationPercent": 80})
    d = run(observed(latency=1000, gpu=None), current=4, spec=spec, history=steady(1))
    assert (d.desired_replicas, d.reason, d.metrics_available) == (4, Reason.METRICS_UNAVAILABLE, False)
    assert d.metrics_message == "GPU utilization: no data"


def test_a_usable_breaching_signal_still_scales_up_while_another_is_missing() -> None:
    spec = autoscaling(targets={"queueDepthPerReplica": 4})
    d = run(observed(latency=Observation.missing(S.NAN), queue=6, rate=5), current=2, spec=spec)
    assert (d.desired_replicas, d.reason, d.metrics_available) == (3, Reason.SATURATED, False)
    assert d.metrics_message == "latency: NaN"


def test_metrics_unavailable_still_moves_into_bounds() -> None:
    d = run(observed(latency=None), current=4, headroom=Headroom(quota_replicas=3))
    assert (d.desired_replicas, d.reason, d.limited_by) == (3, Reason.METRICS_UNAVAILABLE, "Quota")


# -- zero traffic and zero replicas --------------------------------------------------------------


def test_nan_latency_at_a_real_zero_request_rate_is_no_load() -> None:
    d = run(observed(latency=Observation.missing(S.NAN), queue=0, rate=0), current=4, history=steady(0))
    assert (d.desired_replicas, d.reason, d.metrics_available) == (2, Reason.NO_LOAD, True)
    assert d.message == "no requests and no queue with 4 replicas: scaling down to 2"
    assert d.inputs["noLoad"] is True


@pytest.mark.parametrize(
    "rate",
    [None, Observation.missing(S.NAN), Observation.missing(S.QUERY_FAILED), ok(0, age=1000), 0.2],
)
def test_nan_latency_without_a_real_zero_rate_holds(rate: Observation | float | None) -> None:
    d = run(observed(latency=Observation.missing(S.NAN), queue=0, rate=rate), current=4, history=steady(0))
    assert (d.desired_replicas, d.reason) == (4, Reason.METRICS_UNAVAILABLE)


def test_no_load_needs_an_empty_queue() -> None:
    d = run(observed(latency=Observation.missing(S.NAN), queue=3, rate=0), current=4, history=steady(0))
    assert d.reason == Reason.METRICS_UNAVAILABLE
    no_queue_series = Observation.missing(S.UNSUPPORTED, "torchserve has no queue series")
    d = run(observed(latency=Observation.missing(S.NAN), queue=no_queue_series, rate=0), current=4, history=steady(0))
    assert d.reason == Reason.NO_LOAD


def test_no_load_at_the_minimum_stays_there() -> None:
    d = run(observed(latency=Observation.missing(S.NAN), queue=0, rate=0), current=1, history=steady(0))
    assert (d.desired_replicas, d.reason, d.limited_by, d.acts) == (1, Reason.AT_MINIMUM, "MinReplicas", False)


def test_at_the_minimum_the_bound_is_the_reason_not_stabilization() -> None:
    # No history yet (a scale-down would wait), but there is nothing to scale down to anyway.
    d = run(observed(latency=Observation.missing(S.NAN), queue=0, rate=0), current=2, spec=autoscaling(minReplicas=2))
    assert (d.desired_replicas, d.reason, d.limited_by) == (2, Reason.AT_MINIMUM, "MinReplicas")
    assert d.message == "no requests and no queue with 2 replicas: already at the lower bound 2 (MinReplicas)"


def test_zero_replicas_come_back_to_the_minimum_even_without_metrics() -> None:
    none = Observations()
    d = run(none, current=0, spec=autoscaling(minReplicas=2))
    assert (d.desired_replicas, d.reason, d.limited_by, d.acts) == (2, Reason.METRICS_UNAVAILABLE, "MinReplicas", True)


# -- bounds --------------------------------------------------------------------------------------


def test_quota_and_budget_cap_a_scale_up() -> None:
    d = run(observed(latency=10_000), current=4, headroom=Headroom(quota_replicas=5))
    assert (d.desired_replicas, d.reason, d.limited_by) == (5, Reason.SLO_BREACH, "Quota")
    assert d.message.endswith("scaling to 5 (limited by Quota)")
    d = run(observed(latency=10_000), current=4, headroom=Headroom(quota_replicas=6, budget_replicas=5))
    assert (d.desired_replicas, d.limited_by) == (5, "Budget")
    d = run(observed(latency=10_000), current=4, spec=autoscaling(maxReplicas=5), headroom=Headroom(5, 5))
    assert (d.desired_replicas, d.limited_by) == (5, "MaxReplicas")  # ties name maxReplicas first


def test_at_the_maximum_a_breach_does_not_act() -> None:
    d = run(observed(latency=10_000), current=5, headroom=Headroom(quota_replicas=5))
    assert (d.desired_replicas, d.reason, d.limited_by, d.acts) == (5, Reason.AT_MAXIMUM, "Quota", False)
    assert "p95 10000 ms > SLO 5000 ms" in d.message and "upper bound 5 (Quota)" in d.message


def test_quota_below_min_replicas_wins() -> None:
    d = run(observed(latency=4500), current=2, spec=autoscaling(minReplicas=2), headroom=Headroom(quota_replicas=1))
    assert (d.desired_replicas, d.reason, d.limited_by) == (1, Reason.OUTSIDE_BOUNDS, "Quota")


def test_a_lowered_max_replicas_applies_immediately() -> None:
    d = run(observed(latency=4500), current=8, spec=autoscaling(maxReplicas=5), history=History(last_scale_time=NOW))
    assert (d.desired_replicas, d.reason, d.limited_by) == (5, Reason.OUTSIDE_BOUNDS, "MaxReplicas")


BUSINESS_HOURS = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "08:00", "end": "18:00", "minReplicas": 3}


def test_schedule_floor_applies_inside_its_window_only() -> None:
    pol = policy(schedule=[BUSINESS_HOURS])
    d = run(observed(latency=1000), current=1, pol=pol, history=steady(1))
    assert (d.desired_replicas, d.limited_by, d.reason) == (3, "Schedule", Reason.OUTSIDE_BOUNDS)
    evening = datetime(2024, 1, 3, 18, 0, tzinfo=UTC).timestamp()
    assert run(observed(latency=1000), current=1, pol=pol, now=evening).desired_replicas == 1
    saturday = datetime(2024, 1, 6, 12, 0, tzinfo=UTC).timestamp()
    assert run(observed(latency=1000), current=1, pol=pol, now=saturday).desired_replicas == 1


def test_schedule_ceiling_caps_a_scale_up() -> None:
    pol = policy(schedule=[{"start": "00:00", "end": "24:00", "maxReplicas": 3}])
    d = run(observed(latency=20_000), current=2, pol=pol)
    assert (d.desired_replicas, d.limited_by, d.reason) == (3, "Schedule", Reason.SLO_BREACH)


def test_schedule_stays_inside_min_max_quota_and_budget() -> None:
    spec = autoscaling(minReplicas=2, maxReplicas=6)
    pol = policy(schedule=[{"start": "00:00", "end": "24:00", "minReplicas": 8}])
    b = bounds(spec, Headroom(quota_replicas=4), pol.schedule, NOW)
    assert (b.lower, b.upper, b.lower_by, b.upper_by) == (4, 4, "Schedule", "Quota")
    pol = policy(schedule=[{"start": "00:00", "end": "24:00", "maxReplicas": 1}])
    b = bounds(spec, Headroom(), pol.schedule, NOW)
    assert (b.lower, b.upper) == (2, 2)


def test_overlapping_windows_take_the_largest_floor_and_smallest_ceiling() -> None:
    pol = policy(
        schedule=[
            {"start": "00:00", "end": "24:00", "minReplicas": 2, "maxReplicas": 8},
            {"start": "11:00", "end": "13:00", "minReplicas": 4, "maxReplicas": 6},
        ]
    )
    b = bounds(autoscaling(), Headroom(), pol.schedule, NOW)
    assert (b.lower, b.upper, b.schedule_floor, b.schedule_ceiling) == (4, 6, 4, 6)


@pytest.mark.parametrize(
    ("when", "active"),
    [
        (datetime(2024, 1, 5, 21, 59, tzinfo=UTC), False),  # Fri before start
        (datetime(2024, 1, 5, 22, 0, tzinfo=UTC), True),  # Fri at start
        (datetime(2024, 1, 6, 5, 59, tzinfo=UTC), True),  # Sat morning: Friday's window continues
        (datetime(2024, 1, 6, 6, 0, tzinfo=UTC), False),  # end is exclusive
        (datetime(2024, 1, 6, 23, 0, tzinfo=UTC), False),  # Sat night: Saturday is not listed
        (datetime(2024, 1, 5, 3, 0, tzinfo=UTC), False),  # Fri early morning: Thursday is not listed
    ],
)
def test_overnight_windows_cross_midnight(when: datetime, active: bool) -> None:
    pol = policy(schedule=[{"days": ["Fri"], "start": "22:00", "end": "06:00", "minReplicas": 5}])
    assert window_active(pol.schedule[0], when.timestamp()) is active


# -- modes, explanation, history -----------------------------------------------------------------


def test_recommend_mode_decides_the_same_but_never_acts() -> None:
    d = run(observed(latency=6200), current=2, spec=autoscaling(mode="Recommend"))
    assert (d.desired_replicas, d.reason, d.acts) == (3, Reason.SLO_BREACH, False)
    assert d.message.endswith("(Recommend mode: not applied)")
    assert d.history.last_scale_time is None


def test_mean_latency_is_named_as_such() -> None:
    obs = observed(latency=ok(6200, statistic="mean"))
    assert run(obs, current=2).message.startswith("mean 6200 ms > SLO 5000 ms")


def test_inputs_are_json_and_hold_what_was_used() -> None:
    spec = autoscaling(targets={"queueDepthPerReplica": 4})
    obs = observed(latency=Observation.missing(S.NAN), queue=8, rate=ok(3, age=200))
    d = run(obs, current=2, spec=spec, headroom=Headroom(quota_replicas=9))
    inputs = json.loads(json.dumps(d.inputs, allow_nan=False))
    assert inputs["observations"]["latencyMilliseconds"] == {"status": "NaN"}
    assert inputs["observations"]["queueDepthPerReplica"] == {"status": "Ok", "value": 8, "ageSeconds": 5}
    assert inputs["observations"]["requestRate"]["stale"] is True
    assert inputs["replicas"] == {"current": 2, "ready": 2}
    assert inputs["slo"] == {"metric": "e2e", "percentile": 95, "targetMilliseconds": 5000}
    assert inputs["bounds"]["quotaReplicas"] == 9 and inputs["bounds"]["upper"] == 9
    assert inputs["policy"]["staleAfterSeconds"] == 90
    assert inputs["recommendation"] == d.recommendation == 4
    assert d.to_json()["to"] == 4 and d.to_json()["reason"] == "Saturated"


def test_history_records_the_recommendation_and_the_scale_action() -> None:
    old = History(recommendations=((NOW - 1000, 7), (NOW - 30, 2)), last_scale_time=NOW - 500)
    d = run(observed(latency=6200), current=2, history=old)
    # entries older than the longest window plus one interval (300 + 30 s) are dropped
    assert d.history.recommendations == ((NOW - 30, 2), (NOW, 3))
    assert d.history.last_scale_time == NOW
    held = run(observed(latency=4500), current=2, history=old)
    assert held.history.last_scale_time == NOW - 500
    manual = old.record(NOW, 3, scaled=False, keep_seconds=60)
    assert manual == History(recommendations=((NOW - 30, 2), (NOW, 3)), last_scale_time=NOW - 500)


def test_a_scale_down_sequence_then_a_breach() -> None:
    """Closed loop on paper: half the replicas per stabilized, cooled-down step, then straight back up."""
    history = steady(1)
    current, now, trace = 4, NOW, []
    for _ in range(12):
        d = run(observed(latency=800), current=current, history=history, now=now)
        trace.append((d.desired_replicas, str(d.reason)))
        current, history, now = d.desired_replicas, d.history, now + 30
    # down by half; the 60 s cooldown holds the tick 30 s later; 60 s later down again.
    assert [r for r, _ in trace] == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert trace[1][1] == "Cooldown" and trace[-1][1] == "Hold"  # one replica is what 800 ms needs
    d = run(observed(latency=15_000), current=1, history=history, now=now)
    assert (d.desired_replicas, d.reason) == (3, Reason.SLO_BREACH)  # at most triples per decision


# -- the SLO attainment (fraction of requests within the SLO target) -------------------------------


def with_attainment(fraction: float | Observation, latency: float, rate: float = 10.0) -> Observations:
    base = observed(latency=latency, rate=rate)
    value = fraction if isinstance(fraction, Observation) else ok(fraction, statistic="fraction within SLO")
    return Observations(
        base.latency_milliseconds,
        base.queue_depth_per_replica,
        base.request_rate,
        base.gpu_utilization_percent,
        slo_attainment=value,
    )


def test_one_decision_at_most_triples_the_ready_replicas() -> None:
    # p95 10x the SLO with 3 ready: not 30 replicas, 9 (the step allows 4 more: 7); the next decision
    # sees what they do.
    d = run(observed(latency=50_000), current=3)
    assert (d.desired_replicas, d.inputs["needs"]["up"]) == (7, {"latency": 9})
    wide = policy(scaleUp={"stabilizationSeconds": 0, "maxStepReplicas": 100})
    assert run(observed(latency=50_000), current=3, pol=wide).desired_replicas == 9


def test_attainment_judges_the_slo_where_the_interpolated_quantile_cannot() -> None:
    # vLLM has no bucket between 2.5 s and 5 s: the p95 interpolates to 4.6 s (above the 4 s line)
    # however many replicas run, while 99% of requests finish within the 5 s SLO. Reactive (nothing
    # learned) the quantile holds; one steady window later the point learned sizes the step.
    history = History(recommendations=steady(3).recommendations, ready=3, ready_since=NOW - 120)
    d = run(with_attainment(0.99, latency=4600, rate=3.0), current=3, history=history)
    assert (d.desired_replicas, d.reason) == (3, Reason.HOLD)  # no capacity yet: reactive; the point is learned
    assert d.history.learned.points[-1].per_replica == 1.0
    later = run(with_attainment(0.99, latency=4600, rate=3.0), current=3, history=d.history, now=NOW + 30)
    # 99% >= the 96% line on 3 steady replicas, never seen breaching: probe one replica fewer, capacity
    # 3 / (2 x 0.9) = 1.67 (above 1.0 x 1.25), need ceil(3 / (1.67 x 0.9)) = 2; the scale-down window holds 3
    assert later.capacity is not None and later.capacity["perReplica"] == pytest.approx(1.6667)
    assert later.capacity["lower"] == 1.0  # the probe is no evidence: the load served stays the lower end
    assert (later.desired_replicas, later.reason) == (3, Reason.STABILIZING)
    now_down = policy(scaleDown={"stabilizationSeconds": 0, "maxStepReplicas": 1})
    down = run(with_attainment(0.99, latency=4600, rate=3.0), 3, history=d.history, pol=now_down, now=NOW + 30)
    assert (down.desired_replicas, down.reason) == (2, Reason.SCALE_DOWN_WITH_HEADROOM)
    # a breach seen within memory brackets the capacity: no probe past it
    breached = Learned(unit="requests", points=(*d.history.learned.points, CapacityPoint(NOW, 1.2, 0.5, 100)))
    bracketed = replace(d.history, learned=breached)
    held = run(with_attainment(0.99, latency=4600, rate=3.0), 3, history=bracketed, pol=now_down, now=NOW + 30)
    assert held.capacity is not None and held.capacity["upper"] == 1.2 and held.capacity["perReplica"] < 1.2
    assert held.desired_replicas >= 3  # ceil(3 / (1.1 x 0.9)) = 4: sized below the breach, not probed down


def test_attainment_between_the_goal_and_the_line_holds() -> None:
    d = run(with_attainment(0.955, latency=3000), current=3, history=steady(1))
    assert (d.desired_replicas, d.reason) == (3, Reason.HOLD)
    assert "meets the 95% goal" in d.message


def test_attainment_below_the_goal_is_a_breach_even_with_the_quantile_under_the_slo() -> None:
    # 10% over the SLO is twice the 5% error budget: need ceil(3 x 2) = 6
    d = run(with_attainment(0.90, latency=4900), current=3)
    assert (d.desired_replicas, d.reason) == (6, Reason.SLO_BREACH)
    assert d.message.startswith("90.0% of requests within SLO 5000 ms < goal 95%")
    # 6% over: ratio 1.2 -> ceil(3 x 1.2) = 4
    assert run(with_attainment(0.94, latency=4900), current=3).desired_replicas == 4


def test_a_latency_breach_waits_for_the_window_to_see_replicas_that_just_became_ready() -> None:
    """4 of 4 ready since this tick (2 before): the 2-minute window still holds the requests the 2 served."""
    before = History(ready=2)
    d = run(observed(latency=12_000), current=4, ready=4, history=before)
    assert (d.desired_replicas, d.reason) == (4, Reason.WAITING_FOR_REPLICAS)
    assert "replicas became ready 0 s ago, within the 120 s rate window" in d.message
    assert (d.history.ready, d.history.ready_rose_at) == (4, NOW)
    assert d.inputs["history"]["readyRoseAt"] == NOW  # the wait is explained in the decision's inputs
    # within the window: still waiting; once the window (120 s) holds only the 4: scales up
    later = run(observed(latency=12_000), current=4, ready=4, history=d.history, now=NOW + 90)
    assert later.reason is Reason.WAITING_FOR_REPLICAS
    assert run(observed(latency=12_000), current=4, ready=4, history=later.history, now=NOW + 120).desired_replicas == 8
    # no ready replicas seen before (a restarted operator): no waiting
    assert run(observed(latency=12_000), current=4, ready=4, history=History()).desired_replicas == 8
    # saturation of a per-replica gauge is not held: the queue depth is read per ready replica already
    spec = autoscaling(targets={"queueDepthPerReplica": 4})
    queued = run(observed(latency=1000, queue=8), current=4, ready=4, spec=spec, history=before)
    assert (queued.desired_replicas, queued.reason) == (8, Reason.SATURATED)
    # ... nor when the awaited latency's need is the larger one: the queue's need still raises (the
    # latency's ceil(4 x 2.4) = 10 is awaited, the queue's ceil(4 x 8 / 4) = 8 is not)
    both = run(observed(latency=12_000, queue=8), current=4, ready=4, spec=spec, history=before)
    assert (both.desired_replicas, both.reason) == (8, Reason.SATURATED)


def test_unusable_attainment_falls_back_to_the_quantile() -> None:
    for missing in (Observation.missing(S.NAN), Observation.missing(S.EMPTY), ok(0.99, age=1000)):
        d = run(with_attainment(missing, latency=6000), current=2)
        assert (d.desired_replicas, d.reason) == (3, Reason.SLO_BREACH)  # ceil(2 x 1.2), by the p95
        assert d.metrics_available  # the attainment is optional


def test_the_decision_says_whether_it_judged_the_slo_breached() -> None:
    """``Decision.slo_breached`` (the ``inferop_slo_breach`` gauge) is the decision's own verdict: by the
    attainment when it is usable (a p95 of 5.5 s over a 5 s SLO with 99% within is no breach), else by the
    quantile; a breach held while replicas start is still a breach."""
    assert not run(with_attainment(0.99, latency=5500), current=3, history=steady(1)).slo_breached
    assert run(with_attainment(0.90, latency=4900), current=3).slo_breached
    assert run(observed(latency=6000), current=2).slo_breached
    assert not run(observed(latency=4000), current=2).slo_breached
    held = run(observed(latency=12_000), current=4, ready=4, history=History(ready=2))
    assert held.reason is Reason.WAITING_FOR_REPLICAS and held.slo_breached


# -- the planner: observe, capacity, forecast, size ------------------------------------------------

from inferop.cost.state import LoadSample  # noqa: E402


def tokens(rate: float, attainment: float = 0.99, latency: float = 2000, requests: float = 10.0) -> Observations:
    base = with_attainment(attainment, latency=latency, rate=requests)
    return Observations(
        base.latency_milliseconds,
        base.queue_depth_per_replica,
        base.request_rate,
        base.gpu_utilization_percent,
        slo_attainment=base.slo_attainment,
        token_rate=ok(rate, statistic="sum"),
    )


def planned_history(
    load: float, replicas: int, points: tuple[tuple[float, float, float], ...], ready: int | None = None
) -> History:
    """Ten minutes of flat ``load`` (tokens/s) and of recommending ``replicas``, and capacity points
    (seconds ago, tokens/s per replica, attainment)."""
    learned = Learned(
        unit="tokens",
        points=tuple(CapacityPoint(NOW - ago, per, att) for ago, per, att in points),
        load=tuple(LoadSample(NOW - ago, load) for ago in range(600, 0, -30)),
    )
    return History(
        recommendations=steady(replicas, seconds=600).recommendations,
        ready=ready,
        ready_since=NOW - 600 if ready is not None else None,
        learned=learned,
    )


BRACKET = ((3000, 4000.0, 0.99), (2000, 6000.0, 0.80))  # capacity sqrt(4000 x 6000) = 4899 tok/s


def test_the_learned_capacity_and_the_forecast_size_the_replicas() -> None:
    history = planned_history(20_000.0, 5, BRACKET)  # recommending 5 for 10 minutes
    d = run(tokens(20_000.0), current=8, history=history)
    # need ceil(20000 / (4899 x 0.9)) = ceil(4.54) = 5; the step allows 50% of 8 = 4 down: 5
    assert (d.desired_replicas, d.reason) == (5, Reason.SCALE_DOWN_WITH_HEADROOM)
    assert d.capacity == {
        "perReplica": 4898.9795,
        "unit": "tokens",
        "lower": 4000.0,
        "upper": 6000.0,
        "source": "learned",
        "points": 2,
    }
    assert d.forecast is not None and d.forecast["horizonSeconds"] == 150.0  # 120 s cold start + 30 s
    assert d.message.startswith(
        "forecast 20k tok/s, upper 20k over the next 150 s; capacity 4.9k tok/s per replica at the SLO "
        "(learned, 2 points over 17 min); need ceil(20k / (4.9k x 0.9)) = 5"
    )
    assert d.inputs["planner"]["planned"] == 5 and d.inputs["planner"]["utilization"] == 0.9
    # twice the load: ceil(40000 / 4409) = 10 replicas, at once (the step allows +100% of 5)
    up = run(tokens(40_000.0), current=5, history=planned_history(40_000.0, 5, BRACKET))
    assert (up.desired_replicas, up.reason, up.recommendation) == (10, Reason.FORECAST, 10)


def test_a_rising_load_is_met_before_it_breaches() -> None:
    history = planned_history(10_000.0, 3, BRACKET)
    rising = tuple(LoadSample(NOW - ago, 10_000.0 + (600 - ago) * 20) for ago in range(600, 0, -30))
    history = History(
        recommendations=history.recommendations, learned=Learned("tokens", history.learned.points, rising)
    )
    d = run(tokens(21_400.0), current=5, history=history)
    assert d.forecast is not None and d.forecast["load"] > 21_400 + 150 * 19  # the trend over the horizon
    assert (
        d.desired_replicas
        > run(tokens(21_400.0), current=5, history=planned_history(21_400.0, 5, BRACKET)).desired_replicas
    )


def test_a_cold_start_longer_than_the_default_looks_further_ahead() -> None:
    history = planned_history(10_000.0, 3, BRACKET)
    d = decide(
        tokens(10_000.0),
        current_replicas=3,
        ready_replicas=3,
        autoscaling=autoscaling(),
        policy=policy(),
        now=NOW,
        history=history,
        cold_start_seconds=600,
    )
    assert d.forecast is not None and d.forecast["horizonSeconds"] == 630.0
    assert d.inputs["planner"]["coldStartSeconds"] == 600.0


def test_the_prior_sizes_a_service_before_anything_is_learned() -> None:
    spec = autoscaling(capacity={"tokensPerSecondPerReplica": 5000})
    d = run(tokens(20_000.0), current=2, spec=spec)
    # ceil(20000 / (5000 x 0.9)) = 5
    assert (d.desired_replicas, d.reason) == (5, Reason.FORECAST)
    assert d.capacity is not None and (d.capacity["source"], d.capacity["points"]) == ("prior", 0)
    assert "(prior)" in d.message
    # a requests prior does not size a tokens load; without a prior the service is reactive
    rps = autoscaling(capacity={"requestsPerSecondPerReplica": "2.5"})
    assert run(tokens(20_000.0), current=2, spec=rps).capacity is None
    assert run(tokens(20_000.0), current=2).capacity is None


def test_an_observed_breach_raises_at_once_and_lowers_the_capacity() -> None:
    history = planned_history(20_000.0, 5, BRACKET, ready=5)
    d = run(tokens(20_000.0, attainment=0.90, latency=6000), current=5, history=history)
    # guard, with a capacity known: the latency's ratio, ceil(5 x 6000 / 5000) = 6 (not the tail's
    # (1 - 0.90) / (1 - 0.95) = 2); the capacity is lowered to the 4000 per replica that breached:
    # ceil(20000 / (4000 x 0.9)) = 6; the larger wins
    assert (d.desired_replicas, d.reason) == (6, Reason.SLO_BREACH)
    assert d.capacity is not None and d.capacity["perReplica"] == 4000.0 and d.capacity["upper"] == 4000.0
    # a breach at a load over the capacity: the plan sizes it, ceil(40000 / (4899 x 0.9)) = 10, more
    # than the guard's ceil(5 x 1.2) = 6 (the tail's 10x is not what sizes it)
    deeper = planned_history(40_000.0, 5, BRACKET, ready=5)
    d = run(tokens(40_000.0, attainment=0.50, latency=6000), current=5, history=deeper)
    assert (d.desired_replicas, d.reason) == (10, Reason.SLO_BREACH)
    # without a capacity (no prior, nothing learned) the tail's ratio still sizes the raise: ceil(5 x 2)
    d = run(tokens(20_000.0, attainment=0.90, latency=6000), current=5)
    assert d.capacity is None and (d.desired_replicas, d.reason) == (10, Reason.SLO_BREACH)


def test_steady_intervals_become_capacity_points_a_breach_only_after_two_windows() -> None:
    fresh = History(ready=4, ready_since=NOW - 60)
    assert run(tokens(8000.0), current=4, history=fresh).history.learned.points == ()  # under one window
    one = History(ready=4, ready_since=NOW - 120)
    [point] = run(tokens(8000.0), current=4, history=one).history.learned.points
    assert (point.per_replica, point.attainment, point.time) == (2000.0, 0.99, NOW)
    breach = tokens(8000.0, attainment=0.9, latency=6000)
    assert run(breach, current=4, history=one).history.learned.points == ()
    two = History(ready=4, ready_since=NOW - 240)
    assert run(breach, current=4, history=two).history.learned.points[0].attainment == 0.9
    # a load sample every tick, in tokens
    d = run(tokens(8000.0), current=4, history=fresh)
    assert d.history.learned.unit == "tokens" and d.history.learned.load == (LoadSample(NOW, 8000.0),)


def test_a_change_of_unit_restarts_the_learned_state() -> None:
    history = planned_history(20_000.0, 8, BRACKET)
    d = run(with_attainment(0.99, latency=2000, rate=10.0), current=8, history=history)
    assert d.history.learned.unit == "requests"
    assert d.history.learned.points == () and d.history.learned.load == (LoadSample(NOW, 10.0),)
    assert d.capacity is None  # the tokens capacity does not size a requests load


def test_missing_load_holds_the_planner() -> None:
    history = planned_history(20_000.0, 8, BRACKET)
    obs = replace_obs(tokens(20_000.0), token_rate=Observation.missing(S.NAN), request_rate=Observation.missing(S.NAN))
    d = run(obs, current=8, history=history)
    assert d.desired_replicas == 8 and d.capacity is None and d.forecast is None


def test_the_planner_never_scales_down_while_metrics_are_missing() -> None:
    history = planned_history(1000.0, 8, BRACKET)
    obs = replace_obs(tokens(1000.0), latency_milliseconds=Observation.missing(S.QUERY_FAILED))
    d = run(obs, current=8, history=history)
    assert (d.desired_replicas, d.reason, d.metrics_available) == (8, Reason.METRICS_UNAVAILABLE, False)
    # but a forecast above what runs still raises
    high = run(
        replace_obs(tokens(40_000.0), latency_milliseconds=Observation.missing(S.QUERY_FAILED)),
        current=2,
        history=history,
    )
    assert (high.desired_replicas, high.reason) == (6, Reason.FORECAST)  # step: +max(4, 100% of 2)


def replace_obs(obs: Observations, **changes: Observation) -> Observations:
    from dataclasses import replace

    return replace(obs, **changes)


def test_a_breach_at_a_load_already_served_within_the_slo_is_not_load_driven() -> None:
    # 4000 tok/s per replica was served within the SLO; now 500 per replica breaches: one slow request
    history = planned_history(2000.0, 4, BRACKET, ready=4)
    d = run(tokens(2000.0, attainment=0.5, latency=9000), current=4, history=history)
    assert d.desired_replicas == 4 and d.reason is Reason.HOLD  # no guard raise, no scale-down either
    assert "not load-driven" in d.message and d.slo_breached
    # the same breach at 6000 per replica (above what was served) raises at once
    hot = planned_history(24_000.0, 4, BRACKET, ready=4)
    assert run(tokens(24_000.0, attainment=0.5, latency=9000), current=4, history=hot).reason is Reason.SLO_BREACH


def test_a_load_served_within_the_slo_now_is_at_least_the_capacity() -> None:
    # One point learned at a light 1000 tok/s per replica (capacity 1250 with the probe); now 4 steady
    # replicas serve 4000 each within the SLO: the plan does not raise to 4 x 4000 / (1250 x 0.9) = 15.
    light = ((300, 1000.0, 0.99),)
    history = planned_history(16_000.0, 4, light, ready=4)
    d = run(tokens(16_000.0), current=4, history=history)
    assert d.capacity is not None and d.capacity["lower"] == 4000.0
    # ... and, within the line's room and never seen breaching, it probes one replica fewer:
    # 16000 / (3 x 0.9) = 5926 per replica, need 3, held at 4 by the scale-down window
    assert d.capacity["perReplica"] == pytest.approx(16_000 / 2.7, abs=0.01)
    assert (d.desired_replicas, d.reason) == (4, Reason.STABILIZING)
    # not while the ready replicas changed within the window (the window mixes two counts)
    moved = History(history.recommendations, ready=4, ready_since=NOW - 30, learned=history.learned)
    assert run(tokens(16_000.0), current=4, history=moved).capacity["perReplica"] == 1250.0  # type: ignore[index]


def test_a_probe_down_is_judged_by_a_steady_window_before_the_plan_raises_again() -> None:
    # Learned at 4 replicas on 16k tok/s (4000 each within the SLO, capacity 5000): the plan would put
    # the 3 replicas now ready back to ceil(16000 / (5000 x 0.9)) = 4. They are there because of a probe
    # down (16000 / (3 x 0.9) per replica) and became ready 30 s ago, within the 120 s window that still
    # counts 4: the probe holds until a window judges 3.
    light = ((300, 4000.0, 0.99),)
    probed = 16_000.0 / (3 * 0.9)
    history = replace(planned_history(16_000.0, 4, light, ready=3), probe=probed)
    fell = replace(history, ready_since=NOW - 30)
    d = run(tokens(16_000.0), current=3, history=fell)
    assert d.desired_replicas == 3, d.message
    assert d.history.probe == pytest.approx(probed)  # still being judged
    # ... also on the tick that first sees the fall (the last tick counted 4 ready)
    first = run(tokens(16_000.0), current=3, history=replace(history, ready=4))
    assert first.desired_replicas == 3, first.message
    # once a steady window judges them (SLO met), the load they serve is the capacity: still 3
    judged = run(tokens(16_000.0), current=3, history=replace(history, ready_since=NOW - 200))
    assert judged.desired_replicas == 3, judged.message
    # a breach while the window still mixes the counts raises at once (the guard) and ends the probe
    breach = run(tokens(16_000.0, attainment=0.80, latency=9000), current=3, history=fell)
    assert breach.desired_replicas > 3, breach.message
    assert breach.history.probe is None
    # a fall that no probe led to (the forecast fell, or a pod went away) does not hold the plan: the
    # load came back, the plan raises at once
    unprobed = run(tokens(16_000.0), current=3, history=replace(fell, probe=None))
    assert unprobed.desired_replicas == 4, unprobed.message


def test_a_breach_within_the_windows_sampling_noise_raises_but_does_not_lower_the_capacity() -> None:
    # 4 steady replicas at 18k tok/s (4500 each: above the 4000 served within the SLO, under the 4899
    # estimate). 94% of the window's 120 requests (0.5 rps x 120 s) is within 1.645 standard errors (3.3
    # points) of the 95% goal: the guard still raises, but the capacity is not lowered on that reading.
    history = replace(planned_history(18_000.0, 4, BRACKET, ready=4), ready_since=NOW - 600)
    noisy = run(tokens(18_000.0, attainment=0.94, latency=2100, requests=0.5), current=4, history=history)
    assert noisy.reason is Reason.SLO_BREACH and noisy.desired_replicas > 4
    assert noisy.capacity is not None and noisy.capacity["perReplica"] == pytest.approx(4898.9795)
    # the same 94% over 12,000 requests (100 rps) is significant, and 80% over 120 requests too: the
    # capacity drops to the 4500 that breached
    for attainment, rps in ((0.94, 100.0), (0.80, 0.5)):
        clear = run(tokens(18_000.0, attainment=attainment, latency=2100, requests=rps), current=4, history=history)
        assert clear.capacity is not None and clear.capacity["upper"] == pytest.approx(4500.0), (attainment, rps)


def test_the_message_and_inputs_say_when_the_load_reverts_to_its_mean() -> None:
    # an hour of 60 s bursts of 20k every 5 minutes, nothing between; now at a burst
    burst = tuple(
        LoadSample(NOW - (120 - i) * 30, 20_000.0 if i % 10 in (9, 0) else 0.0) for i in range(120)
    )
    history = planned_history(20_000.0, 5, BRACKET)
    history = History(
        recommendations=history.recommendations, learned=Learned("tokens", history.learned.points, burst)
    )
    d = run(tokens(20_000.0), current=5, history=history)
    reverts = d.inputs["planner"]["forecast"]["reversion"]
    assert reverts["autocorrelation"] == 0.0 and reverts["lagSeconds"] == 150.0
    assert d.forecast is not None and d.forecast["load"] < 20_000.0  # the burst is not chased
    assert "the load reverts to its recent mean" in d.message and "autocorrelation 0.00 at 150 s" in d.message
    # a flat hour has no variance to regress: no reversion, no text, the forecast is the load
    flat = History(
        recommendations=history.recommendations,
        learned=Learned("tokens", history.learned.points, tuple(LoadSample(s.time, 20_000.0) for s in burst)),
    )
    steady_load = run(tokens(20_000.0), current=5, history=flat)
    assert "reverts" not in steady_load.message and steady_load.forecast["load"] == 20_000.0
