"""The cost controller in a closed loop with real components: a real Prometheus scrapes a load
emulator exposing vLLM-style histograms and DCGM-style gauges for the pods of a real Deployment (kwok
pods), with latency computed from the offered load and the live ready-replica count. A load step up
makes the operator raise replicas until p95 is back under the SLO; a load drop lowers them after the
stabilization window; stopping Prometheus holds replicas with MetricsAvailable=False; restarting it
resumes. Asserts on the InferenceService's status and the Deployment's replicas."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.harness import Prometheus, condition, free_port, load_emulator, prometheus_binary

ROOT = Path(__file__).resolve().parents[2]
SLO_MS = 1000
POLICY = {
    "apiVersion": "inferop.dev/v1alpha1",
    "kind": "CostPolicy",
    "metadata": {"name": "fast-test"},
    "spec": {
        "intervalSeconds": 5,
        "scaleUp": {"stabilizationSeconds": 0, "maxStepReplicas": 4, "maxStepPercent": 100},
        "scaleDown": {"stabilizationSeconds": 20, "maxStepReplicas": 2},
        "cooldownSeconds": 5,
        "sloHeadroomPercent": 20,
    },
}


class Prom(Prometheus):
    """A Prometheus scraping the load emulator at ``target`` every second (harness.Prometheus)."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        super().__init__(
            workdir, [target], job="emulator", scrape_interval="1s", evaluation_interval="1s", binary=binary
        )

    def start(self, timeout: float = 30) -> None:
        super().start(timeout)


@pytest.fixture
def loop(cluster: Cluster, operator_factory: Any, namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    binary = prometheus_binary()
    emu_port = free_port()
    emu = load_emulator(
        cluster, namespace=namespace, name="chat", port=emu_port, rps=5, capacity=20, log=tmp_path / "emu.log"
    )
    prom = Prom(binary, tmp_path, f"127.0.0.1:{emu_port}")
    prom.start()
    cluster.apply(POLICY)
    metrics_port = free_port()
    op = operator_factory(
        INFEROP_PROMETHEUS_URL=prom.url, INFEROP_RATE_WINDOW="10s", INFEROP_METRICS_PORT=str(metrics_port)
    )
    try:
        yield {"prom": prom, "emu_port": emu_port, "operator": op, "metrics_port": metrics_port}
    finally:
        prom.stop()
        emu.terminate()
        emu.wait(timeout=10)


def set_load(port: int, rps: float) -> None:
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/load?rps={rps}", method="POST"), timeout=5)


def service() -> dict[str, Any]:
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "chat"},
        "spec": {
            "model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
            "runtime": {"name": "vllm"},
            "resources": {"cpu": "2", "memory": "8Gi", "gpu": {"class": "h100", "count": 1}},
            "autoscaling": {
                "minReplicas": 1,
                "maxReplicas": 6,
                "policy": "fast-test",
                "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": SLO_MS}},
            },
        },
    }


