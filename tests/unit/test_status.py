"""Pure decisions of the reconcile loop: when to re-apply a child, and what status to report.

Covers: ``is_subset`` tolerates what the API server adds (defaults, normalised quantities such as
"1000m" == "1" and "16Gi" == 17179869184) but detects every change we own (a changed value, a list that
grew or shrank, a missing field) — and does not mistake a changed string for an equal quantity;
``deployment_condition`` for a missing Deployment, a rollout in progress, replicas not ready, ready,
scaled to zero and an exceeded progress deadline; ``autoscaler_condition``; ``ready_condition``
summarising the parts; ``merge_conditions`` keeping lastTransitionTime when the status did not change and
keeping condition types other loops own; ``ready_transition_event`` only on a change; ``status_patch``
empty when nothing changed; owner references.
"""

from __future__ import annotations

from typing import Any

import pytest

from inferop.reconcile import drift, status
from inferop.reconcile.status import Cond

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"

# --- is_subset -------------------------------------------------------------------------------------

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "chat", "namespace": "a", "labels": {"app": "chat"}},
    "spec": {"template": {"spec": {"containers": [{
        "name": "server", "image": "vllm:1", "args": ["--model", "m"],
        "resources": {"requests": {"cpu": "1", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "1"}},
    }]}}},
}


