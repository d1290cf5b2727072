"""The baselines' algorithms on hand-computed cases (inferop.sim.hpa, inferop.sim.kpa, inferop.sim.policies).

Covers the Kubernetes HPA: a per-pod metric's proportional rule and its 0.1 tolerance, missing pods
(0 on a scale-up, the target on a scale-down), pods still starting on a scale-up, the External
``Value`` and ``AverageValue`` rules KEDA feeds it, the default behaviour (scale-up max(+4, +100%)
per 15 s counted over the period, 300 s scale-down stabilization with the largest recommendation,
100% scale-down per 15 s) and min/max replicas. KEDA: an empty or NaN answer read as 0
(``ignoreNullValues``). Knative's KPA: stable and panic windows' pod counts with 70% target
utilization, panic at 200%, no scale-down while panicking, leaving panic a stable window later, the
max scale-down rate 2, starting in panic with more than one ready pod, and the concurrency window
averages. Static provisioning: a constant replica count and its exact GPU-hours.
"""

from __future__ import annotations

import math

import pytest

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.sim.engine import Cluster, Requests
from inferop.sim.hpa import HPA
from inferop.sim.kpa import KPA, ConcurrencyWindow
from inferop.sim.policies import KEDALatencyPolicy, KEDAQueuePolicy, StaticPolicy
from inferop.sim.profile import ServiceProfile
from inferop.sim.prom import Prometheus
from inferop.sim.run import Context, RunConfig, run
from inferop.sim.trace import Trace


def profile() -> ServiceProfile:
    return ServiceProfile.model_validate(
        {
            "name": "test",
            "pricePerGPUHour": "2.00",
            "iteration": {"baseMilliseconds": 10, "perSequenceMilliseconds": 1, "perContextTokenMicroseconds": 0},
            "prefill": {"perTokenMilliseconds": 1},
            "batching": {"maxNumSeqs": 64, "kvCacheTokens": 100000},
            "coldStartSeconds": 100,
        }
    )


def config(min_replicas: int = 1, max_replicas: int = 10, initial: int = 1) -> RunConfig:
    autoscaling = Autoscaling.model_validate(
        {
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "slo": {"latency": {"percentile": 95, "targetMilliseconds": 1000}},
        }
    )
    return RunConfig(
        slo_ms=1000,
        percentile=95,
        metric="e2e",
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        autoscaling=autoscaling,
        cost_policy=CostPolicySpec(),
        initial_replicas=initial,
    )


# -- HPA: metric to replicas ---------------------------------------------------------------------


def test_hpa_pods_metric_is_proportional_to_the_ready_pods() -> None:
    hpa = HPA(1, 10)
    # mean 90 / target 60 = 1.5; ceil(1.5 x 3) = 5
    assert hpa.pods_metric_replicas(3, {"a": 90, "b": 90, "c": 90}, 60, ready=["a", "b", "c"]) == 5
    # mean 30 / 60 = 0.5; ceil(0.5 x 3) = 2 (1.5 rounds up)
    assert hpa.pods_metric_replicas(3, {"a": 30, "b": 30, "c": 30}, 60, ready=["a", "b", "c"]) == 2


def test_hpa_tolerance_keeps_the_current_replicas() -> None:
    hpa = HPA(1, 10)
    # 65 / 60 = 1.083: within 0.1 of 1
    assert hpa.pods_metric_replicas(3, {"a": 65, "b": 65, "c": 65}, 60, ready=["a", "b", "c"]) == 3
    # 67 / 60 = 1.117: outside; ceil(1.117 x 3) = 4
    assert hpa.pods_metric_replicas(3, {"a": 67, "b": 67, "c": 67}, 60, ready=["a", "b", "c"]) == 4


