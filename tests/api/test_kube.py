"""The REST layer (``inferop.reconcile.kube.Kube``) against kmock, with injected faults.

Covers: a GET of a missing object is None, not an error; server-side apply is a PATCH of the object's
own URL with content type application/apply-patch+yaml, fieldManager=inferop and force=true; a 409
Conflict is retried at once and succeeds on the next attempt, and after 3 conflicts ``Conflict`` is
raised; 5xx, 429 and an unreachable server become ``Transient`` (not retried in place: the handler backs
off); other 4xx become ``KubeError`` carrying the API server's message; status merge patches; delete of
a missing object; list with a label selector.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import kmock as kmocklib
import pytest
from kubernetes.client import ApiClient, Configuration

from inferop.reconcile.kube import Conflict, Kube, KubeError, NotFound, Transient, path, path_of
from tests.api.fakeapi import FakeAPI, status_body

NS = "team-a"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat", "namespace": NS},
              "spec": {"template": {"spec": {"containers": [{"name": "server", "image": "vllm:1"}]}}}}
DEPLOYMENT_URL = f"/apis/apps/v1/namespaces/{NS}/deployments/chat"
CONFLICT = status_body(409, "Conflict", 'Operation cannot be fulfilled on deployments.apps "chat"')


def patches(kmock: kmocklib.RawHandler) -> list[kmocklib.Request]:
    return [r for r in kmock if r.method == "PATCH"]


def test_paths_for_core_grouped_namespaced_and_cluster_scoped_kinds() -> None:
    assert path("v1", "Service", NS, "chat") == f"/api/v1/namespaces/{NS}/services/chat"
    assert path_of(DEPLOYMENT) == DEPLOYMENT_URL
    assert path("inferop.dev/v1alpha1", "GPUClass", None, "h100") == "/apis/inferop.dev/v1alpha1/gpuclasses/h100"
    assert path("inferop.dev/v1alpha1", "InferenceService", NS, "chat", "status") == (
        f"/apis/inferop.dev/v1alpha1/namespaces/{NS}/inferenceservices/chat/status")


async def test_get_of_a_missing_object_is_none(kube: Kube, fake_api: FakeAPI) -> None:
    assert await asyncio.to_thread(kube.get, DEPLOYMENT_URL) is None
    fake_api.put(DEPLOYMENT_URL, {**DEPLOYMENT, "status": {"replicas": 1}})
    live = await asyncio.to_thread(kube.get, DEPLOYMENT_URL)
    assert live is not None and live["status"] == {"replicas": 1}


async def test_apply_is_a_forced_server_side_apply_as_inferop(kmock: kmocklib.RawHandler, kube: Kube,
                                                              fake_api: FakeAPI) -> None:
    live = await asyncio.to_thread(kube.apply, DEPLOYMENT)
    (request,) = patches(kmock)
    assert request.url.path == DEPLOYMENT_URL
    assert request.headers["Content-Type"] == "application/apply-patch+yaml"
    assert request.params == {"fieldManager": "inferop", "force": "true"}
    assert request.data == DEPLOYMENT
    assert live["metadata"]["uid"] == fake_api.objects[DEPLOYMENT_URL]["metadata"]["uid"]


async def test_apply_retries_a_conflict_and_succeeds(kmock: kmocklib.RawHandler, kube: Kube,
                                                     fake_api: FakeAPI) -> None:
    kmock[f"patch {DEPLOYMENT_URL}"][:1] << 409 << CONFLICT
    live = await asyncio.to_thread(kube.apply, DEPLOYMENT)
    assert live["spec"] == DEPLOYMENT["spec"]
    sent = patches(kmock)
    assert len(sent) == 2 and sent[0].data == sent[1].data == DEPLOYMENT
    assert DEPLOYMENT_URL in fake_api.objects


async def test_apply_gives_up_after_three_conflicts(kmock: kmocklib.RawHandler, kube: Kube,
                                                    fake_api: FakeAPI) -> None:
    kmock[f"patch {DEPLOYMENT_URL}"] << 409 << CONFLICT
    with pytest.raises(Conflict) as info:
        await asyncio.to_thread(kube.apply, DEPLOYMENT)
    assert info.value.status == 409 and "Operation cannot be fulfilled" in info.value.message
    assert len(patches(kmock)) == 3
    assert DEPLOYMENT_URL not in fake_api.objects


async def test_status_merge_patch_retries_conflicts_too(kmock: kmocklib.RawHandler, kube: Kube,
                                                        fake_api: FakeAPI) -> None:
    url = f"/apis/inferop.dev/v1alpha1/namespaces/{NS}/inferenceservices/chat"
    fake_api.put(url, {"metadata": {"name": "chat"}, "status": {"replicas": 1, "url": "http://x"}})
    kmock[f"patch {url}/status"][:2] << 409 << CONFLICT
    await asyncio.to_thread(kube.patch_merge, f"{url}/status", {"status": {"replicas": 2}})
    sent = patches(kmock)
    assert len(sent) == 3
    assert all(r.headers["Content-Type"] == "application/merge-patch+json" for r in sent)
    assert sent[-1].params["fieldManager"] == "inferop" and "force" not in sent[-1].params
    assert fake_api.objects[url]["status"] == {"replicas": 2, "url": "http://x"}


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429])
@pytest.mark.parametrize("method", ["get", "apply", "delete"])
async def test_server_errors_and_throttling_are_transient(kmock: kmocklib.RawHandler, kube: Kube, code: int,
                                                          method: str) -> None:
    kmock[DEPLOYMENT_URL] << code << status_body(code, "InternalError", "etcdserver: request timed out")
    call: dict[str, Any] = {"get": lambda: kube.get(DEPLOYMENT_URL), "apply": lambda: kube.apply(DEPLOYMENT),
                            "delete": lambda: kube.delete(DEPLOYMENT_URL)}
    with pytest.raises(Transient) as info:
        await asyncio.to_thread(call[method])
    assert info.value.status == code
    assert "etcdserver: request timed out" in str(info.value)
    assert len(list(kmock)) == 1  # no retry in place: the handler backs off and tries again later


async def test_unreachable_api_server_is_transient() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kube = Kube(ApiClient(Configuration(host=f"http://127.0.0.1:{port}")), timeout=2)
    with pytest.raises(Transient) as info:
        await asyncio.to_thread(kube.get, DEPLOYMENT_URL)
    assert info.value.status == 0 and "cannot reach the API server" in str(info.value)


@pytest.mark.parametrize(("code", "reason"), [(422, "Invalid"), (403, "Forbidden"), (400, "BadRequest")])
async def test_client_errors_are_not_transient_and_carry_the_servers_message(
    kmock: kmocklib.RawHandler, kube: Kube, code: int, reason: str,
) -> None:
    message = 'Deployment.apps "chat" is invalid: spec.template.spec.containers[0].image: Required value'
    kmock[f"patch {DEPLOYMENT_URL}"] << code << status_body(code, reason, message)
    with pytest.raises(KubeError) as info:
        await asyncio.to_thread(kube.apply, DEPLOYMENT)
    assert not isinstance(info.value, (Transient, Conflict, NotFound))
    assert info.value.status == code and info.value.message == message


async def test_delete_reports_whether_there_was_something_to_delete(kmock: kmocklib.RawHandler, kube: Kube,
                                                                    fake_api: FakeAPI) -> None:
    fake_api.put(DEPLOYMENT_URL, DEPLOYMENT)
    assert await asyncio.to_thread(kube.delete, DEPLOYMENT_URL) is True
    assert await asyncio.to_thread(kube.delete, DEPLOYMENT_URL) is False
    deletes = [r for r in kmock if r.method == "DELETE"]
    assert len(deletes) == 2 and deletes[0].data == {"propagationPolicy": "Background"}


async def test_list_sends_the_label_selector(kmock: kmocklib.RawHandler, kube: Kube) -> None:
    url = f"/apis/apps/v1/namespaces/{NS}/deployments"
    kmock[f"get {url}"] << {"kind": "DeploymentList", "items": [DEPLOYMENT]}
    items = await asyncio.to_thread(kube.list, url, "app.kubernetes.io/managed-by=inferop")
    assert items == [DEPLOYMENT]
    (request,) = list(kmock)
    assert request.params == {"labelSelector": "app.kubernetes.io/managed-by=inferop"}
