"""inferop.cost.rebuild: the learned state rebuilt from Prometheus range answers.

Covers: at most five range queries per runtime family whatever the number of services; per step, a
load sample (tokens/s where the runtime has token counters, requests/s where not) and a capacity point
by ``capacity_point()`` only for steady steps (lowest = highest ready count over the rate window); the
attainment read from the bucket rates like the live tick; a failed query gives RebuildFailed (never an
empty state) for the services that need it and leaves the others; the history window bounds the state.
"""

from __future__ import annotations

from typing import Any

import pytest

from inferop.cost.queries import Query, ServiceKey, ServiceQuerySpec
from inferop.cost.rebuild import RebuildFailed, grid, plan_rebuild, rebuild
from inferop.cost.signals import QueryFailed
from inferop.cost.state import Learned, capacity_point
from inferop.runtimes import PROFILES

NS = "team-a"
STEP = 30.0
T0 = 1_700_000_000.0


def spec(name: str, runtime: str = "vllm", target_ms: float | None = 1000) -> ServiceQuerySpec:
    return ServiceQuerySpec(ServiceKey(NS, name), PROFILES[runtime], slo_target_ms=target_ms)


def labels(name: str, **extra: str) -> dict[str, str]:
    return {"namespace": NS, "inferenceservice": name, **extra}


def matrix(name: str, values: list[float | None], times: list[float], **extra: str) -> dict[str, Any]:
    return {
        "metric": labels(name, **extra),
        "values": [[t, str(v)] for t, v in zip(times, values, strict=True) if v is not None],
    }


def route(plan: Any, name: str, signal: str) -> str:
    found = plan.instant.route(ServiceKey(NS, name), signal)
    assert isinstance(found, Query)
    return str(found.promql)


@pytest.mark.parametrize("count", [1, 10, 300])
def test_at_most_five_range_queries_per_runtime_family_whatever_the_number_of_services(count: int) -> None:
    services = [spec(f"svc-{i}", ("vllm", "kserve", "tgi")[i % 3]) for i in range(count)]
    plan = plan_rebuild(services, window="2m")
    families = 1 if count == 1 else 2  # vllm = kserve, tgi
    assert len(plan.queries) == 5 * families
    assert all("[2m" in q for q in plan.queries)
    assert sum(q.startswith("min_over_time((count by (namespace, inferenceservice)") for q in plan.queries) == families