def test_hpa_missing_pods_count_as_zero_on_scale_up_and_as_the_target_on_scale_down() -> None:
    hpa = HPA(1, 10)
    # up: 200 / (2 x 50) = 2.0; c filled with 0 -> 200 / 150 = 1.333; ceil(1.333 x 3) = 4
    assert hpa.pods_metric_replicas(3, {"a": 100, "b": 100}, 50, ready=["a", "b", "c"]) == 4
    # down: 20 / 100 = 0.2; c filled with 50 -> 70 / 150 = 0.467; ceil(0.467 x 3) = 2
    assert hpa.pods_metric_replicas(3, {"a": 10, "b": 10}, 50, ready=["a", "b", "c"]) == 2


def test_hpa_starting_pods_dampen_a_scale_up() -> None:
    hpa = HPA(1, 10)
    # 200 / 100 = 2.0 -> starting pods c, d count 0: 200 / 200 = 1.0, within tolerance: keep 4
    assert hpa.pods_metric_replicas(4, {"a": 100, "b": 100}, 50, ready=["a", "b"], unready=["c", "d"]) == 4
    # 300 / 100 = 3.0 -> 300 / 200 = 1.5: ceil(1.5 x 4) = 6
    assert hpa.pods_metric_replicas(4, {"a": 150, "b": 150}, 50, ready=["a", "b"], unready=["c", "d"]) == 6


def test_hpa_pods_metric_without_samples_is_skipped() -> None:
    assert HPA(1, 10).pods_metric_replicas(3, {}, 50, ready=["a"]) is None


def test_hpa_external_value_uses_the_ready_pods() -> None:
    hpa = HPA(1, 10)
    # 900 / 600 = 1.5 x 3 ready = 4.5 -> 5 (current 4, one of them starting)
    assert hpa.external_value_replicas(4, 900, 600, ready=3) == 5
    assert hpa.external_value_replicas(4, 630, 600, ready=3) == 4  # 1.05: tolerance
    assert hpa.external_value_replicas(4, 0, 600, ready=3) == 0  # the HPA's minReplicas applies later


def test_hpa_external_average_value_divides_by_the_target() -> None:
    hpa = HPA(1, 10)
    assert hpa.external_average_replicas(2, 30, 8) == 4  # 30 / 16 = 1.875; ceil(30 / 8) = 4
    assert hpa.external_average_replicas(2, 17, 8) == 2  # 17 / 16 = 1.0625: tolerance
    assert hpa.external_average_replicas(5, 0, 8) == 0


# -- HPA: behaviour ------------------------------------------------------------------------------


def test_hpa_scale_up_is_limited_to_four_pods_or_double_per_15_seconds() -> None:
    hpa = HPA(1, 100)
    assert hpa.reconcile(0, 2, 20) == 6  # max(2 + 4, 2 x 2) = 6
    assert hpa.reconcile(10, 6, 20) == 6  # within the period the +4 counts: start 2 -> limit 6
    assert hpa.reconcile(15, 6, 20) == 12  # the event at 0 is out of (0, 15]: max(10, 12)
    assert hpa.reconcile(30, 12, 20) == 20  # max(16, 24) -> the metric's 20


def test_hpa_scale_down_waits_for_the_300_second_window_then_drops_at_once() -> None:
    hpa = HPA(1, 100)
    assert hpa.reconcile(0, 10, 10) == 10
    t = 15.0
    while t < 300:
        assert hpa.reconcile(t, 10, 2) == 10, t  # the recommendation 10 at t=0 is in the window
        t += 15
    # at 300 the window is (0, 300]: only 2s left; 100% per 15 s allows all of it
    assert hpa.reconcile(300, 10, 2) == 2


def test_hpa_moves_replicas_into_min_and_max_at_once() -> None:
    hpa = HPA(3, 5)
    assert hpa.reconcile(0, 1, None) == 3
    assert hpa.reconcile(15, 9, None) == 5
    assert hpa.reconcile(30, 4, 1) == 3  # the recommendation 1 is clamped to minReplicas 3
    assert hpa.reconcile(45, 4, 50) == 5


# -- KEDA ----------------------------------------------------------------------------------------


