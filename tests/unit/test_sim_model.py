"""The simulator's service model, observation pipeline, traces and oracle (inferop.sim).

Covers: the continuous-batching replica on hand-computed cases (one request alone; two prompts
prefilled one after the other while decoding waits; a full batch queueing the next request); cold
starts (GPU time charged from pod start, no traffic before Ready); draining on scale-down (served to
the end, charged until empty); Prometheus' extrapolated rate() and histogram_quantile() interpolation
(first bucket from 0, +Inf bucket, non-monotonic rates, zero observations = NaN), a latency query
that is NaN at zero traffic and empty before the first scrape; parsing both trace formats (sorting,
time range, thinning, copies, generated Gamma arrivals and seeded token counts, errors naming the
file and line); determinism for a seed; the real decide() being the one our policy calls; the
oracle using no more GPU-hours than any policy that meets the goal; the shipped profile's sources.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

import inferop.sim.policies as policies
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.sim.compare import compare
from inferop.sim.engine import Cluster, Requests
from inferop.sim.oracle import oracle
from inferop.sim.policies import InferopPolicy
from inferop.sim.profile import DEFAULT_PROFILE, ServiceProfile, load_profile
from inferop.sim.prom import Prometheus, bucket_quantile, extrapolated_rate
from inferop.sim.run import RunConfig, run
from inferop.sim.trace import RATE_HEADER, REQUEST_HEADER, Trace, TraceError, load_trace

INF = math.inf


def profile(**batching: int) -> ServiceProfile:
    """base 10 ms + 1 ms per running sequence per iteration; prefill 1 ms per prompt token."""
    return ServiceProfile.model_validate(
        {
            "name": "test",
            "pricePerGPUHour": "2.00",
            "iteration": {"baseMilliseconds": 10, "perSequenceMilliseconds": 1, "perContextTokenMicroseconds": 0},
            "prefill": {"perTokenMilliseconds": 1},
            "batching": {"maxNumSeqs": batching.get("max_num_seqs", 64), "kvCacheTokens": 100000},
            "coldStartSeconds": 100,
        }
    )


def serve(prof: ServiceProfile, arrivals: list[tuple[float, int, int]], replicas: int = 1) -> Requests:
    requests = Requests([a for a, _, _ in arrivals], [i for _, i, _ in arrivals], [o for _, _, o in arrivals])
    cluster = Cluster(prof, requests)
    cluster.start_warm(replicas)
    for rid, (t, _, _) in enumerate(arrivals):
        cluster.route(rid, t)
    cluster.finish()
    return requests


def config(slo_ms: int = 1000, max_replicas: int = 10, initial: int = 1) -> RunConfig:
    autoscaling = Autoscaling.model_validate(
        {
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "slo": {"latency": {"percentile": 95, "targetMilliseconds": slo_ms}},
            "targets": {"queueDepthPerReplica": 8},
        }
    )
    return RunConfig(
        slo_ms=slo_ms,
        percentile=95,
        metric="e2e",
        min_replicas=1,
        max_replicas=max_replicas,
        autoscaling=autoscaling,
        cost_policy=CostPolicySpec(),
        initial_replicas=initial,
    )


# -- the replica ---------------------------------------------------------------------------------


def test_one_request_alone_is_prefill_plus_its_decode_iterations() -> None:
    req = serve(profile(), [(0.0, 100, 50)])
    assert req.ttft[0] == pytest.approx(0.100)  # 100 prompt tokens x 1 ms
    assert req.e2e[0] == pytest.approx(0.100 + 50 * 0.011)  # 50 iterations of 10 + 1 x 1 ms
    assert profile().isolated_latency(100, 50) == pytest.approx((0.1, 0.65))


def test_prefills_run_one_after_the_other_and_hold_the_decode() -> None:
    req = serve(profile(), [(0.0, 100, 50), (0.0, 200, 10)])
    assert req.ttft == pytest.approx([0.1, 0.3])  # B's prompt starts after A's
    # From 0.3 both decode at 12 ms per iteration; B is done after 10: 0.42. A has 40 left alone
    # at 11 ms: 0.42 + 0.44 = 0.86.
    assert req.e2e[1] == pytest.approx(0.42)
    assert req.e2e[0] == pytest.approx(0.86)


def test_a_full_batch_makes_the_next_request_wait() -> None:
    req = serve(profile(max_num_seqs=1), [(0.0, 100, 50), (0.0, 200, 10)])
    assert req.e2e[0] == pytest.approx(0.65)
    # B waits until 0.65, prefills 0.2 s, decodes 10 x 11 ms
    assert req.e2e[1] == pytest.approx(0.65 + 0.2 + 0.11)


def test_round_robin_spreads_requests_over_ready_pods() -> None:
    req = serve(profile(), [(0.0, 100, 50), (0.0, 200, 10)], replicas=2)
    assert req.e2e == pytest.approx([0.65, 0.2 + 0.11])


def test_cold_start_charges_from_pod_start_and_serves_only_when_ready() -> None:
    prof = profile()
    requests = Requests([10.0, 150.0, 151.0], [100, 100, 100], [10, 10, 10])
    cluster = Cluster(prof, requests)
    cluster.start_warm(1)
    cluster.scale(2, 0.0)
    assert (cluster.replicas, cluster.ready_count) == (2, 1)
    assert cluster.next_ready_time() == 100.0
    cluster.route(0, 10.0)  # only the warm pod is Ready
    cluster.mark_ready(100.0)
    assert cluster.ready_count == 2
    cluster.route(1, 150.0)
    cluster.route(2, 151.0)
    cluster.finish()
    served = [pod.engine.completed for pod in cluster.pods]
    assert served == [2, 1]
    assert cluster.gpu_seconds(200.0) == pytest.approx(400.0)  # both pods from t=0


def test_scale_down_drains_the_newest_pod_and_charges_it_until_empty() -> None:
    prof = profile()
    requests = Requests([0.0, 0.0], [100, 100], [1000, 10])
    cluster = Cluster(prof, requests)
    cluster.start_warm(2)
    cluster.route(0, 0.0)  # round-robin: pod 1 gets the long request
    cluster.route(1, 0.0)
    cluster.scale(1, 1.0)
    assert [p.state for p in cluster.pods] == ["Ready", "Draining"]
    cluster.finish()
    long_done = 0.1 + 1000 * 0.011
    assert requests.e2e[0] == pytest.approx(long_done)
    assert cluster.pods[1].stop == pytest.approx(long_done)
    assert cluster.gpu_seconds(100.0) == pytest.approx(100.0 + long_done)


def test_starting_pods_are_removed_before_ready_ones() -> None:
    cluster = Cluster(profile(), Requests([], [], []))
    cluster.start_warm(2)
    cluster.scale(4, 10.0)
    cluster.scale(2, 20.0)
    assert [p.state for p in cluster.pods] == ["Ready", "Ready", "Stopped", "Stopped"]
    assert cluster.gpu_seconds(100.0) == pytest.approx(2 * 100 + 2 * 10)


# -- PromQL --------------------------------------------------------------------------------------


def test_histogram_quantile_interpolates_linearly_inside_the_bucket() -> None:
    buckets = [(1.0, 10.0), (2.0, 30.0), (INF, 40.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(1.5)  # rank 20: 1 + (20 - 10) / 20
    assert bucket_quantile(0.1, buckets) == pytest.approx(0.4)  # first bucket starts at 0
    assert bucket_quantile(0.9, buckets) == 2.0  # rank 36 is in +Inf: the highest finite bound
    assert math.isnan(bucket_quantile(0.5, [(1.0, 0.0), (INF, 0.0)]))  # no observations
    assert math.isnan(bucket_quantile(0.5, [(1.0, 3.0)]))  # no +Inf bucket
    # a rate that dips (extrapolation noise) is made monotonic: (2, 25) counts as (2, 30)
    assert bucket_quantile(0.5, [(1.0, 10.0), (2.0, 30.0), (3.0, 25.0), (INF, 40.0)]) == pytest.approx(1.5)


def test_rate_extrapolates_to_the_range_and_never_below_zero() -> None:
    times = [30.0, 60.0, 90.0, 120.0]
    # a series starting at 0 at t=30: the zero point cuts the extrapolation at the start
    assert extrapolated_rate(times, [0, 30, 60, 90], 0.0, 120.0) == pytest.approx(90 / 120)
    # starting at 30: extrapolated back to the range start (30 s < 1.1 x 30 s)
    assert extrapolated_rate(times, [30, 60, 90, 120], 0.0, 120.0) == pytest.approx(1.0)
    # samples far from the end: extrapolate only half an interval
    assert extrapolated_rate([30.0, 60.0], [30, 60], 0.0, 120.0) == pytest.approx(30 * (30 + 30 + 15) / 30 / 120)
    assert extrapolated_rate([30.0], [5], 0.0, 120.0) is None


def test_latency_query_is_empty_before_scrapes_and_nan_without_traffic() -> None:
    prof = profile()
    requests = Requests([40.0], [100], [10])
    cluster = Cluster(prof, requests)
    cluster.start_warm(1)
    prom = Prometheus(cluster)
    assert prom.latency_quantile(0.95, 30.0, 120.0) is None
    for t in (30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0, 270.0):
        if t == 60.0:
            cluster.route(0, 40.0)
        cluster.advance_all(t)
        prom.scrape(t)
    seen = prom.latency_quantile(0.95, 90.0, 120.0)
    assert seen is not None and 0 < seen <= 0.3  # the request took 0.21 s: in the (0, 0.3] bucket
    assert math.isnan(prom.latency_quantile(0.95, 270.0, 120.0) or 0.0)  # no request in the window
    assert prom.request_rate(270.0, 120.0) == 0.0
    assert prom.queue_depth_avg(270.0, 120.0) == 0.0


# -- traces --------------------------------------------------------------------------------------


def write_requests(path: Path, rows: list[tuple[float, int, int]]) -> Path:
    path.write_text(",".join(REQUEST_HEADER) + "\n" + "".join(f"{a},{i},{o}\n" for a, i, o in rows))
    return path


def write_rates(path: Path, rows: list[tuple[float, float, float]]) -> Path:
    lines = [",".join(RATE_HEADER)] + [f"m,{start},{rate},5,{rate / 2},{cv}" for start, rate, cv in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_request_trace_is_read_sorted_cut_and_scaled(tmp_path: Path) -> None:
    path = write_requests(tmp_path / "r.csv", [(5.0, 10, 3), (1.0, 20, 0), (9.5, 30, 4)])
    trace = load_trace(path)
    assert (trace.kind, trace.name) == ("requests", "r")
    assert trace.arrival == [1.0, 5.0, 9.5]
    assert trace.output_tokens == [1, 3, 4]  # at least one output token
    assert trace.duration == 10.0
    cut = load_trace(path, start=2.0, duration=5.0)
    assert (cut.arrival, cut.duration) == ([3.0], 5.0)
    many = [(float(t), 10, 10) for t in range(1000)]
    big = write_requests(tmp_path / "big.csv", many)
    assert 400 < len(load_trace(big, rate_scale=0.5, seed=1)) < 600
    doubled = load_trace(big, rate_scale=2.0, seed=1)
    assert set(range(1000)) <= set(doubled.arrival)  # the first copy is the trace itself
    copies = [a for a in doubled.arrival if a != int(a)]
    assert 940 < len(copies) < 1000  # shifted by up to 60 s; those past the end are dropped
    assert doubled.arrival == sorted(doubled.arrival) and doubled.duration == 1000.0


def test_rate_trace_draws_gamma_arrivals_and_seeded_tokens(tmp_path: Path) -> None:
    path = write_rates(tmp_path / "w.csv", [(0, 20.0, 1.0), (600, 5.0, 2.0)])
    trace = load_trace(path, seed=3)
    assert trace.kind == "rate" and trace.duration == 1200.0
    first, second = trace.slice(0, 600), trace.slice(600, 1200)
    assert 20 * 600 * 0.9 < first[1] - first[0] < 20 * 600 * 1.1
    assert 5 * 600 * 0.8 < second[1] - second[0] < 5 * 600 * 1.2
    assert all(1 <= t <= 16384 for t in trace.input_tokens) and all(1 <= t <= 4096 for t in trace.output_tokens)
    again = load_trace(path, seed=3)
    assert (again.arrival, again.input_tokens) == (trace.arrival, trace.input_tokens)
    assert load_trace(path, seed=4).arrival != trace.arrival
    thinned = load_trace(path, seed=3, rate_scale=0.5)
    assert thinned.windows[0].rate == 10.0
    assert thinned.windows[1].cv == pytest.approx(math.sqrt(0.5 * 4 + 0.5))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,c\n1,2,3\n", "unknown header"),
        ("arrival_s,input_tokens,output_tokens\n1,x,3\n", "r.csv:2: input_tokens is not a number"),
        ("arrival_s,input_tokens,output_tokens\n1,2\n", "r.csv:2: expected 3 columns"),
        ("arrival_s,input_tokens,output_tokens\n-1,2,3\n", "arrival_s must be a finite number >= 0"),
        ("", "empty file"),
    ],
)
def test_bad_traces_name_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(TraceError, match=message):
        load_trace(path)


# -- runs ----------------------------------------------------------------------------------------


def small_trace(seed: int = 7, minutes: int = 20) -> Trace:
    """A bursty per-request trace: a quiet start, a busy middle, a quiet end."""
    rng = random.Random(seed)
    arrival: list[float] = []
    t = 0.0
    while t < minutes * 60:
        busy = minutes * 20 < t < minutes * 40
        t += rng.expovariate(12.0 if busy else 2.0)
        arrival.append(t)
    arrival = [a for a in arrival if a < minutes * 60]
    inputs = [rng.randint(50, 400) for _ in arrival]
    outputs = [rng.randint(5, 80) for _ in arrival]
    return Trace("small", "requests", arrival, inputs, outputs, float(minutes * 60), [], "as recorded")


def test_a_run_is_deterministic() -> None:
    trace, prof = small_trace(), profile()
    first = run(trace, prof, InferopPolicy(), config())
    second = run(trace, prof, InferopPolicy(), config())
    assert first == second
    assert first.gpu_hours > 0 and 0 < first.slo_attainment <= 1


def test_our_policy_calls_the_real_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = policies.decide

    def spy(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        decision = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(decision)
        return decision

    monkeypatch.setattr(policies, "decide", spy)
    trace = small_trace(minutes=5)
    run(trace, profile(), InferopPolicy(), config())
    assert len(calls) == 10  # every 30 s from 7 s to 277 s
    assert calls[0].metrics_available is False  # nothing scraped yet: hold, never scale down
    assert any(c.metrics_available for c in calls)


def test_the_oracle_uses_no_more_gpu_hours_than_any_policy_that_meets_the_goal() -> None:
    trace, prof = small_trace(), profile()
    cfg = config(slo_ms=1500)
    comparison = compare(trace, prof, cfg, ["hpa", "keda-latency", "keda-queue", "kpa", "static"])
    by_name = {r.policy: r for r in comparison.results}
    best = by_name["oracle"]
    assert best.meets(cfg.goal)
    for result in comparison.results:
        if result.meets(cfg.goal):
            assert best.gpu_hours <= result.gpu_hours + 1e-9, result.policy
    assert by_name["static"].meets(cfg.goal)  # the sweep found a static size that works


def test_the_oracle_is_deterministic_and_sized_per_interval() -> None:
    trace, prof = small_trace(), profile()
    first = oracle(trace, prof, config(slo_ms=1500))
    assert first == oracle(trace, prof, config(slo_ms=1500))
    sizes = [p.replicas for p in first.timeline]
    assert len(sizes) == 20 and max(sizes) > min(sizes)  # the busy middle needs more


def test_the_shipped_profile_is_sourced() -> None:
    shipped = load_profile(DEFAULT_PROFILE)
    assert shipped.gpus_per_replica == 1 and shipped.price_per_gpu_hour == "4.10"
    assert any("nvidia.com" in s for s in shipped.sources) and any("vllm" in s for s in shipped.sources)
    # an 8B model alone on an H100: ~6.5 ms per token at batch 1, prompts at ~28k tokens/s
    ttft, e2e = shipped.isolated_latency(1000, 100)
    assert 0.03 < ttft < 0.04 and 0.6 < e2e < 0.8
