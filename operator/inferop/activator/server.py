"""Run the activator: the proxy and admin listeners, discovery, signals, and the shutdown sequence. I/O.

Shutdown (SIGTERM, or ``Server.stop``), within ``grace`` seconds:
1. ``/readyz`` fails at once, so the activator's own EndpointSlice marks the pod not ready (the operator
   must only point services at ready activator pods); the proxy keeps serving for ``delay`` seconds while
   kube-proxy everywhere catches up (a connection refused in that window would be a lost request).
2. The proxy stops listening; a request still arriving on an open keep-alive connection gets 503 +
   Retry-After + ``Connection: close``.
3. Held requests go to a backend that becomes ready until ``grace - reserve``; the rest get 503 +
   Retry-After (the client retries and reaches the other replica). None is dropped.
4. Forwarded requests (streams included) get until ``grace`` to finish; then the listeners close.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from inferop.activator.contract import ADMIN_PORT, DEFAULT_HOLD_TIMEOUT_SECONDS, DEFAULT_MAX_HELD_REQUESTS, PROXY_PORT
from inferop.activator.discovery import Directory
from inferop.activator.hold import Limits
from inferop.activator.proxy import Activator, RecordingSignaller, Settings, Signaller

log = logging.getLogger(__name__)


@dataclass
class Options:
    """``inferop activator`` flags."""

    address: str = "0.0.0.0"
    port: int = PROXY_PORT
    admin_port: int = ADMIN_PORT
    namespaces: list[str] = field(default_factory=list)
    max_held_requests: int = DEFAULT_MAX_HELD_REQUESTS
    hold_timeout_seconds: float = DEFAULT_HOLD_TIMEOUT_SECONDS
    #: Whole shutdown budget; keep it below the pod's terminationGracePeriodSeconds.
    shutdown_seconds: float = 25.0
    #: Seconds the proxy keeps serving after SIGTERM before it stops listening.
    shutdown_delay_seconds: float = 3.0
    cluster_domain: str = "cluster.local"
    retry_after_seconds: int = 5
    #: All held request bodies together; beyond it, 503 + Retry-After.
    max_held_megabytes: int = 256
    #: Do not patch InferenceServices (only hold and forward): for trying it without the operator side.
    no_signal: bool = False


def listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


class Server:
    """An Activator on two listeners (proxy, admin)."""

    def __init__(self, activator: Activator) -> None:
        self.activator = activator
        self._proxy = web.AppRunner(activator.proxy_app(), access_log=None, handle_signals=False)
        self._admin = web.AppRunner(activator.admin_app(), access_log=None, handle_signals=False)
        self._proxy_site: web.SockSite | None = None
        self.port = 0
        self.admin_port = 0

    async def start(self, address: str = "127.0.0.1", port: int = 0, admin_port: int = 0) -> None:
        await self.activator.start()
        await self._proxy.setup()
        await self._admin.setup()
        proxy_sock, admin_sock = listen(address, port), listen(address, admin_port)
        self.port, self.admin_port = proxy_sock.getsockname()[1], admin_sock.getsockname()[1]
        self._proxy_site = web.SockSite(self._proxy, proxy_sock)
        await self._proxy_site.start()
        await web.SockSite(self._admin, admin_sock).start()

    async def stop(self, grace: float = 25.0, delay: float = 0.0) -> dict[str, int]:
        t0 = time.monotonic()
        deadline = t0 + grace
        self.activator.terminating = True
        if delay > 0:
            await asyncio.sleep(min(delay, grace / 2))
        if self._proxy_site is not None:
            await self._proxy_site.stop()  # stops listening; open connections stay
        reserve = min(5.0, grace / 4)
        counts = await self.activator.drain(deadline - reserve)
        idle = await self.activator.wait_idle(deadline)
        if not idle:
            log.warning("Stopping: %d request(s) still in flight at the end of the grace period",
                        self.activator.inflight)
        counts["unfinished"] = 0 if idle else self.activator.inflight
        await self._proxy.cleanup()
        await self.activator.close()
        await self._admin.cleanup()
        log.info("Stopped in %.1fs", time.monotonic() - t0)
        return counts


async def serve(options: Options, directory: Directory | None = None, signaller: Signaller | None = None) -> int:
    """Run until SIGTERM/SIGINT, then shut down as the module docstring says."""
    limits = Limits(options.max_held_requests, options.hold_timeout_seconds)
    watch_tasks: list[asyncio.Task[None]] = []
    session: aiohttp.ClientSession | None = None
    if directory is None:
        from inferop.activator.kube import AnnotationSignaller, Api, Watcher, load_api_config

        directory = Directory(limits)
        session = aiohttp.ClientSession()
        api = Api(load_api_config(), session)
        watch_tasks = Watcher(api, directory, options.namespaces).tasks()
        if signaller is None and not options.no_signal:
            signaller = AnnotationSignaller(api)
    settings = Settings(
        cluster_domain=options.cluster_domain,
        retry_after_seconds=options.retry_after_seconds,
        max_held_bytes=options.max_held_megabytes * 1024 * 1024,
    )
    activator = Activator(directory, signaller or RecordingSignaller(), settings)
    server = Server(activator)
    await server.start(options.address, options.port, options.admin_port)
    log.info("Activator listening on %s:%d (proxy) and :%d (/metrics, /healthz, /readyz)",
             options.address, server.port, server.admin_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("Signal received: draining (at most %.0fs)", options.shutdown_seconds)
    await server.stop(options.shutdown_seconds, options.shutdown_delay_seconds)
    for task in watch_tasks:
        task.cancel()
    if session is not None:
        await session.close()
    return 0


def main(options: Options) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(options))
