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
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import inferop.sim.policies as policies
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cli.files import load_profile, load_trace
from inferop.sim.compare import compare
from inferop.sim.engine import Cluster, Requests, charged_seconds
from inferop.sim.oracle import oracle, prewarmed_pods
from inferop.sim.policies import InferopPolicy
from inferop.sim.profile import DEFAULT_PROFILE, ServiceProfile
from inferop.sim.prom import Prometheus, bucket_quantile, extrapolated_rate
from inferop.sim.run import Context, RunConfig, run
from inferop.sim.trace import RATE_HEADER, REQUEST_HEADER, Trace, TraceError

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
    cfg = replace(config(slo_ms=1500), warmup=300.0)
    comparison = compare(trace, prof, cfg, ["hpa", "keda-latency", "keda-queue", "kpa", "static"])
    by_name = {r.policy: r for r in comparison.results if r.tuned_on != "past"}
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


# -- the protocol: burn-in, tuning on the past, the oracle that pays the cold start ----------------


@dataclass
class Scripted:
    """A controller that sets the replicas from a script: tick k (every 120 s from 7 s) -> replicas."""

    script: list[int]
    name: str = "scripted"
    period: float = 120.0
    target: float | None = None

    def setup(self, ctx: Context) -> None:
        self.ticks = iter(self.script)

    def tick(self, ctx: Context, now: float) -> int | None:
        return next(self.ticks, None)


def burst_then_quiet() -> Trace:
    """50 long prompts at 1 s (they miss a 1 s SLO on one replica), then one small request every 20 s."""
    rows = [(1.0 + 0.001 * i, 100, 20) for i in range(50)]
    rows += [(130.0 + 20 * i, 100, 20) for i in range(5)]
    return Trace("burst", "requests", [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], 240.0, [], "")


def test_requests_pod_time_and_scale_events_of_the_burn_in_are_not_counted() -> None:
    trace, prof = burst_then_quiet(), profile()
    cfg = replace(config(slo_ms=1000), warmup=120.0)
    # Scale to 2 at 7 s (in the burn-in), to 3 at 127 s (scored); cold start 100 s.
    result = run(trace, prof, Scripted([2, 3]), cfg)
    assert result.requests == 5 and result.slo_attainment == 1.0  # the burst's misses are not scored
    # Pod 1 and pod 2 (started at 7 s, alive across the boundary) are charged from 120 s, pod 3 from 127 s.
    assert result.gpu_hours * 3600 == pytest.approx(120 + 120 + (240 - 127))
    assert result.scale_events == 1
    unscored = run(trace, prof, Scripted([2, 3]), config(slo_ms=1000))
    assert unscored.requests == 55 and unscored.slo_attainment < 0.5
    assert unscored.gpu_hours * 3600 == pytest.approx(240 + (240 - 7) + (240 - 127))
    assert unscored.scale_events == 2


def test_a_pod_alive_across_the_boundary_is_charged_only_for_its_scored_part() -> None:
    prof = profile()
    cluster = Cluster(prof, Requests([], [], []))
    cluster.start_warm(1)
    cluster.scale(2, 50.0)  # starts at 50 s
    cluster.scale(1, 150.0)  # still starting (cold start 100 s): stopped at 150 s
    assert cluster.gpu_seconds(200.0, since=100.0) == pytest.approx(100 + 50)
    assert cluster.gpu_seconds(200.0) == pytest.approx(200 + 100)
    assert charged_seconds([(0.0, 50.0), (90.0, None)], 100.0, 200.0) == pytest.approx(100)


def quiet_past(heavy_future: bool) -> Trace:
    """Six minutes: a light first three (the past), then light again or 25 requests/s (the future)."""
    rng = random.Random(5)
    arrival, t = [], 0.0
    while t < 360:
        t += rng.expovariate(25.0 if heavy_future and t >= 180 else 1.0)
        arrival.append(t)
    arrival = [a for a in arrival if a < 360]
    inputs = [rng.randint(50, 400) for _ in arrival]
    outputs = [rng.randint(5, 80) for _ in arrival]
    if heavy_future:  # the past is the very same requests as in the light trace
        light = quiet_past(False)
        past = light.slice(0.0, 180.0)[1]
        later = [i for i, a in enumerate(arrival) if a >= 180]
        arrival = light.arrival[:past] + [arrival[i] for i in later]
        inputs = light.input_tokens[:past] + [inputs[i] for i in later]
        outputs = light.output_tokens[:past] + [outputs[i] for i in later]
    return Trace("past", "requests", arrival, inputs, outputs, 360.0, [], "as recorded")


