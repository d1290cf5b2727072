"""One InferenceService reconcile (``isvc.reconcile`` + ``write_status``) against kmock's HTTP server.

Covers: the first reconcile server-side applies the Deployment, Service and HPA (content type
application/apply-patch+yaml, fieldManager=inferop, force=true, a controller owner reference) before it
writes status; the status goes to the ``/status`` subresource as a JSON merge patch carrying
``observedGeneration`` equal to metadata.generation and only the fields this loop owns; once converged
— children as the API server returns them, with its defaults, and the HPA having scaled the Deployment —
a reconcile issues no PATCH and no DELETE at all; drift of one child re-applies that child only;
switching to fixed replicas deletes our HPA but never someone else's; an invalid spec or a missing
GPUClass touches no child and reports why in status (with a Warning event); a 5xx on apply surfaces as
``Transient`` with no status written.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import kmock as kmocklib
import pytest
import yaml

from inferop.api import GPUClass, parse_gpuclass
from inferop.reconcile import isvc
from inferop.reconcile.kube import Kube, Transient
from tests.api.fakeapi import FakeAPI, status_body

REPO = Path(__file__).resolve().parents[2]
NS = "team-a"
ISVC_URL = f"/apis/inferop.dev/v1alpha1/namespaces/{NS}/inferenceservices/chat"
DEPLOYMENT_URL = f"/apis/apps/v1/namespaces/{NS}/deployments/chat"
SERVICE_URL = f"/api/v1/namespaces/{NS}/services/chat"
HPA_URL = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/chat"
CHILDREN = {DEPLOYMENT_URL, SERVICE_URL, HPA_URL}


@pytest.fixture()
def gpuclasses() -> dict[str, GPUClass]:
    docs = yaml.safe_load_all((REPO / "examples" / "gpuclasses.yaml").read_text())
    return {c.name: c for c in (parse_gpuclass(d) for d in docs if d)}


@pytest.fixture()
def body(fake_api: FakeAPI) -> dict[str, Any]:
    """examples/llm-vllm.yaml as the API server stores it (uid, generation 3), stored in the fake API."""
    doc = yaml.safe_load((REPO / "examples" / "llm-vllm.yaml").read_text())
    doc["metadata"] |= {"namespace": NS, "uid": "isvc-uid-1", "generation": 3, "resourceVersion": "7"}
    return fake_api.put(ISVC_URL, doc)


async def run_reconcile(kube: Kube, body: dict[str, Any], gpuclasses: dict[str, GPUClass]) -> isvc.Result:
    def both() -> isvc.Result:
        result = isvc.reconcile(kube, body, gpuclasses)
        isvc.write_status(kube, body, result.status_patch)
        return result
    return await asyncio.to_thread(both)


def writes(requests: list[kmocklib.Request]) -> list[kmocklib.Request]:
    return [r for r in requests if r.method in ("PATCH", "PUT", "POST", "DELETE")]


def act_as_controllers(fake_api: FakeAPI, hpa_replicas: int = 1) -> None:
    """What the API server and the built-in controllers add to our children once they converge."""
    dep = fake_api.objects[DEPLOYMENT_URL]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container |= {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File"}
    container["resources"]["requests"]["memory"] = str(64 * 2**30)  # normalised quantity, same value
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        container[probe]["httpGet"]["scheme"] = "HTTP"
        container[probe]["successThreshold"] = 1
    dep["spec"] |= {"replicas": hpa_replicas, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
    dep["spec"]["template"]["spec"] |= {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                                        "schedulerName": "default-scheduler"}
    generation = dep["metadata"]["generation"]
    dep["status"] = {"observedGeneration": generation, "replicas": hpa_replicas, "updatedReplicas": hpa_replicas,
                     "readyReplicas": hpa_replicas, "availableReplicas": hpa_replicas}
    svc = fake_api.objects[SERVICE_URL]
    svc["spec"] |= {"clusterIP": "10.96.0.12", "clusterIPs": ["10.96.0.12"], "sessionAffinity": "None",
                    "ipFamilies": ["IPv4"], "internalTrafficPolicy": "Cluster"}
    hpa = fake_api.objects[HPA_URL]
    hpa["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 300}}
    hpa["status"] = {"currentReplicas": hpa_replicas, "desiredReplicas": hpa_replicas, "conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}]}


async def converge(kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI, body: dict[str, Any],
                   gpuclasses: dict[str, GPUClass], hpa_replicas: int = 1) -> dict[str, Any]:
    """Reconcile, let the controllers do their part, reconcile again; return the stored InferenceService."""
    await run_reconcile(kube, body, gpuclasses)
    act_as_controllers(fake_api, hpa_replicas)
    await run_reconcile(kube, copy.deepcopy(fake_api.objects[ISVC_URL]), gpuclasses)
    return copy.deepcopy(fake_api.objects[ISVC_URL])


# --- first reconcile ----------------------------------------------------------------------------------


async def test_first_reconcile_applies_children_then_writes_status(kmock: kmocklib.RawHandler, kube: Kube,
                                                                   fake_api: FakeAPI, body: dict[str, Any],
                                                                   gpuclasses: dict[str, GPUClass]) -> None:
    result = await run_reconcile(kube, body, gpuclasses)
    sent = writes(list(kmock))
    applies, status = sent[:-1], sent[-1]
    assert [r.url.path for r in applies] == [DEPLOYMENT_URL, SERVICE_URL, HPA_URL]
    for request in applies:
        assert request.method == "PATCH"
        assert request.headers["Content-Type"] == "application/apply-patch+yaml"
        assert request.params == {"fieldManager": "inferop", "force": "true"}
        assert request.data["metadata"]["ownerReferences"] == [{
            "apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService", "name": "chat",
            "uid": "isvc-uid-1", "controller": True, "blockOwnerDeletion": True}]
    assert "replicas" not in applies[0].data["spec"]  # the HPA owns replicas
    assert len(result.applied) == 3

    assert status.method == "PATCH" and status.url.path == f"{ISVC_URL}/status"
    assert status.headers["Content-Type"] == "application/merge-patch+json"
    patch = status.data["status"]
    assert patch["observedGeneration"] == 3
    ready = next(c for c in patch["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["observedGeneration"] == 3
    assert patch["url"] == f"http://chat.{NS}.svc.cluster.local"
    assert patch["selector"] == "inferop.dev/inferenceservice=chat"
    assert set(patch) <= {"observedGeneration", "conditions", "replicas", "readyReplicas", "selector", "url",
                          "cost", "autoscaling"}


async def test_status_patch_leaves_fields_of_other_writers_alone(kmock: kmocklib.RawHandler, kube: Kube,
                                                                 fake_api: FakeAPI, body: dict[str, Any],
                                                                 gpuclasses: dict[str, GPUClass]) -> None:
    signals = {"latencyMilliseconds": 800, "gpuUtilizationPercent": 70}  # the cost controller's field
    metrics = {"type": "MetricsAvailable", "status": "True", "reason": "Observed", "message": "",
               "lastTransitionTime": "2026-01-01T00:00:00Z"}
    body["status"] = {"signals": signals, "conditions": [metrics]}
    await run_reconcile(kube, body, gpuclasses)
    stored = fake_api.objects[ISVC_URL]["status"]
    assert stored["signals"] == signals
    assert metrics in stored["conditions"]
    assert stored["observedGeneration"] == 3


# --- steady state ---------------------------------------------------------------------------------------


async def test_converged_service_reconciles_with_reads_only(kmock: kmocklib.RawHandler, kube: Kube,
                                                            fake_api: FakeAPI, body: dict[str, Any],
                                                            gpuclasses: dict[str, GPUClass]) -> None:
    stored = await converge(kmock, kube, fake_api, body, gpuclasses, hpa_replicas=3)
    ready = next(c for c in stored["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and stored["status"]["readyReplicas"] == 3
    before = len(list(kmock))

    result = await run_reconcile(kube, stored, gpuclasses)

    requests = list(kmock)[before:]
    assert requests, "reconcile must at least read the children"
    assert writes(requests) == [], [f"{r.method} {r.url.path}" for r in writes(requests)]
    assert {r.url.path for r in requests} <= CHILDREN
    assert result.status_patch == {} and result.event is None and result.applied == []


async def test_becoming_ready_is_announced_once(kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI,
                                                body: dict[str, Any], gpuclasses: dict[str, GPUClass]) -> None:
    await run_reconcile(kube, body, gpuclasses)
    act_as_controllers(fake_api)
    first = await run_reconcile(kube, copy.deepcopy(fake_api.objects[ISVC_URL]), gpuclasses)
    second = await run_reconcile(kube, copy.deepcopy(fake_api.objects[ISVC_URL]), gpuclasses)
    assert first.event is not None and (first.event.type, first.event.reason) == ("Normal", "Ready")
    assert second.event is None


async def test_drifted_child_is_reapplied_alone(kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI,
                                                body: dict[str, Any], gpuclasses: dict[str, GPUClass]) -> None:
    stored = await converge(kmock, kube, fake_api, body, gpuclasses)
    container = fake_api.objects[DEPLOYMENT_URL]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "vllm/vllm-openai:hotfix"  # kubectl set image by hand
    before = len(list(kmock))

    await run_reconcile(kube, stored, gpuclasses)

    sent = writes(list(kmock)[before:])
    assert [(r.method, r.url.path) for r in sent if r.url.path in CHILDREN] == [("PATCH", DEPLOYMENT_URL)]
    restored = fake_api.objects[DEPLOYMENT_URL]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert restored != "vllm/vllm-openai:hotfix"


async def test_spec_change_is_applied_and_observed(kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI,
                                                   body: dict[str, Any], gpuclasses: dict[str, GPUClass]) -> None:
    stored = await converge(kmock, kube, fake_api, body, gpuclasses)
    stored["spec"]["autoscaling"]["maxReplicas"] = 8
    stored["metadata"]["generation"] = 4
    before = len(list(kmock))

    await run_reconcile(kube, stored, gpuclasses)

    sent = writes(list(kmock)[before:])
    assert [r.url.path for r in sent] == [HPA_URL, f"{ISVC_URL}/status"]
    assert fake_api.objects[HPA_URL]["spec"]["maxReplicas"] == 8
    assert sent[-1].data["status"]["observedGeneration"] == 4


async def test_switching_to_fixed_replicas_deletes_our_hpa(kmock: kmocklib.RawHandler, kube: Kube,
                                                           fake_api: FakeAPI, body: dict[str, Any],
                                                           gpuclasses: dict[str, GPUClass]) -> None:
    stored = await converge(kmock, kube, fake_api, body, gpuclasses)
    del stored["spec"]["autoscaling"]
    stored["spec"]["replicas"] = 2
    before = len(list(kmock))

    await run_reconcile(kube, stored, gpuclasses)

    sent = writes(list(kmock)[before:])
    assert ("DELETE", HPA_URL) in [(r.method, r.url.path) for r in sent]
    assert HPA_URL not in fake_api.objects
    assert fake_api.objects[DEPLOYMENT_URL]["spec"]["replicas"] == 2
    conditions = {c["type"] for c in fake_api.objects[ISVC_URL]["status"]["conditions"]}
    assert "AutoscalerReady" in conditions  # kept from before, but no longer part of Ready


async def test_someone_elses_hpa_is_never_deleted(kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI,
                                                  body: dict[str, Any], gpuclasses: dict[str, GPUClass]) -> None:
    del body["spec"]["autoscaling"]
    body["spec"]["replicas"] = 1
    fake_api.put(HPA_URL, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                           "metadata": {"name": "chat", "namespace": NS, "ownerReferences": [
                               {"uid": "someone-else", "controller": True}]}})
    await run_reconcile(kube, body, gpuclasses)
    assert [r for r in kmock if r.method == "DELETE"] == []
    assert HPA_URL in fake_api.objects


# --- specs that cannot be rendered ----------------------------------------------------------------------


async def test_invalid_spec_touches_no_child_and_says_why(kmock: kmocklib.RawHandler, kube: Kube,
                                                          fake_api: FakeAPI, body: dict[str, Any],
                                                          gpuclasses: dict[str, GPUClass]) -> None:
    stored = await converge(kmock, kube, fake_api, body, gpuclasses)
    stored["spec"]["replicas"] = 2  # together with autoscaling
    stored["metadata"]["generation"] = 5
    before = len(list(kmock))

    result = await run_reconcile(kube, stored, gpuclasses)

    sent = writes(list(kmock)[before:])
    assert [r.url.path for r in sent] == [f"{ISVC_URL}/status"]  # the old version keeps serving
    patch = sent[0].data["status"]
    assert patch["observedGeneration"] == 5
    ready = next(c for c in patch["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "mutually exclusive" in ready["message"]
    assert result.event is not None and (result.event.type, result.event.reason) == ("Warning", "InvalidSpec")


async def test_missing_gpuclass_creates_nothing_and_names_the_class(kmock: kmocklib.RawHandler, kube: Kube,
                                                                    fake_api: FakeAPI, body: dict[str, Any]) -> None:
    result = await run_reconcile(kube, body, {})
    sent = writes(list(kmock))
    assert [r.url.path for r in sent] == [f"{ISVC_URL}/status"]
    ready = next(c for c in sent[0].data["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "GPUClassNotFound")
    assert '"h100"' in ready["message"] and "spec.resources.gpu.class" in ready["message"]
    assert result.event is not None and result.event.type == "Warning"
    assert not CHILDREN & set(fake_api.objects)


# --- faults ---------------------------------------------------------------------------------------------


async def test_server_error_on_apply_is_transient_and_writes_no_status(kmock: kmocklib.RawHandler, kube: Kube,
                                                                       fake_api: FakeAPI, body: dict[str, Any],
                                                                       gpuclasses: dict[str, GPUClass]) -> None:
    kmock[f"patch {SERVICE_URL}"] << 503 << status_body(503, "ServiceUnavailable", "apiserver is shutting down")
    with pytest.raises(Transient):
        await run_reconcile(kube, body, gpuclasses)
    assert not [r for r in kmock if r.url.path.endswith("/status")]
    assert "status" not in fake_api.objects[ISVC_URL]


async def test_child_rejected_by_the_api_server_is_reported_in_status(kmock: kmocklib.RawHandler, kube: Kube,
                                                                     fake_api: FakeAPI, body: dict[str, Any],
                                                                     gpuclasses: dict[str, GPUClass]) -> None:
    message = 'Service "chat" is invalid: metadata.name: Invalid value: "chat": a DNS-1035 label must consist of ...'
    kmock[f"patch {SERVICE_URL}"] << 422 << status_body(422, "Invalid", message)
    await run_reconcile(kube, body, gpuclasses)
    status = fake_api.objects[ISVC_URL].get("status") or {}
    ready = next(c for c in status.get("conditions", []) if c["type"] == "Ready")
    assert ready["status"] == "False" and "DNS-1035" in ready["message"]
    assert status["observedGeneration"] == 3


async def test_conflict_on_apply_is_retried_within_the_reconcile(kmock: kmocklib.RawHandler, kube: Kube,
                                                                 fake_api: FakeAPI, body: dict[str, Any],
                                                                 gpuclasses: dict[str, GPUClass]) -> None:
    kmock[f"patch {DEPLOYMENT_URL}"][:1] << 409 << status_body(409, "Conflict", "the object has been modified")
    result = await run_reconcile(kube, body, gpuclasses)
    assert len(result.applied) == 3 and CHILDREN <= set(fake_api.objects)
    assert fake_api.objects[ISVC_URL]["status"]["observedGeneration"] == 3


async def test_schema_error_answered_with_500_is_reported_not_retried(kmock: kmocklib.RawHandler, kube: Kube,
                                                                      fake_api: FakeAPI, body: dict[str, Any],
                                                                      gpuclasses: dict[str, GPUClass]) -> None:
    """Server-side apply answers 500 for a field outside the schema: not an outage (issue 17, item 5)."""
    message = ("failed to create typed patch object (team-a/chat; apps/v1, Kind=Deployment): "
               ".spec.template.spec.affinity.nodeAffinity.foo: field not declared in schema")
    kmock[f"patch {DEPLOYMENT_URL}"] << 500 << status_body(500, "InternalError", message)
    result = await run_reconcile(kube, body, gpuclasses)  # no Transient: the handler does not back off and retry
    ready = next(c for c in fake_api.objects[ISVC_URL]["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ApplyFailed")
    assert "nodeAffinity.foo: field not declared in schema" in ready["message"]
    assert result.event is not None and (result.event.type, result.event.reason) == ("Warning", "ApplyFailed")


async def test_unschedulable_pods_surface_the_schedulers_reason(kmock: kmocklib.RawHandler, kube: Kube,
                                                                fake_api: FakeAPI, body: dict[str, Any],
                                                                gpuclasses: dict[str, GPUClass]) -> None:
    """Issue 17, item 12a: not "0 of 1 replicas ready" but why."""
    await run_reconcile(kube, body, gpuclasses)
    said = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    labels = fake_api.objects[DEPLOYMENT_URL]["spec"]["template"]["metadata"]["labels"]
    fake_api.put(f"/api/v1/namespaces/{NS}/pods/chat-abc", {
        "metadata": {"name": "chat-abc", "namespace": NS, "labels": labels},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": said}]},
    })
    fake_api.put(f"/api/v1/namespaces/{NS}/pods/other", {  # another app's pod in the namespace
        "metadata": {"name": "other", "namespace": NS, "labels": {"app": "other"}},
        "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                   "message": "not ours"}]},
    })
    dep = fake_api.objects[DEPLOYMENT_URL]
    dep["status"] = {"observedGeneration": dep["metadata"]["generation"], "replicas": 1, "updatedReplicas": 1}
    result = await run_reconcile(kube, copy.deepcopy(fake_api.objects[ISVC_URL]), gpuclasses)
    ready = next(c for c in fake_api.objects[ISVC_URL]["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Unschedulable")
    assert said in ready["message"] and "not ours" not in ready["message"]
    assert result.event is not None and result.event.reason == "Unschedulable"


async def test_a_given_allowance_is_used_not_computed_again(
    kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI, body: dict[str, Any],
    gpuclasses: dict[str, GPUClass], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cost tick computes the tenant clamp and the price once and passes them on (``allowed``)."""
    from inferop.tenancy.usage import allowance

    allowed = allowance(isvc.parse_isvc(body), gpuclasses, None)

    def again(*_: Any) -> None:
        raise AssertionError("the allowance was computed again")

    monkeypatch.setattr(isvc, "allowance", again)
    result = await asyncio.to_thread(isvc.reconcile, kube, body, gpuclasses, None, None, allowed)
    assert result.status_patch["cost"]["hourly"] == "0.00"  # 0 replicas x the allowance's price
    with pytest.raises(AssertionError, match="computed again"):
        await asyncio.to_thread(isvc.reconcile, kube, body, gpuclasses)
