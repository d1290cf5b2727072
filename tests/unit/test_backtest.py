"""The backtest's replay (pure): range answers read as the instant answers of each step, the closed
replay over inferop's own decisions, the per-replica rescaling, cold starts and GPU-hours. The same
replay against a real Prometheus with recorded data is in tests/cluster/test_backtest.py."""

from __future__ import annotations

from typing import Any

import pytest

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.validation import parse_isvc
from inferop.cost.backtest import index_matrix, instant_at, replay, series_at, steps
from inferop.cost.queries import QueryPlan, plan_queries, service_query_spec
from inferop.cost.signals import QueryFailed

T0 = 1_800_000_000.0
INTERVAL = 30
METRIC = {"namespace": "team", "inferenceservice": "chat"}


def isvc(mode: str = "Enforce", targets: dict[str, Any] | None = None) -> Any:
    autoscaling: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 10,
        "mode": mode,
        "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": 1000}},
    }
    if targets:
        autoscaling["targets"] = targets
    return parse_isvc(
        {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "InferenceService",
            "metadata": {"name": "chat", "namespace": "team"},
            "spec": {
                "model": {"uri": "hf://org/model"},
                "runtime": {"name": "vllm"},
                "resources": {"gpu": {"class": "h100", "count": 2}},
                "autoscaling": autoscaling,
            },
        }
    )


def matrix(times: list[float], value: Any) -> list[dict[str, Any]]:
    """One series with ``value(t)`` (or a constant) at every time; None leaves the step out."""
    values = [[t, str(v)] for t in times if (v := value(t) if callable(value) else value) is not None]
    return [{"metric": dict(METRIC), "values": values}]


def answers(plan: QueryPlan, times: list[float], latency: Any, gpu: Any = 30.0, queue: Any = 0.0) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for query in plan.queries:
        if query.signal == "latency":
            out[query] = matrix(times, latency)
        elif query.signal == "request_rate":
            out[query] = matrix(times, 5.0)
        elif query.signal == "queue_depth":
            out[query] = matrix(times, queue)
        elif query.signal == "gpu_utilization":
            out[query] = matrix(times, gpu)
        else:  # the attainment is optional: without it the percentile judges the SLO
            out[query] = QueryFailed("not recorded")
    return out


def run(service: Any, latency: Any, actual: list[int | None] | int, minutes: int = 30, **kw: Any) -> Any:
    times = steps(T0, T0 + minutes * 60, INTERVAL)
    plan = plan_queries([service_query_spec(service)], window="2m")
    ran = actual if isinstance(actual, list) else [actual] * len(times)
    policy = kw.pop("policy", CostPolicySpec())
    gpu = kw.pop("gpu", 30.0)
    queue = kw.pop("queue", 0.0)
    kw.setdefault("cold_start_seconds", 0.0)
    return replay(service, policy, plan, answers(plan, times, latency, gpu, queue), times, ran, **kw)


def test_steps_cover_the_range_every_interval_including_the_end() -> None:
    assert steps(0, 90, 30) == [0, 30, 60, 90]
    assert steps(0, 100, 30) == [0, 30, 60, 90]
    with pytest.raises(ValueError):
        steps(0, 10, 0)


def test_a_range_answer_at_one_step_is_that_steps_instant_answer() -> None:
    rows = [
        {"metric": {"a": "1"}, "values": [[T0, "1"], [T0 + 30, "2"]]},
        {"metric": {"a": "2"}, "values": [[T0, "5"]]},
    ]
    assert instant_at(index_matrix(rows), T0 + 30) == [{"metric": {"a": "1"}, "value": [T0 + 30, "2"]}]
    assert len(instant_at(index_matrix(rows), T0)) == 2
    assert instant_at(index_matrix(rows), T0 + 60) == []
    assert series_at(rows, [T0, T0 + 30, T0 + 60]) == [5, 2, None]
    assert series_at([{"metric": {}, "values": [[T0, "NaN"]]}], [T0]) == [None]