def answers_for(times: list[float]) -> tuple[Any, dict[str, Any]]:
    plan = plan_rebuild([spec("chat"), spec("batch", "triton", target_ms=None)], window="2m")
    # chat: 4000 tok/s on 2 replicas, then a scale-up to 3 (unsteady for one step), then 3 steady.
    ready_low = [2.0, 2.0, 2.0, 2.0, 3.0, 3.0]
    ready_high = [2.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    tokens = [4000.0, 4000.0, 4400.0, None, 6000.0, 6000.0]  # one step without a sample
    requests = [5.0, 5.0, 5.5, 5.5, 7.5, 7.5]
    buckets = [
        matrix("chat", [9.0] * 6, times, le="1"),
        matrix("chat", [10.0] * 6, times, le="+Inf"),
    ]
    answers: dict[str, Any] = {
        route(plan, "chat", "token_rate"): [matrix("chat", tokens, times)],
        route(plan, "chat", "request_rate"): [matrix("chat", requests, times)],
        route(plan, "chat", "slo_attainment"): buckets,
        plan.ready[ServiceKey(NS, "chat")].lowest: [matrix("chat", ready_low, times)],
        plan.ready[ServiceKey(NS, "chat")].highest: [matrix("chat", ready_high, times)],
        route(plan, "batch", "request_rate"): [matrix("batch", [3.0] * 6, times)],
        plan.ready[ServiceKey(NS, "batch")].lowest: [matrix("batch", [1.0] * 6, times)],
        plan.ready[ServiceKey(NS, "batch")].highest: [matrix("batch", [1.0] * 6, times)],
    }
    return plan, answers


def test_steady_steps_give_capacity_points_and_every_sample_gives_load() -> None:
    times = [T0 + i * STEP for i in range(6)]
    plan, answers = answers_for(times)
    assert set(answers) == set(plan.queries)
    out = rebuild(plan, answers, times, keep_seconds=86_400)
    chat = out[ServiceKey(NS, "chat")]
    assert isinstance(chat, Learned) and chat.unit == "tokens"
    assert [s.load for s in chat.load] == [4000.0, 4000.0, 4400.0, 6000.0, 6000.0]
    # Steps 2 and 3 were not steady (2 -> 3 inside the window); step 3 also had no token sample.
    expected = [
        capacity_point(times[0], 4000.0, 2, 0.9, 5.0 * 120),
        capacity_point(times[1], 4000.0, 2, 0.9, 5.0 * 120),
        capacity_point(times[4], 6000.0, 3, 0.9, 7.5 * 120),
        capacity_point(times[5], 6000.0, 3, 0.9, 7.5 * 120),
    ]
    assert list(chat.points) == expected
    assert chat.points[0].per_replica == pytest.approx(2000.0)
    assert chat.points[0].attainment == pytest.approx(0.9)


def test_runtime_without_token_counters_learns_its_load_in_requests() -> None:
    times = [T0 + i * STEP for i in range(6)]
    plan, answers = answers_for(times)
    batch = rebuild(plan, answers, times, keep_seconds=86_400)[ServiceKey(NS, "batch")]
    assert isinstance(batch, Learned) and batch.unit == "requests"
    assert [s.load for s in batch.load] == [3.0] * 6
    assert batch.points == ()  # no SLO: no attainment, so no capacity point


def test_a_failed_query_fails_only_the_services_that_need_it() -> None:
    times = [T0 + i * STEP for i in range(6)]
    plan, answers = answers_for(times)
    answers[route(plan, "chat", "token_rate")] = QueryFailed("Prometheus: timeout")
    out = rebuild(plan, answers, times, keep_seconds=86_400)
    failed = out[ServiceKey(NS, "chat")]
    assert isinstance(failed, RebuildFailed) and "timeout" in failed.reason
    assert isinstance(out[ServiceKey(NS, "batch")], Learned)
    del answers[plan.ready[ServiceKey(NS, "batch")].lowest]
    assert isinstance(rebuild(plan, answers, times, keep_seconds=86_400)[ServiceKey(NS, "batch")], RebuildFailed)


def test_a_service_without_series_gets_an_empty_state_not_a_failure() -> None:
    times = [T0 + i * STEP for i in range(3)]
    plan = plan_rebuild([spec("new")], window="2m")
    out = rebuild(plan, {q: [] for q in plan.queries}, times, keep_seconds=86_400)
    assert out[ServiceKey(NS, "new")] == Learned(unit="tokens")


def test_history_window_bounds_the_rebuilt_state() -> None:
    times = [T0 + i * STEP for i in range(6)]
    plan, answers = answers_for(times)
    chat = rebuild(plan, answers, times, keep_seconds=STEP)[ServiceKey(NS, "chat")]
    assert isinstance(chat, Learned)
    assert [s.time for s in chat.load] == times[4:]
    assert [p.time for p in chat.points] == times[4:]


def test_grid_is_whole_steps_over_the_window() -> None:
    assert grid(1000.0, 95.0, 30.0) == [930.0, 960.0, 990.0]
    assert grid(990.0, 90.0, 30.0) == [900.0, 930.0, 960.0, 990.0]
    with pytest.raises(ValueError, match="step"):
        grid(1000.0, 100.0, 0)


def test_values_the_live_tick_would_not_use_give_no_sample() -> None:
    times = [T0 + i * STEP for i in range(6)]
    plan, answers = answers_for(times)
    tokens = route(plan, "chat", "token_rate")
    answers[tokens] = [
        matrix("chat", [4000.0, -1.0, float("nan"), float("inf"), None, 4000.0], times),
        matrix("chat", [None, None, None, None, None, 4100.0], times),  # two series at the last step: MultiSeries
    ]
    chat = rebuild(plan, answers, times, keep_seconds=86_400)[ServiceKey(NS, "chat")]
    assert isinstance(chat, Learned)
    assert [s.time for s in chat.load] == times[:1]


def test_per_service_request_rate_override_is_that_services_answer() -> None:
    from inferop.cost.queries import QueryOverrides

    times = [T0 + i * STEP for i in range(3)]
    overridden = ServiceQuerySpec(
        ServiceKey(NS, "batch"), PROFILES["triton"], overrides=QueryOverrides(request_rate="my_rps{app='batch'}")
    )
    plan = plan_rebuild([overridden], window="2m")
    answers: dict[str, Any] = {q: [] for q in plan.queries}
    answers["my_rps{app='batch'}"] = [{"metric": {"app": "batch"}, "values": [[t, "2.5"] for t in times]}]
    batch = rebuild(plan, answers, times, keep_seconds=86_400)[ServiceKey(NS, "batch")]
    assert isinstance(batch, Learned) and [s.load for s in batch.load] == [2.5, 2.5, 2.5]