def _empty_context(replicas: int) -> Context:
    requests = Requests([], [], [])
    cluster = Cluster(profile(), requests)
    cluster.start_warm(replicas)
    return Context(cluster, Prometheus(cluster), config(max_replicas=10, initial=replicas))


def test_keda_reads_no_data_as_zero_and_scales_to_the_minimum() -> None:
    ctx = _empty_context(3)
    latency = KEDALatencyPolicy(500.0)
    latency.setup(ctx)
    assert latency.tick(ctx, 15.0) == 1  # ignoreNullValues: empty -> 0 -> minReplicaCount
    queue = KEDAQueuePolicy(4.0)
    queue.setup(ctx)
    assert queue.tick(ctx, 15.0) == 1


# -- KPA -----------------------------------------------------------------------------------------


def test_kpa_stable_mode_divides_by_target_times_utilization() -> None:
    kpa = KPA(target=10)  # 10 x 0.7 = 7 per pod
    assert kpa.scale(0, stable=35, panic=35, ready=5) == 5
    assert kpa.scale(2, stable=36, panic=36, ready=5) == 6  # ceil(36 / 7)


def test_kpa_panics_at_twice_the_ready_pods_and_never_scales_down_while_panicking() -> None:
    kpa = KPA(target=10)
    # dppc = ceil(40 / 7) = 6; 6 / 2 = 3 >= 2: panic; max(dspc 2, dppc 6) = 6
    assert kpa.scale(0, stable=10, panic=40, ready=2) == 6
    assert kpa.panic_time == 0
    assert kpa.scale(2, stable=7, panic=7, ready=6) == 6  # would be 1: held at maxPanicPods
    assert kpa.scale(60, stable=7, panic=7, ready=6) == 6  # 60 s since panic began: still panicking
    # over 60 s without reaching the threshold: back to stable mode, max scale-down 2 (6 -> 3)
    assert kpa.scale(62, stable=7, panic=7, ready=6) == 3
    assert kpa.panic_time is None


def test_kpa_max_scale_down_rate_halves_at_most() -> None:
    kpa = KPA(target=10)
    assert kpa.scale(0, stable=0, panic=0, ready=10) == 5  # floor(10 / 2)
    assert kpa.scale(2, stable=0, panic=0, ready=1) == 0  # the caller clamps to min-scale


def test_kpa_starts_in_panic_with_more_than_one_ready_pod() -> None:
    kpa = KPA(target=10)
    kpa.start(0, ready=4)
    assert kpa.scale(2, stable=0, panic=0, ready=4) == 4
    fresh = KPA(target=10)
    fresh.start(0, ready=1)
    assert fresh.panic_time is None


def test_concurrency_window_averages_the_requests_held() -> None:
    window = ConcurrencyWindow(keep=60)
    window.record(0, 0)
    window.record(30, 30 * 2)  # 2 requests held for 30 s
    window.record(60, 60 + 30 * 10)  # then 10 for 30 s
    assert window.average(60, 60) == pytest.approx((2 * 30 + 10 * 30) / 60)
    assert window.average(60, 30) == pytest.approx(10)
    # less history than the window: the average over what there is
    short = ConcurrencyWindow(keep=60)
    short.record(0, 0)
    short.record(6, 18)
    assert short.average(6, 60) == pytest.approx(3)


# -- static --------------------------------------------------------------------------------------


def test_static_keeps_its_replicas_and_pays_for_all_of_them() -> None:
    arrival = [float(t) for t in range(0, 600, 3)]
    trace = Trace("t", "requests", arrival, [100] * len(arrival), [20] * len(arrival), 600.0, [], "as recorded")
    result = run(trace, profile(), StaticPolicy(3), config(initial=3))
    assert result.scale_events == 0
    assert {p.replicas for p in result.timeline} == {3}
    assert result.gpu_hours == pytest.approx(3 * 600 / 3600)
    assert result.cost_usd == pytest.approx(result.gpu_hours * 2.0)
    assert not math.isnan(result.p95_ms)
