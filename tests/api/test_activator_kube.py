"""The activator's Kubernetes side against a real HTTP server playing the API server (list, watch
streams, 410 Gone, merge patches): the Watcher fills the Directory from InferenceServices and the
EndpointSlices of their pods Services, follows watch events, relists after 410 and after a dropped
watch, and the AnnotationSignaller sends exactly the contract's merge patch with its field manager."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inferop.activator.discovery import Directory
from inferop.activator.hold import Limits
from inferop.activator.kube import AnnotationSignaller, Api, ApiConfig, Watcher
from inferop.activator.routing import Backend, ServiceKey
from tests.unit.activator_harness import until

pytestmark = pytest.mark.timeout(30)
CHAT = ServiceKey("team-a", "chat")
ISVC_PATH = "/apis/inferop.dev/v1alpha1/inferenceservices"
EPS_PATH = "/apis/discovery.k8s.io/v1/endpointslices"


def isvc(name: str, held: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": {"uri": "hf://x/y"}}
    if held is not None:
        spec["autoscaling"] = {"minReplicas": 0, "scaleToZero": {"maxHeldRequests": held, "holdTimeoutSeconds": 60}}
    return {"metadata": {"namespace": "team-a", "name": name, "resourceVersion": "1"}, "spec": spec}


def eps(ip: str, ready: bool = True, rv: str = "2") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "team-a", "name": "chat-pods-x", "resourceVersion": rv,
                     "labels": {"kubernetes.io/service-name": "chat-pods", "inferop.dev/inferenceservice": "chat"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8000}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}}],
    }


class FakeApiServer:
    def __init__(self) -> None:
        self.lists: dict[str, list[dict[str, Any]]] = {ISVC_PATH: [isvc("chat", 5)], EPS_PATH: []}
        self.events: dict[str, asyncio.Queue[dict[str, Any] | None]] = {ISVC_PATH: asyncio.Queue(),
                                                                      EPS_PATH: asyncio.Queue()}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.patches: list[tuple[str, str, str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query)))
        if request.method == "PATCH":
            self.patches.append((request.path, request.headers["Content-Type"], request.query.get("fieldManager", ""),
                                 json.loads(await request.read())))
            return web.json_response({})
        if request.query.get("watch") != "1":
            return web.json_response({"metadata": {"resourceVersion": "10"}, "items": self.lists[request.path]})
        resp = web.StreamResponse()
        await resp.prepare(request)
        queue = self.events[request.path]
        while True:
            event = await queue.get()
            if event is None:  # end this watch (the server's timeout)
                break
            await resp.write(json.dumps(event).encode() + b"\n")
            if event["type"] == "ERROR":  # the API server ends a watch after an ERROR event
                break
        try:
            await resp.write_eof()
        except ConnectionResetError:  # the watcher was cancelled
            pass
        return resp


@pytest.fixture()
async def fake() -> AsyncIterator[tuple[FakeApiServer, Api]]:
    server = FakeApiServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        yield server, Api(ApiConfig(f"http://127.0.0.1:{port}", False, lambda: "tok"), session)
        for queue in server.events.values():
            for _ in range(4):  # end every watch still open
                queue.put_nowait(None)
    await runner.cleanup()


async def test_watcher_lists_follows_events_and_relists_after_410(fake: tuple[FakeApiServer, Api]) -> None:
    server, api = fake
    directory = Directory(Limits(1000, 300))
    tasks = Watcher(api, directory).tasks()
    try:
        await until(lambda: directory.synced, what="initial lists")
        assert directory.limits(CHAT) == Limits(5, 60.0) and directory.backends(CHAT) == ()
        lists = [r for r in server.requests if "watch" not in r[2]]
        assert {(p, q.get("labelSelector")) for _, p, q in lists} == {(ISVC_PATH, None),
                                                                         (EPS_PATH, "inferop.dev/inferenceservice")}
        server.events[EPS_PATH].put_nowait({"type": "ADDED", "object": eps("10.0.0.1")})
        await until(lambda: directory.backends(CHAT) == (Backend("10.0.0.1", 8000),), what="backend added")
        server.events[EPS_PATH].put_nowait({"type": "MODIFIED", "object": eps("10.0.0.1", ready=False, rv="3")})
        await until(lambda: directory.backends(CHAT) == (), what="backend not ready")
        server.events[ISVC_PATH].put_nowait({"type": "ADDED", "object": isvc("embed")})
        await until(lambda: directory.known(ServiceKey("team-a", "embed")), what="new service")
        assert directory.limits(ServiceKey("team-a", "embed")) == Limits(1000, 300)
        # a watch ended by the server resumes from the last resourceVersion seen
        server.events[EPS_PATH].put_nowait(None)
        await until(lambda: [q.get("resourceVersion") for _, p, q in server.requests
                             if p == EPS_PATH and q.get("watch")][-1:] == ["3"], what="resumed watch")
        # 410 Gone: relist, which now has the pod ready again
        server.lists[EPS_PATH] = [eps("10.0.0.9")]
        server.events[EPS_PATH].put_nowait({"type": "ERROR", "object": {"code": 410, "message": "too old"}})
        await until(lambda: directory.backends(CHAT) == (Backend("10.0.0.9", 8000),), what="relisted")
        server.events[ISVC_PATH].put_nowait({"type": "DELETED", "object": isvc("embed")})
        await until(lambda: not directory.known(ServiceKey("team-a", "embed")), what="deleted service")
        # a 300 KiB event line (an InferenceService with large args) is read whole
        big = isvc("big", 7)
        big["spec"]["runtime"] = {"name": "vllm", "args": ["--x=" + "a" * 1024] * 300}
        server.events[ISVC_PATH].put_nowait({"type": "ADDED", "object": big})
        await until(lambda: directory.known(ServiceKey("team-a", "big")), what="a 300 KiB event")
        assert directory.limits(ServiceKey("team-a", "big")) == Limits(7, 60.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_signaller_sends_the_contract_merge_patch(fake: tuple[FakeApiServer, Api]) -> None:
    server, api = fake
    await AnnotationSignaller(api).signal(CHAT, datetime(2026, 12, 2, 1, 2, 3, 456000, tzinfo=UTC))
    assert server.patches == [(
        "/apis/inferop.dev/v1alpha1/namespaces/team-a/inferenceservices/chat",
        "application/merge-patch+json",
        "inferop-activator",
        {"metadata": {"annotations": {"inferop.dev/activation-requested": "2026-12-02T01:02:03.456Z"}}},
    )]
