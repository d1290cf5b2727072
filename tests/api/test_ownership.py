"""Objects of our children's names that we do not own, against kmock's HTTP server.

Covers: a reconcile that finds a Service (or HPA) of the InferenceService's name without our controller
ownerReference writes no child at all (not even the Deployment) and reports ``Ready=False,
ChildConflict`` naming the object and its controller or field managers, with a Warning event; an
object controlled by an earlier InferenceService of the same name (not yet garbage-collected) is a
conflict too, said so; a reconcile fed by the watch cache (which holds only labelled objects) confirms
with one GET before creating, and only for children it is about to create; ``ensure_objects`` without
``all_or_nothing`` (the Tenant loop) still applies the objects it owns and then raises; objects without
an owner (Namespace labels) are applied without a check; the apply body is UTF-8 JSON with an emoji
as itself, never an escaped surrogate pair.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kmock as kmocklib
import pytest
import yaml

from inferop.api import GPUClass, parse_gpuclass
from inferop.reconcile import isvc
from inferop.reconcile.children import ChildConflict, ensure_objects
from inferop.reconcile.kube import Kube
from tests.api.fakeapi import FakeAPI

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
    doc = yaml.safe_load((REPO / "examples" / "llm-vllm.yaml").read_text())
    doc["metadata"] |= {"namespace": NS, "uid": "isvc-uid-1", "generation": 1, "resourceVersion": "7"}
    return fake_api.put(ISVC_URL, doc)


def users_service(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "chat", "namespace": NS, "uid": "svc-1", "resourceVersion": "3", **meta},
            "spec": {"selector": {"app": "legacy"}, "ports": [{"port": 8080}]}}


class EmptyCache:
    """A watch-fed reader that knows none of the objects (they carry no managed-by label)."""

    def get(self, url: str) -> dict[str, Any] | None:
        return None


def child_writes(kmock: kmocklib.RawHandler) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r in kmock if r.method != "GET" and r.url.path in CHILDREN]


async def reconcile(kube: Kube, body: dict[str, Any], gpuclasses: dict[str, GPUClass],
                    reader: Any = None) -> isvc.Result:
    def both() -> isvc.Result:
        result = isvc.reconcile(kube, body, gpuclasses, reader=reader)
        isvc.write_status(kube, body, result.status_patch)
        return result
    return await asyncio.to_thread(both)


def ready(fake_api: FakeAPI) -> dict[str, Any]:
    return next(c for c in fake_api.objects[ISVC_URL]["status"]["conditions"] if c["type"] == "Ready")


async def test_a_users_service_is_never_written_and_nothing_else_is_created(
    kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI, body: dict[str, Any],
    gpuclasses: dict[str, GPUClass],
) -> None:
    fake_api.put(SERVICE_URL, users_service(managedFields=[
        {"manager": "kubectl-client-side-apply", "operation": "Update"}]))
    result = await reconcile(kube, body, gpuclasses)
    assert child_writes(kmock) == []
    cond = ready(fake_api)
    assert (cond["status"], cond["reason"]) == ("False", "ChildConflict")
    assert f"Service {NS}/chat already exists" in cond["message"]
    assert "managed by kubectl-client-side-apply" in cond["message"]
    assert result.event is not None and (result.event.type, result.event.reason) == ("Warning", "ChildConflict")
    assert fake_api.objects[SERVICE_URL] == users_service(managedFields=[
        {"manager": "kubectl-client-side-apply", "operation": "Update"}])


async def test_the_conflict_names_the_controller_of_the_object(
    kube: Kube, fake_api: FakeAPI, body: dict[str, Any], gpuclasses: dict[str, GPUClass],
) -> None:
    fake_api.put(HPA_URL, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {
        "name": "chat", "namespace": NS, "ownerReferences": [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": "r1", "controller": True,
        }]}})
    await reconcile(kube, body, gpuclasses)
    message = ready(fake_api)["message"]
    assert f"HorizontalPodAutoscaler {NS}/chat" in message and "controlled by Rollout web" in message


async def test_a_child_of_an_earlier_service_of_the_same_name_is_not_adopted(
    kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI, body: dict[str, Any],
    gpuclasses: dict[str, GPUClass],
) -> None:
    fake_api.put(SERVICE_URL, users_service(ownerReferences=[
        {"apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService", "name": "chat", "uid": "old-uid",
         "controller": True}]))
    await reconcile(kube, body, gpuclasses)
    assert child_writes(kmock) == []
    assert "earlier InferenceService chat (uid old-uid)" in ready(fake_api)["message"]


async def test_a_cached_reader_is_confirmed_with_one_get_before_create(
    kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI, body: dict[str, Any],
    gpuclasses: dict[str, GPUClass],
) -> None:
    fake_api.put(SERVICE_URL, users_service())
    await reconcile(kube, body, gpuclasses, reader=EmptyCache())
    assert child_writes(kmock) == []
    assert ready(fake_api)["reason"] == "ChildConflict"
    gets = [r.url.path for r in kmock if r.method == "GET"]
    assert sorted(gets) == sorted(CHILDREN)  # one confirmation each, as all three were "missing"


async def test_a_cached_reader_that_has_our_children_costs_no_get(
    kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI, body: dict[str, Any],
    gpuclasses: dict[str, GPUClass],
) -> None:
    await reconcile(kube, body, gpuclasses)  # creates our children
    before = len(list(kmock))

    class Cache:
        def get(self, url: str) -> dict[str, Any] | None:
            return fake_api.objects.get(url)

    await reconcile(kube, fake_api.objects[ISVC_URL], gpuclasses, reader=Cache())
    # (The pods of a Deployment that is not ready yet are listed for the scheduler's reason: not a child read.)
    assert [r.url.path for r in list(kmock)[before:] if r.method == "GET" and r.url.path in CHILDREN] == []


async def test_without_all_or_nothing_owned_objects_are_still_applied(
    kmock: kmocklib.RawHandler, kube: Kube, fake_api: FakeAPI,
) -> None:
    owner = {"apiVersion": "inferop.dev/v1alpha1", "kind": "Tenant", "name": "t", "uid": "t1", "controller": True}
    quota_url = f"/api/v1/namespaces/{NS}/resourcequotas/inferop-tenant"
    fake_api.put(quota_url, {"apiVersion": "v1", "kind": "ResourceQuota",
                             "metadata": {"name": "inferop-tenant", "namespace": NS}, "spec": {"hard": {"pods": "7"}}})
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {"inferop.dev/tenant": "t"}}},
        {"apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": {"name": "inferop-tenant", "namespace": NS, "ownerReferences": [owner]},
         "spec": {"hard": {"requests.cpu": "4"}}},
        {"apiVersion": "v1", "kind": "LimitRange",
         "metadata": {"name": "inferop-tenant", "namespace": NS, "ownerReferences": [owner]}, "spec": {"limits": []}},
    ]
    with pytest.raises(ChildConflict) as info:
        await asyncio.to_thread(ensure_objects, kube, objects)
    assert f"ResourceQuota {NS}/inferop-tenant already exists and does not belong to Tenant t" in str(info.value)
    assert info.value.applied == [f"Namespace {NS}", f"LimitRange {NS}/inferop-tenant"]
    assert fake_api.objects[quota_url]["spec"] == {"hard": {"pods": "7"}}
    patched = [r.url.path for r in kmock if r.method == "PATCH"]
    assert quota_url not in patched and len(patched) == 2


async def test_the_apply_body_carries_an_emoji_as_utf8(kmock: kmocklib.RawHandler, kube: Kube,
                                                       fake_api: FakeAPI) -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat", "namespace": NS},
           "spec": {"template": {"spec": {"containers": [{"name": "server", "env": [
               {"name": "GREETING", "value": "🚀 ok"}]}]}}}}
    await asyncio.to_thread(kube.apply, obj)
    (request,) = [r for r in kmock if r.method == "PATCH"]
    assert "🚀 ok".encode() in request.body
    assert b"\\ud83d" not in request.body
    assert request.data == obj