def test_closed_loop_scales_with_load_and_holds_without_metrics(
    cluster: Cluster, namespace: str, loop: dict[str, Any]
) -> None:
    op: Operator = loop["operator"]
    cluster.apply(service(), namespace=namespace)

    def isvc() -> dict[str, Any]:
        return cluster.get("inferenceservice", "chat", namespace) or {}

    def replicas() -> int:
        return int((cluster.get("deployment", "chat", namespace) or {}).get("status", {}).get("readyReplicas") or 0)

    wait_for(
        lambda: condition(isvc(), "MetricsAvailable").get("status") == "True",
        timeout=90,
        what="MetricsAvailable=True with light load",
    )
    assert replicas() == 1

    # Load step: 40 rps on replicas that serve 20 rps each -> saturated -> scale up.
    set_load(loop["emu_port"], 40)
    wait_for(lambda: replicas() >= 3, timeout=150, interval=2, what="replicas raised to >= 3")
    wait_for(
        lambda: (
            (isvc().get("status", {}).get("signals") or {}).get("latencyMilliseconds") is not None
            and isvc()["status"]["signals"]["latencyMilliseconds"] < SLO_MS
        ),
        timeout=90,
        interval=2,
        what="p95 back under the SLO",
    )
    status = isvc()["status"]
    # the SLO attainment came from the real Prometheus' bucket rates (the batched le query)
    attainment = status["autoscaling"]["lastDecision"]["inputs"]["observations"]["sloAttainment"]
    assert attainment["status"] == "Ok" and 0 <= attainment["value"] <= 1, attainment
    # ... and is shown (percent, one decimal) for the InSLO% printer column
    shown = status["signals"].get("sloAttainmentPercent")
    assert isinstance(shown, int | float) and 0 <= shown <= 100, status["signals"]
    printed = cluster.kubectl("get", "infsvc", "chat", "-n", namespace).stdout.splitlines()
    header, row = printed[0].split(), printed[1].split()
    assert "INSLO%" in header, printed  # kubectl prints column names in capitals
    now_shown = isvc()["status"]["signals"]["sloAttainmentPercent"]
    assert float(row[header.index("INSLO%")]) == pytest.approx(now_shown, abs=1)
    assert status["autoscaling"]["desiredReplicas"] >= 3
    assert status["autoscaling"]["recentDecisions"], "decisions must be explained"
    assert any(d["reason"] in ("SLOBreach", "Saturated") for d in status["autoscaling"]["recentDecisions"])
    events = cluster.list("events", namespace)
    assert any(e["involvedObject"]["name"] == "chat" and e.get("reason") in ("SLOBreach", "Saturated") for e in events)

    def settled() -> int | None:
        """The replicas, once the latest decision keeps them (a recommendation of at least the current
        replicas): the scale-down window then holds a recommendation >= peak from just before the drop,
        so a scale-down must wait for the window instead of finishing one that started earlier."""
        auto = isvc().get("status", {}).get("autoscaling") or {}
        last = auto.get("lastDecision") or {}
        current = replicas()
        recommended = (last.get("inputs") or {}).get("recommendation", -1)
        return current if current and auto.get("desiredReplicas") == current and recommended >= current else None

    peak = wait_for(settled, timeout=120, interval=1, what="replicas settled under load (recommendation >= current)")
    op.assert_alive()
    exposed = urllib.request.urlopen(f"http://127.0.0.1:{loop['metrics_port']}/metrics", timeout=5).read().decode()
    assert f'inferop_desired_replicas{{inferenceservice="chat",namespace="{namespace}"}}' in exposed
    assert "inferop_decisions_total{" in exposed and "inferop_prometheus_query_seconds_count" in exposed

    # Load drop: replicas come down, but only after the scale-down stabilization window.
    set_load(loop["emu_port"], 3)
    dropped_at = time.monotonic()
    wait_for(lambda: replicas() < peak, timeout=150, interval=2, what="replicas lowered after the load drop")
    # 20 s window: the last recommendation >= peak was made at most one 5 s interval before the drop.
    assert time.monotonic() - dropped_at >= 12, "scaled down before the stabilization window"
    wait_for(
        lambda: isvc()["status"]["autoscaling"]["lastDecision"]["reason"] == "ScaleDownWithHeadroom" or replicas() == 1,
        timeout=60,
        what="a scale-down decision",
    )

    # Prometheus gone: hold, say why.
    loop["prom"].stop()
    cond = wait_for(
        lambda: (
            condition(isvc(), "MetricsAvailable")
            if condition(isvc(), "MetricsAvailable").get("status") == "False"
            else None
        ),
        timeout=60,
        what="MetricsAvailable=False",
    )
    assert cond["reason"] == "MetricsUnavailable"
    held, held_replicas = isvc()["status"]["autoscaling"]["desiredReplicas"], replicas()
    set_load(loop["emu_port"], 100)  # would scale up, if anyone could see it
    time.sleep(20)
    assert isvc()["status"]["autoscaling"]["desiredReplicas"] == held
    assert replicas() == held_replicas

    # Prometheus back: resumes.
    loop["prom"].start()
    wait_for(
        lambda: condition(isvc(), "MetricsAvailable").get("status") == "True",
        timeout=90,
        what="MetricsAvailable=True after Prometheus restarted",
    )
    wait_for(lambda: isvc()["status"]["autoscaling"]["desiredReplicas"] > held, timeout=90, what="scaling resumes")


