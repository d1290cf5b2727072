"""Scale to zero in the simulator (sim/zero.py, the run loop's wake): a sparse trace with a long idle
gap goes to zero and back; the first request after zero waits the cold start; missing series never
take it to zero; Knative's KPA rule goes to zero after its stable window plus grace period."""

from __future__ import annotations

from decimal import Decimal

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.sim.compare import configured
from inferop.sim.policies import InferopPolicy, make_baseline
from inferop.sim.profile import ServiceProfile
from inferop.sim.run import RunConfig, run, run_config
from inferop.sim.trace import Trace
from inferop.sim.zero import KPA_IDLE_SECONDS, ZeroPolicy

COLD = 100.0


def profile() -> ServiceProfile:
    return ServiceProfile.model_validate(
        {
            "name": "test",
            "pricePerGPUHour": "2.00",
            "iteration": {"baseMilliseconds": 10, "perSequenceMilliseconds": 1, "perContextTokenMicroseconds": 0},
            "prefill": {"perTokenMilliseconds": 1},
            "batching": {"maxNumSeqs": 64, "kvCacheTokens": 100000},
            "coldStartSeconds": COLD,
        }
    )


def autoscaling(zero: bool) -> Autoscaling:
    spec: dict[str, object] = {
        "minReplicas": 0 if zero else 1,
        "maxReplicas": 4,
        "slo": {"latency": {"percentile": 95, "targetMilliseconds": 2000}},
    }
    if zero:
        spec["scaleToZero"] = {"idleSeconds": 300}
    return Autoscaling.model_validate(spec)


def config(zero: bool) -> RunConfig:
    return run_config(2000, 95, autoscaling(zero), CostPolicySpec())


def sparse() -> Trace:
    """A request every 10 s for 10 minutes, 2 hours of nothing, then the same again."""
    first = [float(t) for t in range(0, 600, 10)]
    second = [7800.0 + t for t in range(0, 600, 10)]
    arrival = first + second
    n = len(arrival)
    return Trace("sparse", "requests", arrival, [100] * n, [20] * n, 9000.0, [], "synthetic")


def test_config_of_a_scale_to_zero_service_keeps_the_floor_at_one() -> None:
    c = config(True)
    assert c.min_replicas == 1 and c.autoscaling.min_replicas == 1
    policy, _ = configured("inferop", None, c)
    assert isinstance(policy, ZeroPolicy) and policy.mode == "rate" and policy.idle_seconds == 300
    kpa, _ = configured("kpa", 8.0, c)
    assert isinstance(kpa, ZeroPolicy) and kpa.mode == "concurrency" and kpa.idle_seconds == KPA_IDLE_SECONDS
    assert not isinstance(configured("inferop", None, config(False))[0], ZeroPolicy)


def test_inferop_goes_to_zero_in_the_gap_and_the_first_request_waits_a_cold_start() -> None:
    trace = sparse()
    zero = ZeroPolicy(InferopPolicy(), 300.0)
    with_zero = run(trace, profile(), zero, config(True))
    without = run(trace, profile(), InferopPolicy(), config(False))
    assert zero.zeros >= 1 and zero.wakes == 1
    assert min(p.replicas for p in with_zero.timeline) == 0
    assert min(p.replicas for p in without.timeline) == 1
    # Saved: most of the 2-hour gap (minus idleSeconds, the rate window and the cold start).
    assert without.gpu_hours - with_zero.gpu_hours > 1.5
    # The first request after zero waits the cold start: its e2e latency is above COLD seconds, so
    # attainment drops below the run without zero, and p99 shows it.
    assert with_zero.p99_ms > COLD * 1000 * 0.5
    assert with_zero.slo_attainment < without.slo_attainment
    assert with_zero.requests == without.requests == len(trace.arrival)  # nothing dropped


def test_no_series_never_goes_to_zero() -> None:
    """With a trace that never completes a request in the scored window, Prometheus has no usable zero."""
    trace = Trace("none", "requests", [], [], [], 3000.0, [], "empty")
    zero = ZeroPolicy(InferopPolicy(), 300.0)
    result = run(trace, profile(), zero, config(True))
    # No pod ever served a request: the request series is missing... or a flat 0 once scraped. Either
    # way the rule is the operator's: only a usable 0 for idleSeconds goes to zero.
    assert zero.wakes == 0
    assert result.requests == 0


def test_kpa_scale_to_zero_after_its_stable_window_and_grace() -> None:
    trace = sparse()
    kpa = ZeroPolicy(make_baseline("kpa", 8.0), KPA_IDLE_SECONDS, mode="concurrency")
    result = run(trace, profile(), kpa, config(True))
    assert kpa.zeros >= 1 and kpa.wakes == 1
    zero_at = next(p.t for p in result.timeline if p.replicas == 0)
    assert 590 + KPA_IDLE_SECONDS <= zero_at <= 590 + KPA_IDLE_SECONDS + 60
    assert result.cost_usd == float(Decimal(repr(result.gpu_hours)) * profile().price)