def test_an_idle_fleet_is_projected_down_and_charged_by_gpus_per_replica() -> None:
    result = run(isvc(), latency=200.0, actual=4, price_per_replica_hour=8.2, currency="EUR")
    first = result.steps[0]
    assert (first.current, first.actual) == (4, 4)  # starts from what actually ran
    assert result.steps[-1].projected == 1
    n = len(result.steps)
    assert result.actual_gpu_hours == pytest.approx(n * 4 * 2 * INTERVAL / 3600)  # 2 GPUs per replica
    assert result.projected_gpu_hours < result.actual_gpu_hours
    assert all(s.optimistic == (s.projected < 4) for s in result.steps)
    assert result.summary()["ratio"] == pytest.approx(result.projected_gpu_hours / result.actual_gpu_hours, abs=1e-4)
    assert result.steps[-1].latency_ms == 200.0
    summary = result.summary()
    assert summary["actual_cost"] == pytest.approx(n * 4 * INTERVAL / 3600 * 8.2, abs=0.01)  # per replica-hour
    assert summary["currency"] == "EUR"
    assert summary["reasons"] == dict(sorted(summary["reasons"].items())) and sum(summary["reasons"].values()) == n


def test_the_replay_follows_its_own_decisions_with_history_and_cooldown() -> None:
    """The projection scales down one step at a time (stabilization, cooldown), as the operator would."""
    result = run(isvc(), latency=200.0, actual=8, policy=CostPolicySpec.model_validate({"cooldownSeconds": 600}))
    downs = [s.time for s in result.steps if s.projected < s.current]
    assert len(downs) >= 2
    assert all(b - a >= 600 for a, b in zip(downs, downs[1:], strict=False))
    for before, after in zip(result.steps, result.steps[1:], strict=False):
        assert after.current == before.projected


def test_recommend_mode_is_replayed_as_enforce() -> None:
    assert run(isvc(mode="Recommend"), latency=200.0, actual=4).steps[-1].projected == 1


def test_new_replicas_are_ready_after_the_cold_start() -> None:
    result = run(isvc(), latency=3000.0, actual=1, minutes=10, cold_start_seconds=120)
    first_up = next(i for i, s in enumerate(result.steps) if s.projected > s.current)
    added_at = result.steps[first_up].time
    later = [s for s in result.steps if s.time > added_at]
    assert all(s.ready == 1 for s in later if s.time < added_at + 120)
    assert any(s.ready > 1 for s in later if s.time >= added_at + 120)
    # without a cold start the added replicas count at once, so it scales faster
    fast = run(isvc(), latency=3000.0, actual=1, minutes=10, cold_start_seconds=0)
    assert fast.projected_gpu_hours > result.projected_gpu_hours


def test_per_replica_gpu_utilization_is_spread_over_the_projected_replicas() -> None:
    """30% on 4 replicas is 60% on 2: the same load, half the GPUs."""
    service = isvc(targets={"gpuUtilizationPercent": 50})
    result = run(service, latency=200.0, actual=4, gpu=30.0, queue=0.5)
    for step in result.steps:
        observed = step.inputs["observations"]
        assert observed["gpuUtilizationPercent"]["value"] == pytest.approx(min(100.0, 30.0 * 4 / step.current))
        assert observed["queueDepthPerReplica"]["value"] == pytest.approx(0.5 * 4 / step.current)
        assert observed["requestRate"]["value"] == 5.0  # a total: not rescaled
    # the GPU target stops the scale-down where the spread load would exceed it: 4 x 30% / 50% = 2.4 -> 3
    assert result.steps[-1].projected == 3


