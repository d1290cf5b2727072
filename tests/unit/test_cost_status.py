"""The cost controller's status patch (pure): which signals are shown and when they are worth a write."""

from __future__ import annotations

from typing import Any

from inferop.cost.controller import signals_changed, status_plan
from inferop.cost.decide import Decision, Reason
from inferop.cost.signals import Observation, Observations, ObservationStatus


def observations(attainment: float | None) -> Observations:
    within = (
        Observation.ok(attainment, statistic="fraction within SLO")
        if attainment is not None
        else Observation.missing(ObservationStatus.NAN)
    )
    return Observations(
        latency_milliseconds=Observation.ok(812.4),
        queue_depth_per_replica=Observation.ok(0.4),
        request_rate=Observation.ok(5.0),
        gpu_utilization_percent=Observation.ok(61.6),
        slo_attainment=within,
    )


def decision() -> Decision:
    return Decision(
        desired_replicas=2,
        current_replicas=2,
        reason=Reason.HOLD,
        message="holding",
        limited_by=None,
        metrics_available=True,
        metrics_message="",
        acts=False,
        inputs={},
        recommendation=2,
    )


def body(signals: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"autoscaling": {"desiredReplicas": 2, "lastDecision": {"to": 2, "reason": "Hold"}}}
    if signals is not None:
        status["signals"] = signals
    status["conditions"] = [{"type": "MetricsAvailable", "status": "True"}]
    return {"metadata": {"name": "chat", "generation": 1}, "status": status}


def test_signals_show_the_slo_attainment_in_percent() -> None:
    patch = status_plan(body(), decision(), observations(0.97436), now=0)
    assert patch["signals"] == {
        "latencyMilliseconds": 812,
        "gpuUtilizationPercent": 62,
        "queueDepth": 0,
        "sloAttainmentPercent": 97.4,
    }
    # NaN (no requests in the window) shows nothing
    assert status_plan(body(), decision(), observations(None), now=0)["signals"]["sloAttainmentPercent"] is None


def test_small_moves_of_the_attainment_write_nothing() -> None:
    shown = status_plan(body(), decision(), observations(0.974), now=0)["signals"]
    assert status_plan(body(shown), decision(), observations(0.977), now=0) == {}
    assert status_plan(body(shown), decision(), observations(0.980), now=0)["signals"]["sloAttainmentPercent"] == 98.0
    assert signals_changed({**shown, "sloAttainmentPercent": None}, shown)
