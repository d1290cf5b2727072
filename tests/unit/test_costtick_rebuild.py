"""The cost tick rebuilds the planner's learned state from Prometheus (reconcile.rebuild + costtick).

Covers: on the first tick (operator start) a service's ``History.learned`` is rebuilt from range
queries (points and load from the recorded series, not empty, so the planner does not fall back to the
prior); the rebuild's range queries are batched (their count does not grow with the services) and run
once, not every tick; a failed rebuild leaves the state as it was and is retried after 300 s;
INFEROP_REBUILD_STATE=false skips it; decide() is given the rate window and the measured cold start
(median creation-to-Ready of the service's pods, one cluster-wide list); ``status.autoscaling.capacity``
and ``.forecast`` are written when the decision has them and moved.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from inferop.cost.decide import Decision, Reason
from inferop.cost.signals import Observations, QueryFailed
from inferop.reconcile import coststatus, costtick
from inferop.reconcile.costtick import CostController, status_plan
from inferop.reconcile.rebuild import RETRY_SECONDS
from inferop.settings import Settings

NOW = 1_700_000_000.0
STEP = 30.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")


def body(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "demo", "generation": 1},
        "spec": {
            "model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
            "runtime": {"name": "vllm"},
            "resources": {"cpu": "2", "memory": "8Gi", "gpu": {"class": "h100", "count": 1}},
            "autoscaling": {
                "mode": "Recommend",
                "minReplicas": 1,
                "maxReplicas": 6,
                "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": 1000}},
            },
        },
        "status": {"replicas": 2, "readyReplicas": 2},
    }


def indexes(*names: str) -> dict[str, Any]:
    policy = {"intervalSeconds": int(STEP)}
    return {
        "services_by_namespace": {"demo": [body(n) for n in names]},
        "gpuclass_specs": {},
        "cost_policies": {"default": [policy]},
        "tenants_by_namespace": {},
    }


class FakeKube:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.lists: list[tuple[str, str | None]] = []
        self.pods: list[dict[str, Any]] = []

    def list(self, url: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        self.lists.append((url, label_selector))
        return self.pods

    def get(self, url: str) -> dict[str, Any] | None:
        return None

    def patch_merge(self, url: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((url, patch))
        return {"metadata": {}, **patch}

    def post_event(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeProm:
    """Answers instant queries with nothing and range queries with 2 steady replicas at 4000 tok/s."""

    def __init__(self) -> None:
        self.ranges: list[str] = []
        self.instant: list[str] = []
        self.fail = False

    def query(self, promql: str) -> list[dict[str, Any]] | QueryFailed:
        self.instant.append(promql)
        return []

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]] | QueryFailed:
        self.ranges.append(promql)
        if self.fail:
            return QueryFailed("Prometheus: connection refused")
        times = [start + i * step for i in range(int((end - start) // step) + 1)]
        out = []
        for name in ("chat", "code"):
            lab = {"namespace": "demo", "inferenceservice": name}
            if promql.startswith(("min_over_time", "max_over_time")):
                series = [({**lab}, 2.0)]
            elif "tokens_total" in promql:
                series = [({**lab}, 4000.0)]
            elif "_bucket" in promql:
                series = [({**lab, "le": "1"}, 9.5), ({**lab, "le": "+Inf"}, 10.0)]
            elif re.search("request_success_total", promql):
                series = [({**lab}, 5.0)]
            else:
                series = []
            out += [{"metric": m, "values": [[t, str(v)] for t in times]} for m, v in series]
        return out


def controller(**kw: Any) -> tuple[CostController, FakeKube, FakeProm]:
    kube, prom = FakeKube(), FakeProm()
    clock = {"now": NOW}
    c = CostController(kube, "http://prom", source_factory=lambda url: prom, clock=lambda: clock["now"], **kw)  # type: ignore[arg-type]
    c.clock_state = clock  # type: ignore[attr-defined]
    return c, kube, prom


def learned_of(c: CostController, name: str) -> Any:
    return next(s for k, s in c.state.items() if k.name == name).history.learned


def test_first_tick_rebuilds_the_learned_state_from_prometheus_with_batched_range_queries() -> None:
    c, _, prom = controller()
    report = c.tick(indexes("chat", "code"))
    assert report.decided == 2
    assert report.rebuild_queries == len(prom.ranges) == 5  # one runtime family: five whatever the services
    for name in ("chat", "code"):
        learned = learned_of(c, name)
        assert learned.unit == "tokens"
        assert len(learned.points) > 100 and len(learned.load) > 100  # two days of 30 s steps
        assert learned.points[-1].per_replica == pytest.approx(2000.0)
        assert learned.points[-1].attainment == pytest.approx(0.95)
    c.clock_state["now"] += STEP  # type: ignore[attr-defined]
    assert c.tick(indexes("chat", "code")).rebuild_queries == 0  # rebuilt once, not every tick


def test_a_new_service_is_rebuilt_when_first_seen() -> None:
    c, _, prom = controller()
    c.tick(indexes("chat"))
    c.clock_state["now"] += STEP  # type: ignore[attr-defined]
    assert c.tick(indexes("chat", "code")).rebuild_queries == 5
    assert learned_of(c, "code").points


def test_a_failed_rebuild_keeps_the_state_and_is_retried_after_300_seconds() -> None:
    c, _, prom = controller()
    prom.fail = True
    c.tick(indexes("chat"))
    assert learned_of(c, "chat").points == ()
    assert len(prom.ranges) == 1  # the first failure stops the batch
    prom.fail = False
    c.clock_state["now"] += STEP  # type: ignore[attr-defined]
    assert c.tick(indexes("chat")).rebuild_queries == 0  # not before the retry time
    c.clock_state["now"] = NOW + RETRY_SECONDS  # type: ignore[attr-defined]
    assert c.tick(indexes("chat")).rebuild_queries == 5
    assert learned_of(c, "chat").points


def test_rebuild_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFEROP_REBUILD_STATE", "false")
    assert Settings.from_env().rebuild_state is False
    monkeypatch.setenv("INFEROP_REBUILD_STATE", "maybe")
    with pytest.raises(SystemExit, match="true or false"):
        Settings.from_env()
    monkeypatch.delenv("INFEROP_REBUILD_STATE")
    assert Settings.from_env().rebuild_state is True
    c, _, prom = controller(rebuild_state=False)
    c.tick(indexes("chat"))
    assert prom.ranges == [] and learned_of(c, "chat").points == ()


def test_decide_gets_the_rate_window_and_the_measured_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    real = costtick.decide

    def spy(*args: Any, **kwargs: Any) -> Decision:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(costtick, "decide", spy)
    c, kube, _ = controller()
    kube.pods = [
        {
            "metadata": {
                "name": f"chat-{i}",
                "namespace": "demo",
                "creationTimestamp": iso(NOW - 1000 + i),
                "labels": {"inferop.dev/inferenceservice": "chat"},
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": iso(NOW - 1000 + i + 45)}]
            },
        }
        for i in range(3)
    ]
    c.tick(indexes("chat", "code"))
    by_name = {kw["autoscaling"].min_replicas: kw for kw in seen}
    assert len(kube.lists) == 1 and kube.lists[0][0] == "/api/v1/pods"  # one cluster-wide list
    windows = {kw["window_seconds"] for kw in seen}
    assert windows == {120.0}  # rate_window(30 s interval) = 2m
    colds = sorted(kw["cold_start_seconds"] for kw in seen)
    assert colds == [45.0, 120.0]  # chat measured from its pods; code has none: the profile's default
    assert by_name  # decide() was called
    c.clock_state["now"] += STEP  # type: ignore[attr-defined]
    c.tick(indexes("chat", "code"))
    assert len(kube.lists) == 1  # not again before 10 minutes unless the ready replicas rose


def decision(capacity: dict[str, Any] | None, forecast: dict[str, Any] | None) -> Decision:
    return Decision(
        desired_replicas=2,
        current_replicas=2,
        reason=next(iter(Reason)),
        message="steady",
        limited_by=None,
        metrics_available=True,
        metrics_message="",
        acts=False,
        inputs={},
        recommendation=2,
        capacity=capacity,
        forecast=forecast,
    )


def test_status_capacity_and_forecast_are_written_when_they_moved() -> None:
    capacity = {
        "perReplica": 5200.0,
        "unit": "tokens",
        "lower": 4800.0,
        "upper": 6000.0,
        "source": "learned",
        "points": 212,
    }
    forecast = {"load": 41000.0, "upper": 48000.0, "horizonSeconds": 150, "unit": "tokens"}
    current = {"metadata": {"generation": 1}, "status": {"autoscaling": {"desiredReplicas": 2, "limitedBy": None}}}
    patch = status_plan(current, decision(capacity, forecast), Observations(), NOW)
    assert patch["autoscaling"]["capacity"] == capacity
    assert patch["autoscaling"]["forecast"] == forecast
    stored = {**current["status"]["autoscaling"], "capacity": capacity, "forecast": forecast}  # type: ignore[dict-item]
    assert coststatus.planner_status(stored, {**capacity, "perReplica": 5300.0, "points": 215}, forecast) == {}
    moved = coststatus.planner_status(stored, {**capacity, "source": "prior"}, {**forecast, "upper": 60000.0})
    assert moved["capacity"]["source"] == "prior" and moved["forecast"]["upper"] == 60000.0
    assert coststatus.planner_status(stored, None, None) == {}  # decide() gave none: leave the stored value


def test_a_pod_list_the_api_refuses_is_not_retried_every_tick() -> None:
    from inferop.reconcile.kube import KubeError

    c, kube, _ = controller()
    calls: list[int] = []

    def refuse(url: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        calls.append(1)
        raise KubeError(403, "pods is forbidden")

    kube.list = refuse  # type: ignore[method-assign]
    c.tick(indexes("chat"))
    c.clock_state["now"] += STEP  # type: ignore[attr-defined]
    c.tick(indexes("chat"))
    assert len(calls) == 1
    assert next(iter(c.state.values())).cold_start_seconds == 120.0  # the runtime profile's default
