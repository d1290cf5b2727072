"""The guard step on its own (inferop.cost.guard), on hand-computed readings.

Covers: a breaching signal needs ``ceil(ready x ratio)`` from the ready replicas, capped at
``max_up_factor``, the largest ratio of the latency and the tail's while no capacity is known and the
latency's alone once one is; a queue or GPU target over its value needs its ratio too; a breach at a
load per replica under one already served within the SLO is not load-driven (no need, still breached);
a breach beyond the sampling noise lowers the capacity to the load per replica that breached, one
within it, or in a window that predates the ready replicas, does not; the SLO met by steady replicas
raises the capacity; the probe down assumes one replica fewer and holds while the fewer replicas are
judged, a breach ending it.
"""

from __future__ import annotations

from typing import Any

from inferop.api.inferenceservice import Autoscaling
from inferop.cost.capacity import Capacity
from inferop.cost.guard import Guard, ceil_replicas, guard
from inferop.cost.plan import Load
from inferop.cost.reading import Reading
from inferop.cost.tuning import PlannerTuning

NOW = 1_700_000_000.0
WINDOW = 120.0
TUNING = PlannerTuning()
GOAL = 0.95
LINE = 0.96  # p95 with 20% of the error budget to spare


def autoscaling(**spec: Any) -> Autoscaling:
    base: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 20,
        "slo": {"latency": {"percentile": 95, "targetMilliseconds": 5000}},
    }
    return Autoscaling.model_validate({**base, **spec})


def run(
    reading: Reading,
    *,
    ready: int = 4,
    capacity: Capacity | None = None,
    load: float | None = 4000.0,
    steady: float | None = 600.0,
    rose_at: float | None = None,
    previous_ready: int | None = None,
    previous_probe: float | None = None,
    spec: Autoscaling | None = None,
    metrics_available: bool = True,
) -> Guard:
    return guard(
        reading,
        autoscaling=spec or autoscaling(),
        capacity=capacity,
        load=None if load is None else Load(load, "tokens"),
        ready=ready,
        now=NOW,
        window=WINDOW,
        steady=steady,
        rose_at=rose_at,
        previous_ready=previous_ready,
        previous_probe=previous_probe,
        metrics_available=metrics_available,
        goal=GOAL,
        attainment_line=LINE,
        utilization=TUNING.utilization(GOAL),
        tuning=TUNING,
    )


def learned(per_replica: float, lower: float | None = None, upper: float | None = None) -> Capacity:
    return Capacity(per_replica, "tokens", "learned", lower, upper, points=10)


def test_a_latency_breach_raises_by_the_latency_ratio_capped_at_max_up_factor() -> None:
    # ceil(4 x 6200 / 5000) = ceil(4.96) = 5
    assert run(Reading(latency=6200.0)).up == {"latency": 5}
    # ceil(4 x min(3, 10)) = 12
    g = run(Reading(latency=50_000.0))
    assert g.up == {"latency": 12} and g.breached
    assert not run(Reading(latency=4900.0)).up


def test_an_attainment_breach_uses_the_tail_only_while_no_capacity_is_known() -> None:
    # 80% within a 95% goal: the tail is 4x the error budget; the latency's ratio 5500 / 5000 = 1.1.
    reading = Reading(latency=5500.0, attainment=0.80, rate=100.0)
    assert run(reading).up == {"latency": 12}  # ceil(4 x min(3, 4))
    assert run(reading, capacity=learned(2000.0)).up == {"latency": 5}  # ceil(4 x 1.1)
    # The attainment judges the SLO when usable: a latency over the SLO meeting the goal is no breach.
    assert not run(Reading(latency=5500.0, attainment=0.97, rate=100.0)).breached


