"""The cost controller's status patch (pure): which signals are shown and when they are worth a write;
the PolicyResolved condition and its Events when spec.autoscaling.policy names no CostPolicy; the
``inferop_slo_breach`` gauge reports the decision's own verdict."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client import REGISTRY

from inferop.api.costpolicy import CostPolicySpec
from inferop.cost.decide import Decision, Reason
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.reconcile.costtick import policy_event, record_metrics, resolve_policy, signals_changed, status_plan


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


# --- spec.autoscaling.policy that names no CostPolicy (issue 17, item 12b) ---------------------------


def test_a_missing_policy_is_said_and_what_is_used_instead() -> None:
    mine = CostPolicySpec(interval_seconds=60)
    default = CostPolicySpec(interval_seconds=120)
    policy, cond = resolve_policy("mine", {"mine": mine, "default": default})
    assert policy is mine and (cond.type, cond.status, cond.reason) == ("PolicyResolved", "True", "PolicyFound")
    policy, cond = resolve_policy("does-not-exist", {"default": default})
    assert policy is default and (cond.status, cond.reason) == ("False", "PolicyNotFound")
    assert '"does-not-exist"' in cond.message and 'using CostPolicy "default" instead' in cond.message
    policy, cond = resolve_policy("does-not-exist", {})
    assert policy == CostPolicySpec() and "built-in defaults" in cond.message
    # "default" is the field's default: the built-in defaults are then what was asked for, no warning.
    policy, cond = resolve_policy("default", {})
    assert policy == CostPolicySpec() and (cond.status, cond.reason) == ("True", "BuiltInDefaults")


def test_the_policy_condition_is_written_once_with_a_warning() -> None:
    _, missing = resolve_policy("nope", {})
    body: dict[str, Any] = {"metadata": {"name": "chat", "namespace": "a", "generation": 1}, "status": {}}
    patch = status_plan(body, decision(), observations(0.9), now=0.0, policy=missing)
    cond = next(c for c in patch["conditions"] if c["type"] == "PolicyResolved")
    assert (cond["status"], cond["reason"]) == ("False", "PolicyNotFound")
    event = policy_event(body["status"], patch)
    assert event is not None and (event.type, event.reason) == ("Warning", "PolicyNotFound")
    # Written: the next tick writes nothing more about it and posts no second Event.
    body["status"] = {**patch}
    again = status_plan(body, decision(), observations(0.9), now=1.0, policy=missing)
    assert "conditions" not in again and policy_event(body["status"], again) is None
    # The policy appears: the condition heals with a Normal Event.
    _, found = resolve_policy("nope", {"nope": CostPolicySpec()})
    healed = status_plan(body, decision(), observations(0.9), now=2.0, policy=found)
    event = policy_event(body["status"], healed)
    assert event is not None and (event.type, event.reason) == ("Normal", "PolicyFound")


def test_the_slo_breach_gauge_is_the_decisions_verdict() -> None:
    """A p95 over the target with the attainment above the goal is no breach for decide(), so the gauge
    says 0 (it used to read the p95 alone and contradict the decision beside it)."""
    labels = {"namespace": "team-a", "inferenceservice": "gauge"}

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("inferop_slo_breach", labels)

    record_metrics(("team-a", "gauge"), replace(decision(), slo_breached=True), 2, {})
    assert gauge() == 1
    record_metrics(("team-a", "gauge"), replace(decision(), slo_breached=False), 2, {})
    assert gauge() == 0