def test_the_past_tuned_setting_does_not_read_the_scored_period() -> None:
    prof, cfg = profile(), replace(config(slo_ms=1500), warmup=180.0)
    light, heavy = quiet_past(False), quiet_past(True)
    assert light.slice(0, 180) == heavy.slice(0, 180) and len(heavy) > 2 * len(light)
    kept = {}
    for name, trace in (("light", light), ("heavy", heavy)):
        comparison = compare(trace, prof, cfg, ["hpa", "static"], tunings=("past", "scored"))
        kept[name] = {(r.policy, r.tuned_on): r.target for r in comparison.results if r.tuned_on}
        assert {tuning: sweep["static"].best.target for tuning, sweep in comparison.sweeps.items()} == {  # type: ignore[union-attr]
            "past": kept[name][("static", "past")],
            "scored": kept[name][("static", "scored")],
        }
    for policy in ("hpa", "static"):
        assert kept["light"][(policy, "past")] == kept["heavy"][(policy, "past")], policy
    # Tuned with hindsight, the heavy future needs more static replicas: the scored period is read there.
    assert kept["heavy"][("static", "scored")] > kept["light"][("static", "scored")]


def test_prewarmed_pods_start_a_cold_start_early_and_bridge_short_gaps() -> None:
    # 60 s intervals needing 1, 3, 3, 1, 2 replicas, 1 Ready at 0 s, cold start 120 s.
    starts, ends = [0.0, 60.0, 120.0, 180.0, 240.0], [60.0, 120.0, 180.0, 240.0, 300.0]
    pods = prewarmed_pods(starts, ends, [1, 3, 3, 1, 2], initial=1, cold_start=120.0)
    # Replica 1: Ready at 0 to the end. Replica 2: started 120 s before 60 s; its 60 s gap (180-240 s)
    # is shorter than a cold start, so the pod is kept. Replica 3: started at -60 s, stopped at 180 s.
    assert sorted(pods) == [(-60.0, 180.0), (-60.0, 300.0), (0.0, 300.0)]
    assert charged_seconds(pods, 0.0, 300.0) == pytest.approx(300 + 300 + 180)
    # With a cold start of 30 s the gap is longer: the second replica stops and starts again 30 s early.
    again = prewarmed_pods(starts, ends, [1, 3, 3, 1, 2], initial=1, cold_start=30.0)
    assert sorted(again) == [(0.0, 300.0), (30.0, 180.0), (30.0, 180.0), (210.0, 300.0)]


def one_burst() -> Trace:
    """One small request a minute for five minutes, and 30 long prompts at 190 s."""
    rows = sorted([(k * 60.0 + 10, 50, 10) for k in range(5)] + [(190 + 0.01 * i, 100, 10) for i in range(30)])
    arrival, inputs, outputs = ([r[i] for r in rows] for i in range(3))
    return Trace("one-burst", "requests", arrival, inputs, outputs, 300.0, [], "")  # type: ignore[arg-type]


def test_the_oracle_pays_the_cold_start_of_every_replica_it_adds() -> None:
    trace, prof = one_burst(), profile()  # cold start 100 s
    result = oracle(trace, prof, config(slo_ms=1500))
    assert [p.replicas for p in result.timeline] == [1, 1, 1, 3, 1]  # the burst needs 3 in minute 4
    # 1 replica for 300 s, plus 2 more started at 180 - 100 = 80 s and stopped at 240 s.
    assert result.gpu_hours * 3600 == pytest.approx(300 + 2 * (240 - 80))
    assert result.slo_attainment == 1.0 and result.scale_events == 2
    # With a burn-in of 120 s: only [120, 300) is charged and the five requests after 120 s are scored.
    scored = oracle(trace, prof, replace(config(slo_ms=1500), warmup=120.0))
    assert scored.gpu_hours * 3600 == pytest.approx(180 + 2 * (240 - 120))
    assert scored.requests == 33


def test_the_service_model_runs_compiled() -> None:
    """The model's one implementation is the Rust event loop (simcore/); these tests run against it."""
    import inferop_simcore

    cluster = Cluster(profile(), Requests([0.0], [10], [5]))
    assert isinstance(cluster.core, inferop_simcore.Core)
    cluster.start_warm(1)
    assert cluster.route_until(0, INF) == 1
    cluster.finish()
    assert cluster.requests.e2e[0] == pytest.approx(0.010 + 5 * 0.011)  # 10 prompt tokens, 5 iterations