def _gauge(port: int, name: str, namespace: str) -> float | None:
    """One of the operator's per-service gauges for ``chat``, None when not exposed (yet)."""
    try:
        exposed = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return None
    prefix = f'{name}{{inferenceservice="chat",namespace="{namespace}"}} '
    line = next((line for line in exposed.splitlines() if line.startswith(prefix)), None)
    return float(line[len(prefix) :]) if line is not None else None


def _restart_after_steady_load(
    cluster: Cluster, namespace: str, loop: dict[str, Any], operator_factory: Any
) -> tuple[float, float, float, float]:
    """Steady light load recorded in Prometheus, then the operator killed and started again: the
    restarted operator's learned load samples, capacity points and load span, and its time since start."""
    op: Operator = loop["operator"]
    cluster.apply(service(), namespace=namespace)
    wait_for(
        lambda: (
            condition(cluster.get("inferenceservice", "chat", namespace) or {}, "MetricsAvailable").get("status")
            == "True"
        ),
        timeout=90,
        what="MetricsAvailable=True with light load",
    )
    set_load(loop["emu_port"], 8)  # one replica at 40% of its capacity: steady, within the SLO
    time.sleep(45)  # Prometheus records steady intervals of 1 ready replica (10 s window, 5 s steps)

    op.kill()  # killed, not stopped: nothing is saved on the way out
    port = free_port()
    restarted_at = time.monotonic()
    env = {"INFEROP_PROMETHEUS_URL": loop["prom"].url, "INFEROP_RATE_WINDOW": "10s", "INFEROP_METRICS_PORT": str(port)}
    operator_factory(**env)

    def rebuilt() -> tuple[float, float, float] | None:
        load = _gauge(port, "inferop_learned_load_samples", namespace)
        points = _gauge(port, "inferop_learned_capacity_points", namespace)
        span = _gauge(port, "inferop_learned_load_span_seconds", namespace)
        if load is None or points is None or span is None or load == 0:
            return None
        return load, points, span

    load, points, span = wait_for(rebuilt, timeout=60, interval=1, what="the learned state after the restart")
    return load, points, span, time.monotonic() - restarted_at


def test_a_restarted_operator_rebuilds_its_learned_state_from_prometheus(
    cluster: Cluster, namespace: str, loop: dict[str, Any], operator_factory: Any
) -> None:
    load, points, span, since_restart = _restart_after_steady_load(cluster, namespace, loop, operator_factory)
    # The load history spans more than the new operator has been running: it came from Prometheus.
    assert span > since_restart + 10, (span, since_restart)
    assert load >= 6 and points >= 3, (load, points)  # ... with capacity points of the steady intervals


def test_a_restarted_operator_shows_the_rebuilt_capacity_in_status(
    cluster: Cluster, namespace: str, loop: dict[str, Any], operator_factory: Any
) -> None:
    _restart_after_steady_load(cluster, namespace, loop, operator_factory)
    capacity = wait_for(
        lambda: (
            (cluster.get("inferenceservice", "chat", namespace) or {}).get("status", {}).get("autoscaling") or {}
        ).get("capacity"),
        timeout=60,
        what="status.autoscaling.capacity after the restart",
    )
    assert capacity["source"] == "learned", capacity  # rebuilt, not reset to the prior
    assert capacity["points"] >= 3 and capacity["unit"] == "tokens", capacity