def test_a_target_over_its_value_needs_its_ratio() -> None:
    spec = autoscaling(targets={"queueDepthPerReplica": 4, "gpuUtilizationPercent": 80})
    g = run(Reading(latency=1000.0, queue=6.0, gpu=96.0), spec=spec)
    assert g.up == {"queue": 6, "gpu": 5}  # ceil(4 x 1.5), ceil(4 x 1.2)
    assert not g.breached  # the SLO holds: saturated, not breached


def test_a_breach_below_a_load_already_served_is_not_load_driven() -> None:
    # 1000 tok/s per replica, under the 1500 already served within the SLO.
    g = run(Reading(latency=6200.0, attainment=0.5, rate=100.0), capacity=learned(2000.0, lower=1500.0))
    assert g.not_load_driven and g.breached and "latency" not in g.up
    assert g.capacity == learned(2000.0, lower=1500.0)  # nothing lowered


def test_a_significant_breach_lowers_the_capacity_to_the_load_that_breached() -> None:
    # 4000 tok/s on 4 replicas: 1000 per replica breached, 90% of 1200 requests against 95%.
    g = run(Reading(latency=6200.0, attainment=0.90, rate=10.0), capacity=learned(2000.0))
    assert g.significant
    assert g.capacity is not None and (g.capacity.per_replica, g.capacity.upper) == (1000.0, 1000.0)


def test_a_breach_within_the_sampling_noise_does_not_lower_the_capacity() -> None:
    # 94.6% of 96 requests against 95%: within the noise (1.645 standard errors: 3.7%).
    g = run(Reading(latency=6200.0, attainment=0.946, rate=0.8), capacity=learned(2000.0))
    assert g.up == {"latency": 5} and not g.significant  # the guard still raises
    assert g.capacity == learned(2000.0)


def test_a_window_that_predates_the_ready_replicas_does_not_lower_the_capacity() -> None:
    g = run(Reading(latency=6200.0, attainment=0.90, rate=10.0), capacity=learned(2000.0), rose_at=NOW - 60)
    assert g.predates and g.up == {"latency": 5}
    assert g.capacity == learned(2000.0)
    assert not run(Reading(latency=6200.0), rose_at=NOW - WINDOW).predates


def test_the_slo_met_by_steady_replicas_raises_the_capacity() -> None:
    reading = Reading(latency=3000.0, attainment=0.955, rate=10.0)  # meets the goal, not the line
    g = run(reading, capacity=learned(800.0, upper=1200.0))
    assert g.capacity is not None and (g.capacity.per_replica, g.capacity.lower) == (1000.0, 1000.0)
    # Replicas that changed within the window do not.
    assert run(reading, capacity=learned(800.0, upper=1200.0), steady=60.0).capacity == learned(800.0, upper=1200.0)


def test_the_probe_down_assumes_one_replica_fewer_and_holds_while_they_are_judged() -> None:
    reading = Reading(latency=2000.0, attainment=0.99, rate=10.0)
    g = run(reading, capacity=learned(1000.0))
    # 4000 tok/s on 3 replicas at the 0.9 utilization target.
    assert g.probe is not None and abs(g.probe - 4000.0 / (3 * 0.9)) < 1e-9
    assert g.capacity is not None and g.capacity.per_replica == g.probe and g.capacity.upper is None
    # The next ticks, on 3 replicas not yet steady over the window: the probe holds.
    held = run(reading, ready=3, capacity=learned(1000.0), steady=30.0, previous_ready=4, previous_probe=g.probe)
    assert held.probe == g.probe
    # A breach ends it.
    breach = Reading(latency=6200.0, attainment=0.90, rate=10.0)
    ended = run(breach, ready=3, capacity=learned(1000.0), steady=30.0, previous_ready=4, previous_probe=g.probe)
    assert ended.probe is None and ended.up == {"latency": 4}


def test_ceil_replicas_ignores_float_noise() -> None:
    assert ceil_replicas(2 * 1.5) == 3
    assert ceil_replicas(3.0000000001) == 3
    assert ceil_replicas(3.01) == 4
    assert ceil_replicas(-1.0) == 0
