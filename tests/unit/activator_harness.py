"""Real aiohttp servers on localhost for the activator's tests and bench: a model-server stand-in
(``StandIn``) and an activator with an injected Directory (no cluster). Shared by
tests/unit/test_activator_proxy.py and bench/activator.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from inferop.activator.discovery import Directory
from inferop.activator.hold import Limits
from inferop.activator.proxy import Activator, RecordingSignaller, Settings, Signaller
from inferop.activator.routing import Backend, ServiceKey
from inferop.activator.server import Server

KEY = ServiceKey("team-a", "chat")
HOST = "chat.team-a.svc.cluster.local"


@dataclass
class StandIn:
    """A stand-in model server: ``/v1/echo`` answers the request's X-Seq (and records the order it
    saw them), ``/v1/stream`` sends an SSE event, waits for ``release`` and sends the last one."""

    seen: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def echo(self, request: web.Request) -> web.Response:
        seq = request.headers.get("X-Seq", "")
        self.seen.append(seq)
        body = await request.read()
        return web.Response(text=f"{seq}:{len(body)}", headers={"X-Backend-Port": str(self.port)})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(b'data: {"token": "first"}\n\n')
        await self.release.wait()
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def blob(self, request: web.Request) -> web.Response:
        size = int(request.query.get("size", "200000"))
        body = bytes(i % 251 for i in range(size))
        return web.Response(body=body, headers={"Content-Encoding": "identity", "X-Model": "m"})

    async def start(self, port: int = 0) -> StandIn:
        app = web.Application()
        app.router.add_route("*", "/v1/blob", self.blob)
        app.router.add_route("*", "/v1/echo", self.echo)
        app.router.add_get("/v1/stream", self.stream)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(4096)
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def backend(self) -> Backend:
        return Backend("127.0.0.1", self.port)


async def start_activator(
    limits: Limits | None = None,
    signaller: Signaller | None = None,
    settings: Settings | None = None,
    services: tuple[ServiceKey, ...] = (KEY,),
) -> tuple[Server, Directory]:
    directory = Directory(limits or Limits(1000, 30.0))
    for key in services:
        directory.set_service(key)
    server = Server(Activator(directory, signaller or RecordingSignaller(), settings))
    await server.start()
    return server, directory


async def until(condition: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