def live_from(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns for ``desired``: defaults and bookkeeping added."""
    import copy

    live = copy.deepcopy(desired)
    live["metadata"] |= {"uid": "u", "resourceVersion": "42", "generation": 3, "managedFields": [{}]}
    container = live["spec"]["template"]["spec"]["containers"][0]
    container |= {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    live["spec"] |= {"replicas": 3, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
    live["status"] = {"replicas": 3}
    return live


def test_live_object_with_server_defaults_is_not_drift() -> None:
    assert drift.is_subset(DESIRED, live_from(DESIRED))


def test_missing_field_in_live_is_drift() -> None:
    live = live_from(DESIRED)
    del live["metadata"]["labels"]
    assert not drift.is_subset(DESIRED, live)


@pytest.mark.parametrize("path, value", [
    (("metadata", "labels", "app"), "other"),
    (("spec", "template", "spec", "containers", 0, "image"), "vllm:2"),
    (("spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"), "2"),
    (("spec", "template", "spec", "containers", 0, "resources", "limits", "nvidia.com/gpu"), "2"),
])
def test_changed_value_is_drift(path: tuple[Any, ...], value: Any) -> None:
    live = live_from(DESIRED)
    node = live
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert not drift.is_subset(DESIRED, live)


@pytest.mark.parametrize("args", [["--model"], ["--model", "m", "--extra"], []])
def test_list_of_another_length_is_drift(args: list[str]) -> None:
    live = live_from(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["args"] = args
    assert not drift.is_subset(DESIRED, live)


def test_list_order_matters() -> None:
    assert not drift.is_subset({"args": ["a", "b"]}, {"args": ["b", "a"]})


def test_list_items_may_carry_server_defaults() -> None:
    want = {"ports": [{"name": "http", "containerPort": 8000}]}
    have = {"ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]}
    assert drift.is_subset(want, have)


@pytest.mark.parametrize(("want", "have"), [
    ("1000m", "1"), ("1", "1000m"), ("500m", "0.5"), ("16Gi", 17179869184), ("16Gi", "16384Mi"),
    ("1G", "1000M"), ("1k", "1000"), ("2", 2),
])
def test_equal_quantities_in_other_notation_are_not_drift(want: Any, have: Any) -> None:
    assert drift.is_subset({"resources": {"requests": {"x": want}}}, {"resources": {"requests": {"x": have}}})


@pytest.mark.parametrize(("want", "have"), [("1", "1001m"), ("16Gi", "16G"), ("1Ki", "1k"), ("8", "80")])
def test_different_quantities_are_drift(want: Any, have: Any) -> None:
    assert not drift.is_subset({"cpu": want}, {"cpu": have})


def test_booleans_are_not_numbers() -> None:
    assert not drift.is_subset({"readOnly": False}, {"readOnly": True})
    assert not drift.is_subset({"readOnly": True}, {"readOnly": "true"})


def test_scalars_and_containers_do_not_match_each_other() -> None:
    assert not drift.is_subset({"a": {"b": 1}}, {"a": "b"})
    assert not drift.is_subset({"a": ["x"]}, {"a": "x"})
    assert not drift.is_subset({"a": "x"}, {"a": ["x"]})


@pytest.mark.parametrize(("want", "have"), [("1.10", "1.1"), ("010", "10"), ("1e3", "1000")])
def test_changed_string_that_is_not_a_resource_quantity_is_drift(want: str, have: str) -> None:
    desired = {"spec": {"containers": [{"env": [{"name": "MODEL_REVISION", "value": want}]}]}}
    live = {"spec": {"containers": [{"env": [{"name": "MODEL_REVISION", "value": have}]}]}}
    assert not drift.is_subset(desired, live)


def test_parse_quantity() -> None:
    assert drift.parse_quantity("16Gi") == 16 * 2**30
    assert drift.parse_quantity("250m") == drift.parse_quantity("0.25")
    assert drift.parse_quantity(3) == 3
    assert drift.parse_quantity("http") is None
    assert drift.parse_quantity("") is None


# --- owner references --------------------------------------------------------------------------------

OWNER = {"apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService",
         "metadata": {"name": "chat", "namespace": "a", "uid": "uid-1"}}


def test_children_get_a_controller_owner_reference_without_touching_the_input() -> None:
    child = {"kind": "Service", "metadata": {"name": "chat", "labels": {"a": "b"}}}
    owned = drift.with_owner(child, OWNER)
    assert owned["metadata"]["ownerReferences"] == [{
        "apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService", "name": "chat", "uid": "uid-1",
        "controller": True, "blockOwnerDeletion": True}]
    assert owned["metadata"]["labels"] == {"a": "b"}
    assert "ownerReferences" not in child["metadata"]
    assert drift.is_owned_by(owned, "uid-1")
    assert not drift.is_owned_by(owned, "uid-2")
    assert not drift.is_owned_by(child, "uid-1")


def test_non_controller_reference_is_not_ownership() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "uid-1", "controller": False}]}}
    assert not drift.is_owned_by(obj, "uid-1")


# --- deployment_condition ------------------------------------------------------------------------------


def deployment(replicas: int = 2, generation: int = 2, observed: int = 2, updated: int = 2, total: int = 2,
               ready: int = 2, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                   "readyReplicas": ready, "conditions": conditions or []},
    }


def test_missing_deployment() -> None:
    cond = status.deployment_condition(None)
    assert (cond.type, cond.status, cond.reason) == ("DeploymentReady", "False", "DeploymentMissing")


def test_all_replicas_ready() -> None:
    cond = status.deployment_condition(deployment())
    assert (cond.status, cond.reason) == ("True", "ReplicasReady")
    assert "2 of 2" in cond.message


def test_controller_has_not_seen_the_new_spec() -> None:
    cond = status.deployment_condition(deployment(generation=3, observed=2))
    assert (cond.status, cond.reason) == ("False", "RolloutInProgress")


def test_rollout_with_old_replicas_still_running() -> None:
    cond = status.deployment_condition(deployment(updated=1, total=3, ready=3))
    assert (cond.status, cond.reason) == ("False", "RolloutInProgress")
    assert "1 of 2" in cond.message and "2 old" in cond.message


def test_updated_but_not_ready() -> None:
    cond = status.deployment_condition(deployment(ready=1))
    assert (cond.status, cond.reason) == ("False", "ReplicasNotReady")
    assert "1 of 2 replicas ready" == cond.message


def test_progress_deadline_exceeded_wins_and_keeps_the_controllers_message() -> None:
    progressing = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": 'ReplicaSet "chat-5d8" has timed out progressing.'}
    cond = status.deployment_condition(deployment(ready=0, conditions=[progressing]))
    assert (cond.status, cond.reason) == ("False", "ProgressDeadlineExceeded")
    assert cond.message == progressing["message"]


def test_scaled_to_zero_is_ready() -> None:
    cond = status.deployment_condition(deployment(replicas=0, updated=0, total=0, ready=0))
    assert (cond.status, cond.reason) == ("True", "ScaledToZero")


def test_brand_new_deployment_without_status_is_not_ready() -> None:
    cond = status.deployment_condition({"metadata": {"generation": 1}, "spec": {"replicas": 1}})
    assert cond.status == "False"


# --- autoscaler_condition -----------------------------------------------------------------------------


def hpa(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"minReplicas": 1, "maxReplicas": 4}, "status": {"conditions": conditions}}


def test_missing_hpa() -> None:
    cond = status.autoscaler_condition(None)
    assert (cond.type, cond.status, cond.reason) == ("AutoscalerReady", "False", "HPAMissing")


def test_active_hpa_reports_its_bounds() -> None:
    cond = status.autoscaler_condition(hpa([{"type": "AbleToScale", "status": "True"},
                                          {"type": "ScalingActive", "status": "True"}]))
    assert (cond.status, cond.reason) == ("True", "HPAActive")
    assert "1-4" in cond.message


def test_hpa_that_cannot_scale_is_not_ready_with_its_reason() -> None:
    cond = status.autoscaler_condition(hpa([{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale",
                                           "message": "no such deployment"}]))
    assert (cond.status, cond.reason, cond.message) == ("False", "FailedGetScale", "no such deployment")


def test_hpa_without_metrics_still_enforces_its_bounds() -> None:
    cond = status.autoscaler_condition(hpa([{"type": "AbleToScale", "status": "True"},
                                          {"type": "ScalingActive", "status": "False",
                                           "reason": "FailedGetPodsMetric"}]))
    assert (cond.status, cond.reason) == ("True", "BoundsOnly")
    assert "FailedGetPodsMetric" in cond.message


def test_new_hpa_without_status_is_active() -> None:
    assert status.autoscaler_condition({"spec": {"maxReplicas": 3}}).status == "True"


# --- ready_condition -------------------------------------------------------------------------------

DEP_OK = Cond("DeploymentReady", "True", "ReplicasReady", "2 of 2 replicas ready")
HPA_OK = Cond("AutoscalerReady", "True", "HPAActive", "HPA bounds 1-4")
DEP_BAD = Cond("DeploymentReady", "False", "ReplicasNotReady", "0 of 2 replicas ready")
HPA_BAD = Cond("AutoscalerReady", "False", "HPAMissing", "the HorizontalPodAutoscaler does not exist yet")


def test_ready_when_every_part_is_ready() -> None:
    ready = status.ready_condition([DEP_OK, HPA_OK])
    assert (ready.type, ready.status, ready.reason) == ("Ready", "True", "Ready")
    assert DEP_OK.message in ready.message and HPA_OK.message in ready.message


def test_not_ready_names_the_first_failing_part() -> None:
    ready = status.ready_condition([DEP_OK, HPA_BAD])
    assert (ready.status, ready.reason) == ("False", "HPAMissing")
    assert ready.message.startswith("AutoscalerReady: ")
    assert status.ready_condition([DEP_BAD, HPA_BAD]).reason == "ReplicasNotReady"


def test_an_invalid_spec_overrides_the_parts() -> None:
    error = Cond("Ready", "False", "InvalidSpec", "spec.model.uri: must start with hf://")
    ready = status.ready_condition([DEP_OK, HPA_OK], error)
    assert (ready.status, ready.reason, ready.message) == ("False", "InvalidSpec", error.message)


# --- merge_conditions --------------------------------------------------------------------------------


def test_new_conditions_get_the_current_time_and_generation() -> None:
    merged = status.merge_conditions([], [DEP_OK, Cond("Ready", "True", "Ready", "ok")], 4, T0)
    assert [c["type"] for c in merged] == ["Ready", "DeploymentReady"]
    for cond in merged:
        assert cond["lastTransitionTime"] == T0 and cond["observedGeneration"] == 4


def test_unchanged_status_keeps_its_transition_time_even_if_the_message_changes() -> None:
    first = status.merge_conditions([], [DEP_BAD], 1, T0)
    still_bad = Cond("DeploymentReady", "False", "ReplicasNotReady", "1 of 2 replicas ready")
    second = status.merge_conditions(first, [still_bad], 2, T1)
    (cond,) = second
    assert cond["lastTransitionTime"] == T0
    assert cond["message"] == "1 of 2 replicas ready" and cond["observedGeneration"] == 2


def test_changed_status_gets_a_new_transition_time() -> None:
    first = status.merge_conditions([], [DEP_BAD], 1, T0)
    (cond,) = status.merge_conditions(first, [DEP_OK], 1, T1)
    assert (cond["status"], cond["lastTransitionTime"]) == ("True", T1)


def test_conditions_of_other_loops_are_kept() -> None:
    foreign = [{"type": "MetricsAvailable", "status": "False", "reason": "NoData", "message": "empty result",
                "lastTransitionTime": T0},
               {"type": "BudgetLimited", "status": "True", "reason": "Budget", "message": "",
                "lastTransitionTime": T0}]
    merged = status.merge_conditions(foreign, [DEP_OK, Cond("Ready", "True", "Ready", "ok")], 1, T1)
    by_type = {c["type"]: c for c in merged}
    assert by_type["MetricsAvailable"] == foreign[0]
    assert by_type["BudgetLimited"] == foreign[1]
    assert [c["type"] for c in merged][:2] == ["Ready", "DeploymentReady"]


def test_merge_is_stable_so_a_converged_status_compares_equal() -> None:
    once = status.merge_conditions([], [DEP_OK, HPA_OK, Cond("Ready", "True", "Ready", "ok")], 3, T0)
    twice = status.merge_conditions(once, [DEP_OK, HPA_OK, Cond("Ready", "True", "Ready", "ok")], 3, T1)
    assert once == twice


# --- events and status patch --------------------------------------------------------------------------


def ready_list(status: str, reason: str) -> list[dict[str, Any]]:
    return [{"type": "Ready", "status": status, "reason": reason, "message": ""}]


def test_becoming_ready_emits_a_normal_event_once() -> None:
    ready = Cond("Ready", "True", "Ready", "2 of 2 replicas ready")
    event = status.ready_transition_event(ready_list("False", "ReplicasNotReady"), ready)
    assert event is not None and (event.type, event.reason, event.message) == ("Normal", "Ready", ready.message)
    assert status.ready_transition_event(ready_list("True", "Ready"), ready) is None


@pytest.mark.parametrize("reason", ["InvalidSpec", "GPUClassNotFound", "ProgressDeadlineExceeded"])
def test_a_new_failure_the_user_must_fix_emits_a_warning_once(reason: str) -> None:
    bad = Cond("Ready", "False", reason, "explain")
    event = status.ready_transition_event(ready_list("True", "Ready"), bad)
    assert event is not None and (event.type, event.reason) == ("Warning", reason)
    assert status.ready_transition_event([], bad) is not None
    assert status.ready_transition_event(ready_list("False", reason), bad) is None


def test_waiting_for_replicas_is_not_worth_an_event() -> None:
    assert status.ready_transition_event([], Cond("Ready", "False", "DeploymentMissing", "")) is None


def test_status_patch_is_empty_when_nothing_changed() -> None:
    current = {"observedGeneration": 2, "conditions": [{"type": "Ready"}], "replicas": 1, "cost": {"hourly": "1"}}
    desired = {"observedGeneration": 2, "conditions": [{"type": "Ready"}], "replicas": 1}
    assert status.status_patch(current, desired) == {}


def test_status_patch_carries_only_what_changed() -> None:
    current = {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "url": "http://x"}
    desired = {"observedGeneration": 3, "replicas": 1, "readyReplicas": 0, "url": "http://x"}
    assert status.status_patch(current, desired) == {"observedGeneration": 3, "readyReplicas": 0}
    assert status.status_patch({}, {"replicas": 0}) == {"replicas": 0}


# --- why a service is not ready (issue 17, item 12) -------------------------------------------------


def pod(scheduled: dict[str, Any] | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "chat-1"}
    if deleting:
        meta["deletionTimestamp"] = T0
    conditions = [{"type": "PodScheduled", **scheduled}] if scheduled else []
    return {"metadata": meta, "status": {"conditions": conditions}}


SCHEDULER_SAYS = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available"


def test_unschedulable_pods_carry_the_schedulers_reason() -> None:
    pods = [
        pod({"status": "False", "reason": "Unschedulable", "message": SCHEDULER_SAYS}),
        pod({"status": "True"}),
        pod({"status": "False", "reason": "Unschedulable", "message": "old"}, deleting=True),
    ]
    cond = status.unschedulable_condition(pods)
    assert cond == Cond(
        status.DEPLOYMENT_READY, "False", "Unschedulable", f"1 of 2 pods cannot be scheduled: {SCHEDULER_SAYS}"
    )
    ready = status.ready_condition([cond])
    assert (ready.status, ready.reason) == ("False", "Unschedulable") and SCHEDULER_SAYS in ready.message
    assert status.ready_transition_event([], ready) == status.Event("Warning", "Unschedulable", ready.message)


def test_scheduled_or_unscheduled_yet_pods_say_nothing() -> None:
    assert status.unschedulable_condition([]) is None
    assert status.unschedulable_condition([pod({"status": "True"}), pod(None)]) is None


def test_a_clamp_to_zero_replicas_is_not_ready() -> None:
    msg = "tenant team-a has 0 of 4 GPUs left"
    cond = status.clamp_condition(2, 0, "Quota", msg)
    assert cond == Cond(status.READY, "False", "QuotaLimited", msg)
    zero = Cond(status.DEPLOYMENT_READY, "True", "ScaledToZero", "0 replicas requested")
    ready = status.ready_condition([zero], cond)
    assert (ready.status, ready.reason, ready.message) == ("False", "QuotaLimited", msg)
    assert status.clamp_condition(2, 0, "Budget", "")
    assert status.clamp_condition(2, 1, "Quota", msg) is None  # limited, but it runs
    assert status.clamp_condition(0, 0, None, "") is None  # the user asked for zero


def test_cost_with_a_deleted_gpuclass_is_unknown_not_zero() -> None:
    from pathlib import Path

    import yaml

    from inferop.api import parse_gpuclass, parse_isvc
    from inferop.reconcile.isvc import cost_status

    root = Path(__file__).resolve().parents[2]
    doc = yaml.safe_load((root / "examples" / "llm-vllm.yaml").read_text())
    doc["metadata"]["namespace"] = "a"
    isvc = parse_isvc(doc)
    docs = yaml.safe_load_all((root / "examples" / "gpuclasses.yaml").read_text())
    classes = {c.name: c for c in (parse_gpuclass(d) for d in docs if d)}
    known = cost_status(isvc, classes, 2)
    assert known["hourly"] not in (None, "0.00") and known["unknownReason"] is None
    gone = cost_status(isvc, {}, 2)
    assert gone["hourly"] is None and gone["currency"] is None
    assert 'GPUClass "h100" not found' in gone["unknownReason"]
    # A merge patch with None removes the keys: the printer column is empty, not 0.00.
    assert status.status_patch({"cost": {"hourly": "9.00", "currency": "USD"}}, {"cost": gone}) == {"cost": gone}
