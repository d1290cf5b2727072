"""The activator's data path against real aiohttp servers on localhost (no mock of the proxy): held
requests go to the backend in arrival order once it is ready; none is lost when the backend appears
in the middle of a burst of 500; 503 + Retry-After when maxHeldRequests wait, 504 after
holdTimeoutSeconds; a streamed response's first chunk arrives before the backend finishes; shutdown
while holding drains to a backend or answers 503, never drops; the operator is told at once (and
again while requests wait); unknown services get 421; a backend that refuses connections is retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest

from inferop.activator.hold import Limits
from inferop.activator.proxy import RecordingSignaller, Settings
from inferop.activator.routing import Backend, ServiceKey
from inferop.activator.server import Server
from tests.unit.activator_harness import HOST, KEY, StandIn, start_activator, until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
async def standin() -> AsyncIterator[StandIn]:
    server = await StandIn().start()
    yield server
    server.release.set()
    await server.stop()


@pytest.fixture()
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def call(
    client: aiohttp.ClientSession, server: Server, seq: int | str = 0, path: str = "/v1/echo", host: str = HOST
) -> tuple[int, str, dict[str, str]]:
    async with client.post(f"http://127.0.0.1:{server.port}{path}", data=b'{"prompt": "hi"}',
                           headers={"Host": host, "X-Seq": str(seq)}) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def sample(server: Server, name: str, **labels: str) -> float:
    value = server.activator.metrics.registry.get_sample_value(name, {"namespace": "team-a",
                                                                      "inferenceservice": "chat", **labels})
    return value or 0.0


async def test_held_requests_are_forwarded_in_arrival_order(standin: StandIn, client: aiohttp.ClientSession) -> None:
    signaller = RecordingSignaller()
    server, directory = await start_activator(signaller=signaller)
    gate = lambda: server.activator.gates[KEY]  # noqa: E731
    tasks = []
    for i in range(20):
        tasks.append(asyncio.create_task(call(client, server, i)))
        await until(lambda i=i: KEY in server.activator.gates and gate().held == i + 1, what=f"request {i} held")
    assert standin.seen == []
    # the first held request told the operator at once, before any backend exists
    assert [k for k, _ in signaller.calls] == [KEY]
    assert sample(server, "inferop_activator_activations_total") == 1
    assert sample(server, "inferop_activator_held_requests") == 20
    directory.set_backends(KEY, [standin.backend])
    results = await asyncio.gather(*tasks)
    assert [r[:2] for r in results] == [(200, f"{i}:16") for i in range(20)]
    assert standin.seen == [str(i) for i in range(20)]
    assert sample(server, "inferop_activator_held_requests") == 0
    assert sample(server, "inferop_activator_hold_seconds_count", outcome="forwarded") == 20
    # a ready backend: the next request goes straight through, without holding
    assert (await call(client, server, "direct"))[:2] == (200, "direct:16")
    assert sample(server, "inferop_activator_hold_seconds_count", outcome="forwarded") == 20
    await server.stop(grace=2)


async def test_no_request_lost_when_the_backend_appears_during_a_burst_of_500(
    standin: StandIn, client: aiohttp.ClientSession
) -> None:
    server, directory = await start_activator(Limits(1000, 30.0))
    tasks = [asyncio.create_task(call(client, server, i)) for i in range(500)]
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held >= 200, what="200 held")
    directory.set_backends(KEY, [standin.backend])  # while the rest of the burst still arrives
    results = await asyncio.gather(*tasks)
    assert [r[0] for r in results].count(200) == 500
    assert [r[1] for r in results] == [f"{i}:16" for i in range(500)]  # each got its own answer
    assert sorted(standin.seen, key=int) == [str(i) for i in range(500)]  # the backend saw each once
    assert sample(server, "inferop_activator_requests_total") == 500
    assert server.activator.gates[KEY].held == 0
    await server.stop(grace=2)


async def test_full_queue_answers_503_with_retry_after(standin: StandIn, client: aiohttp.ClientSession) -> None:
    server, directory = await start_activator(Limits(3, 30.0))
    held = [asyncio.create_task(call(client, server, i)) for i in range(3)]
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 3, what="3 held")
    status, text, headers = await call(client, server, "overflow")
    assert status == 503 and headers["Retry-After"] == "5"
    assert "3 requests already wait" in text and "maxHeldRequests" in text
    assert sample(server, "inferop_activator_rejections_total", reason="full") == 1
    directory.set_backends(KEY, [standin.backend])
    assert [r[0] for r in await asyncio.gather(*held)] == [200, 200, 200]
    assert "overflow" not in standin.seen
    await server.stop(grace=2)


async def test_held_bodies_are_bounded_in_bytes_too(standin: StandIn, client: aiohttp.ClientSession) -> None:
    server, directory = await start_activator(Limits(100, 30.0), settings=Settings(max_held_bytes=40))
    held = [asyncio.create_task(call(client, server, i)) for i in range(2)]  # 16 bytes each
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 2)
    status, text, headers = await call(client, server, "third")  # 48 > 40
    assert status == 503 and headers["Retry-After"] == "5" and "bytes of request bodies (at most 40)" in text
    directory.set_backends(KEY, [standin.backend])
    assert [r[0] for r in await asyncio.gather(*held)] == [200, 200]
    assert server.activator.held_bytes == 0
    await server.stop(grace=1.0)


async def test_hold_timeout_answers_504(client: aiohttp.ClientSession) -> None:
    server, _ = await start_activator(Limits(10, 0.3))
    status, text, _ = await call(client, server)
    assert status == 504 and "no ready backend within 0.3s (holdTimeoutSeconds)" in text
    assert sample(server, "inferop_activator_rejections_total", reason="timeout") == 1
    assert sample(server, "inferop_activator_hold_seconds_count", outcome="timeout") == 1
    assert sample(server, "inferop_activator_held_requests") == 0 and server.activator.gates[KEY].held == 0
    await server.stop(grace=2)


@pytest.mark.parametrize("held", [False, True], ids=["ready", "held-then-ready"])
async def test_streaming_response_passes_through_unbuffered(
    standin: StandIn, client: aiohttp.ClientSession, held: bool
) -> None:
    server, directory = await start_activator()
    if not held:
        directory.set_backends(KEY, [standin.backend])
    opening = asyncio.create_task(client.get(f"http://127.0.0.1:{server.port}/v1/stream", headers={"Host": HOST}))
    if held:
        await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 1)
        assert not opening.done()
        directory.set_backends(KEY, [standin.backend])
    async with await opening as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        # the first event arrives while the backend is still waiting to send the last one
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        assert first == b'data: {"token": "first"}\n\n' and not standin.release.is_set()
        standin.release.set()
        assert await resp.content.read() == b"data: [DONE]\n\n"
    await server.stop(grace=2)


@pytest.mark.parametrize("size", [10, 200_000])
async def test_fixed_length_bodies_and_headers_pass_through_intact(
    standin: StandIn, client: aiohttp.ClientSession, size: int
) -> None:
    server, directory = await start_activator()
    directory.set_backends(KEY, [standin.backend])
    url = f"http://127.0.0.1:{server.port}/v1/blob?size={size}"
    async with client.get(url, headers={"Host": HOST}) as resp:
        assert resp.status == 200 and resp.headers["X-Model"] == "m" and resp.headers["Content-Encoding"] == "identity"
        assert resp.content_length == size
        assert await resp.read() == bytes(i % 251 for i in range(size))
    async with client.head(url, headers={"Host": HOST}) as resp:
        assert resp.status == 200 and resp.headers["Content-Length"] == str(size)
    await server.stop(grace=1.0)


async def test_shutdown_while_holding_answers_503_and_drops_none(client: aiohttp.ClientSession) -> None:
    server, _ = await start_activator()
    tasks = [asyncio.create_task(call(client, server, i)) for i in range(5)]
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 5)
    counts = await server.stop(grace=1.0)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [r[0] for r in results] == [503] * 5
    assert all(r[2]["Retry-After"] == "5" for r in results)
    assert counts == {"held": 5, "refused": 5, "unfinished": 0}
    assert sample(server, "inferop_activator_rejections_total", reason="shutdown") == 5
    with pytest.raises(aiohttp.ClientConnectionError):  # it no longer listens
        await call(client, server)


async def test_shutdown_drains_held_requests_to_a_backend_that_becomes_ready(
    standin: StandIn, client: aiohttp.ClientSession
) -> None:
    server, directory = await start_activator()
    tasks = [asyncio.create_task(call(client, server, i)) for i in range(5)]
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 5)
    stopping = asyncio.create_task(server.stop(grace=5.0))
    await until(lambda: server.activator.stopping, what="drain started")
    assert (await client.get(f"http://127.0.0.1:{server.admin_port}/readyz")).status == 503
    directory.set_backends(KEY, [standin.backend])
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [r[:2] for r in results] == [(200, f"{i}:16") for i in range(5)]
    assert (await stopping) == {"held": 5, "refused": 0, "unfinished": 0}


async def test_held_requests_of_a_deleted_service_are_answered_at_once(client: aiohttp.ClientSession) -> None:
    server, directory = await start_activator(Limits(10, 30.0))
    tasks = [asyncio.create_task(call(client, server, i)) for i in range(3)]
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 3)
    directory.remove_service(KEY)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [r[0] for r in results] == [503] * 3 and "was deleted while this request waited" in results[0][1]
    assert sample(server, "inferop_activator_rejections_total", reason="deleted") == 3
    directory.set_service(KEY)  # created again: a fresh gate holds its requests
    task = asyncio.create_task(call(client, server, "again"))
    await until(lambda: KEY in server.activator.gates and server.activator.gates[KEY].held == 1)
    await server.stop(grace=1.0)
    assert (await task)[0] == 503


async def test_operator_is_told_again_while_requests_wait_and_signal_errors_are_retried(
    client: aiohttp.ClientSession,
) -> None:
    class Flaky(RecordingSignaller):
        async def signal(self, key: ServiceKey, when: datetime) -> None:
            await super().signal(key, when)
            if len(self.calls) == 1:
                raise RuntimeError("HTTP 503: apiserver is shutting down")

    signaller = Flaky()
    server, _ = await start_activator(Limits(10, 30.0), signaller, Settings(tick_seconds=0.05, resignal_seconds=0.3))
    task = asyncio.create_task(call(client, server))
    await until(lambda: len(signaller.calls) >= 3, within=5, what="three signals")
    assert sample(server, "inferop_activator_activation_signals_total", result="error") == 1
    assert sample(server, "inferop_activator_activation_signals_total", result="ok") >= 2
    assert sample(server, "inferop_activator_activations_total") == 1  # one episode, several signals
    await server.stop(grace=1.0)
    assert (await task)[0] == 503


async def test_requests_for_unknown_services_get_421_and_the_header_wins(
    standin: StandIn, client: aiohttp.ClientSession
) -> None:
    server, directory = await start_activator()
    directory.set_backends(KEY, [standin.backend])
    status, text, _ = await call(client, server, host="other.team-a.svc.cluster.local")
    assert status == 421 and "no InferenceService team-a/other" in text
    status, text, _ = await call(client, server, host="10.96.0.12:80")
    assert status == 421 and "names no InferenceService" in text
    # a bare name resolves when one known service has it
    assert (await call(client, server, 1, host="chat"))[0] == 200
    async with client.post(f"http://127.0.0.1:{server.port}/v1/echo", data=b"x",
                           headers={"Host": "10.96.0.12", "X-Inferop-Service": "team-a/chat", "X-Seq": "7"}) as resp:
        assert resp.status == 200 and await resp.text() == "7:1"
    await server.stop(grace=1.0)


async def test_a_backend_that_refuses_connections_is_retried_until_one_answers(
    standin: StandIn, client: aiohttp.ClientSession
) -> None:
    server, directory = await start_activator(settings=Settings(connect_retry_seconds=0.05))
    dead = Backend("127.0.0.1", 1)  # nothing listens on port 1
    directory.set_backends(KEY, [dead])
    task = asyncio.create_task(call(client, server, "r"))
    await asyncio.sleep(0.3)
    assert not task.done()  # held again, not failed
    directory.set_backends(KEY, [standin.backend])
    assert (await asyncio.wait_for(task, 5))[:2] == (200, "r:16")
    await server.stop(grace=1.0)


async def test_metrics_and_probes(client: aiohttp.ClientSession) -> None:
    server, directory = await start_activator()
    directory.expect("watch")
    admin = f"http://127.0.0.1:{server.admin_port}"
    async with client.get(f"{admin}/readyz") as resp:
        assert resp.status == 503 and "not listed" in await resp.text()
    directory.mark_synced("watch")
    assert (await client.get(f"{admin}/readyz")).status == 200
    assert (await client.get(f"{admin}/healthz")).status == 200
    await call(client, server, host="nope.nowhere")
    text = await (await client.get(f"{admin}/metrics")).text()
    for name in ("inferop_activator_held_requests", "inferop_activator_hold_seconds",
                 "inferop_activator_activations_total", "inferop_activator_rejections_total",
                 "inferop_activator_requests_total", "inferop_activator_activation_signals_total"):
        assert f"# HELP {name} " in text, name
    assert 'rejections_total{inferenceservice="nope",namespace="nowhere",reason="unknown_service"} 1.0' in text
    await server.stop(grace=1.0)