def test_steps_without_signals_hold_and_steps_without_replicas_charge_nothing() -> None:
    times = steps(T0, T0 + 600, INTERVAL)
    actual: list[int | None] = [None if i % 2 else 2 for i in range(len(times))]
    result = run(isvc(), latency=lambda t: None, actual=actual, minutes=10)
    assert {s.reason for s in result.steps} == {"MetricsUnavailable"}
    assert result.missing_actual_steps == len(times) // 2
    assert result.actual_gpu_hours == pytest.approx((len(times) + 1) // 2 * 2 * 2 * INTERVAL / 3600)


def test_a_service_without_autoscaling_cannot_be_backtested() -> None:
    service = isvc()
    fixed = service.model_copy(update={"spec": service.spec.model_copy(update={"autoscaling": None})})
    with pytest.raises(ValueError, match="no spec.autoscaling"):
        replay(fixed, CostPolicySpec(), plan_queries([], window="2m"), {}, [T0], [1], cold_start_seconds=0)


def test_backtest_times_are_rfc3339_unix_seconds_or_relative_to_now() -> None:
    from inferop.cli.backtest import parse_time
    from inferop.cli.errors import CLIError

    assert parse_time("--start", "2026-11-30T12:00:00Z", 0) == 1796040000
    assert parse_time("--start", "2026-11-30T13:00:00+01:00", 0) == 1796040000
    assert parse_time("--start", "1796040000", 0) == 1796040000
    assert parse_time("--end", "now", 5000) == 5000
    assert parse_time("--start", "now-2h", 10000) == 10000 - 7200
    with pytest.raises(CLIError, match="--start: 'yesterday' is not a time"):
        parse_time("--start", "yesterday", 0)
    with pytest.raises(CLIError, match="--end: .* has no time zone"):
        parse_time("--end", "2026-11-30T12:00:00", 0)


def test_spread_gpu_utilization_is_capped_at_100_percent() -> None:
    """The projection starts at 1 replica; then 4 actually ran at 80%: on 1 that reads 100%, not 320%."""
    times = steps(T0, T0 + 600, INTERVAL)
    ran: list[int | None] = [1] + [4] * (len(times) - 1)
    result = run(isvc(targets={"gpuUtilizationPercent": 90}), latency=200.0, actual=ran, minutes=10, gpu=80.0)
    second = result.steps[1]
    assert (second.current, second.actual) == (1, 4)
    assert second.inputs["observations"]["gpuUtilizationPercent"]["value"] == 100.0
    assert second.reason == "Saturated"


def test_backtest_prints_every_problem_of_the_service_and_of_the_policy_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from inferop.cli import backtest, main

    bad_isvc = {
        "apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService",
        "metadata": {"name": "chat", "namespace": "a"},
        "spec": {"model": {"uri": "ftp://x/y"}, "resources": {"gpu": {"class": "h100", "count": 0}},
                 "autoscaling": {"minReplicas": 5, "maxReplicas": 3}},
    }
    good_isvc = {**bad_isvc, "spec": {"model": {"uri": "hf://o/m"}, "autoscaling": {"maxReplicas": 3}}}
    argv = ["backtest", "--isvc", "a/chat", "--start", "now-1h", "--end", "now", "--prometheus", "http://p:9090"]

    monkeypatch.setattr(backtest, "_read_cluster", lambda ns, name: (bad_isvc, None, None))
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "error: --isvc: a/chat is invalid: 3 problems:"
    assert [line.split()[0] for line in lines[1:]] == [
        "spec.model.uri", "spec.resources.gpu.count", "spec.autoscaling.minReplicas"]

    policy = tmp_path / "policy.yaml"
    policy.write_text("kind: CostPolicy\nspec: {intervalSeconds: 1, bogus: 2, prometheus: {url: 5}}\n")
    monkeypatch.setattr(backtest, "_read_cluster", lambda ns, name: (good_isvc, None, None))
    assert main([*argv, "--policy", str(policy)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"error: --policy: {policy}: 3 problems:"
    assert [line.split()[0] for line in lines[1:]] == ["spec.intervalSeconds:", "spec.prometheus.url:", "spec.bogus:"]


def test_the_replay_starts_from_the_rebuilt_learned_state(monkeypatch: pytest.MonkeyPatch) -> None:
    from inferop.cost import backtest
    from inferop.cost.state import CapacityPoint, Learned, LoadSample

    learned = Learned(
        unit="tokens",
        points=(CapacityPoint(time=T0 - 60, per_replica=2000.0, attainment=0.99, requests=600.0),),
        load=(LoadSample(time=T0 - 60, load=4000.0),),
    )
    seen: list[Any] = []
    real = backtest.decide

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest, "decide", spy)
    run(isvc(), 300.0, 2, minutes=2, learned=learned, window_seconds=120.0, cold_start_seconds=90.0)
    assert seen[0]["history"].learned == learned  # not the empty state: a running operator would hold it
    assert all(kw["window_seconds"] == 120.0 and kw["cold_start_seconds"] == 90.0 for kw in seen)


def test_the_replay_tells_decide_the_operators_rate_window_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from inferop.cost import backtest

    seen: list[Any] = []
    real = backtest.decide

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["window_seconds"])
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest, "decide", spy)
    run(isvc(), 300.0, 2, minutes=2)
    assert set(seen) == {120.0}  # rate_window(30 s) = 2m
