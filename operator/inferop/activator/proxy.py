"""The activator's HTTP data path (aiohttp): hold, signal, forward, answer. I/O.

For each request: find its service (``routing.service_for``); when the service has no ready backend,
or earlier requests of it still wait, hold the request in the service's ``Gate`` (and tell the
operator at once through the ``Signaller``); forward it to a ready backend as soon as one exists, in
arrival order, streaming the response through unbuffered (chunked transfer, SSE); answer it
503 + Retry-After when ``maxHeldRequests`` already wait, 504 after ``holdTimeoutSeconds``, 421 when it
names no known service, 502 when the backend fails before answering. A held request is never dropped:
``shutdown`` stops accepting, lets held requests go to a backend until the drain deadline and answers
the rest 503 + Retry-After, then waits for forwarded ones to finish within the grace period.

The admin app serves ``/metrics``, ``/healthz`` (the process runs) and ``/readyz`` (discovery synced
and not stopping).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from inferop.activator.contract import RESIGNAL_SECONDS, SERVICE_HEADER
from inferop.activator.discovery import Directory
from inferop.activator.hold import Gate, Refused, Waiter
from inferop.activator.metrics import Metrics
from inferop.activator.routing import Backend, Picker, RoutingError, ServiceKey, service_for

log = logging.getLogger(__name__)

#: Headers that belong to one hop (RFC 9110 7.6.1) and never pass through a proxy, plus the ones
#: aiohttp computes itself for the next hop.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
    )
)


#: A response of announced length up to this size is read whole and sent in one write; anything
#: else (chunked, SSE, large) is streamed chunk by chunk as it arrives.
SMALL_BODY_BYTES = 64 * 1024


class Signaller(Protocol):
    """Tells the operator that a service has demand (``inferop.activator.kube.AnnotationSignaller``
    patches the InferenceService's activation annotation). Raises on failure; the activator retries."""

    async def signal(self, key: ServiceKey, when: datetime) -> None: ...


class RecordingSignaller:
    """A Signaller that only records (tests, the bench, ``--no-signal``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[ServiceKey, datetime]] = []

    async def signal(self, key: ServiceKey, when: datetime) -> None:
        self.calls.append((key, when))


@dataclass
class Settings:
    cluster_domain: str = "cluster.local"
    #: Retry-After (seconds) on the 503s: full, and stopping.
    retry_after_seconds: int = 5
    #: Largest request body the activator takes (it reads the body before holding the request): 413 above.
    max_body_bytes: int = 64 * 1024 * 1024
    #: All held bodies together, over every service: a request that would exceed it is refused like a
    #: full queue (503 + Retry-After), so that held requests cannot exhaust the pod's memory.
    max_held_bytes: int = 256 * 1024 * 1024
    #: How often the re-signal loop looks at held services.
    tick_seconds: float = 1.0
    resignal_seconds: float = RESIGNAL_SECONDS
    #: Backoff after a backend refused the connection, before the request is held again.
    connect_retry_seconds: float = 0.2
    #: Timeout of connecting to a backend (the response itself has none: a generation takes long).
    connect_timeout_seconds: float = 5.0


class _ConnectFailed(Exception):
    pass


def _response(status: int, message: str, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(status=status, text=message + "\n", headers=headers)


class Activator:
    def __init__(
        self,
        directory: Directory,
        signaller: Signaller,
        settings: Settings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.directory = directory
        self.signaller = signaller
        self.settings = settings or Settings()
        self.metrics = metrics or Metrics()
        self.picker = Picker()
        self.gates: dict[ServiceKey, Gate] = {}
        self.stopping = False  # no new request is taken (503 + Connection: close)
        self.terminating = False  # SIGTERM seen: /readyz fails so that endpoints drop this pod
        self.inflight = 0
        self.held_bytes = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._signalling: dict[ServiceKey, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._traced: aiohttp.ClientSession | None = None
        self._ticker: asyncio.Task[None] | None = None
        directory.subscribe(self._on_directory_change)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(self._on_headers_sent)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
        common: dict[str, Any] = {
            "timeout": aiohttp.ClientTimeout(total=None, sock_connect=self.settings.connect_timeout_seconds),
            "auto_decompress": False,
            "skip_auto_headers": ("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        }
        # One pool of backend connections, two sessions: released held requests are traced (their
        # headers-sent event releases the next one, which keeps arrival order); the direct path is not
        # (tracing costs every request a few signal dispatches).
        self._session = aiohttp.ClientSession(connector=connector, **common)
        self._traced = aiohttp.ClientSession(connector=connector, connector_owner=False, trace_configs=[trace],
                                             **common)
        self._ticker = asyncio.get_running_loop().create_task(self._resignal_loop())
        for key in self.directory.services():
            self._on_directory_change(key)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for task in list(self._signalling.values()):
            task.cancel()
        if self._traced is not None:
            await self._traced.close()
        if self._session is not None:
            await self._session.close()

    def proxy_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes, handler_args={"tcp_keepalive": True})
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def admin_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    @property
    def ready(self) -> bool:
        return self.directory.synced and not (self.stopping or self.terminating)

    async def drain(self, deadline: float) -> dict[str, int]:
        """Stop taking requests and empty the holds: held requests still go to a backend that becomes
        ready before ``deadline`` (monotonic), the rest are answered 503 + Retry-After. Returns how many
        were answered that way. The caller then waits for ``wait_idle``."""
        self.stopping = True
        waited = sum(g.held for g in self.gates.values())
        log.info("Stopping: %d held request(s); draining until a backend takes them or %.1fs pass",
                 waited, max(0.0, deadline - time.monotonic()))
        pending = [asyncio.ensure_future(g.drained()) for g in self.gates.values()]
        if pending:
            _, not_done = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            for task in not_done:
                task.cancel()
        refused = sum(g.close(Refused.SHUTDOWN) for g in self.gates.values())
        if refused:
            log.warning("Stopping: answered %d held request(s) 503 (no ready backend in time)", refused)
        return {"held": waited, "refused": refused}

    async def wait_idle(self, deadline: float) -> bool:
        """Wait until no request is in the activator (held or being forwarded), or ``deadline``."""
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
            return True
        except TimeoutError:
            return False

    # --- admin ----------------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.Response(text="ready\n")
        why = "stopping" if self.stopping or self.terminating else "discovery has not listed services and endpoints yet"
        return web.Response(status=503, text=f"not ready: {why}\n")

    # --- gates and signals ----------------------------------------------------------------------

    def _gate(self, key: ServiceKey) -> Gate:
        gate = self.gates.get(key)
        if gate is None:
            gate = self.gates[key] = Gate(self.directory.limits(key))
            gate.set_backends_ready(bool(self.directory.backends(key)))
        return gate

    def _on_directory_change(self, key: ServiceKey) -> None:
        backends = self.directory.backends(key)
        self.metrics.backends.labels(*_labels(key)).set(len(backends))
        gate = self.gates.get(key)
        if gate is None:
            return
        if not self.directory.known(key):  # the InferenceService is gone: no backend will ever come
            del self.gates[key]
            if gate.close(Refused.DELETED):
                log.warning("InferenceService %s was deleted; answered its held requests 503", key)
            return
        gate.limits = self.directory.limits(key)
        gate.set_backends_ready(bool(backends))

    def _maybe_signal(self, key: ServiceKey, gate: Gate) -> None:
        now = time.monotonic()
        due = gate.signal_due(now, self.settings.resignal_seconds)
        if due is None or (key in self._signalling and not self._signalling[key].done()):
            return
        if due == "first":
            self.metrics.activations.labels(*_labels(key)).inc()
            log.info("Activating %s: holding its first request, telling the operator", key)
        gate.signalled(now)
        self._signalling[key] = asyncio.get_running_loop().create_task(self._signal(key, gate, now))

    async def _signal(self, key: ServiceKey, gate: Gate, now: float) -> None:
        try:
            await self.signaller.signal(key, datetime.now(UTC))
            self.metrics.signals.labels(*_labels(key), "ok").inc()
        except Exception as err:
            self.metrics.signals.labels(*_labels(key), "error").inc()
            log.warning("Cannot tell the operator that %s has demand (retrying in 1s): %s", key, err)
            # retry about a second later instead of a whole re-signal interval
            gate.signalled(now - self.settings.resignal_seconds + 1.0)

    async def _resignal_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_seconds)
            for key, gate in list(self.gates.items()):
                if gate.held:
                    self._maybe_signal(key, gate)

    # --- the data path --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.inflight += 1
        self._idle.clear()
        try:
            return await self._handle(request)
        finally:
            self.inflight -= 1
            if self.inflight == 0:
                self._idle.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.stopping:
            return self._stopping_response(None)
        try:
            key = service_for(
                request.headers.get("Host"),
                request.headers.get(SERVICE_HEADER),
                self.directory.service_keys(),
                self.settings.cluster_domain,
            )
        except RoutingError as err:
            self.metrics.rejections.labels("", "", "unknown_service").inc()
            return _response(421, str(err))
        if not self.directory.known(key):
            self.metrics.rejections.labels(*_labels(key), "unknown_service").inc()
            return _response(421, f"no InferenceService {key} is known to the activator")
        self.metrics.requests.labels(*_labels(key)).inc()
        body = await request.read()
        gate = self._gate(key)
        waiter: Waiter | None = None
        while True:
            if waiter is None and gate.must_hold():
                if self.held_bytes + len(body) > self.settings.max_held_bytes:
                    return self._refuse(key, Refused.FULL, by_bytes=True)
                admitted = gate.admit(time.monotonic())
                if isinstance(admitted, Refused):
                    return self._refuse(key, admitted)
                waiter = admitted
            if waiter is not None:
                self.held_bytes += len(body)
                try:
                    outcome = await self._hold(key, gate, waiter, request)
                finally:
                    self.held_bytes -= len(body)
                if outcome is not None:
                    return outcome
            backend = self.picker.pick(self.directory.backends(key))
            if backend is None:  # the backends went away between the release and now
                if waiter is not None:
                    waiter.mark_dispatched()
                    gate.requeue(waiter)
                continue
            try:
                return await self._forward(request, key, body, backend, waiter)
            except _ConnectFailed as err:
                log.warning("Backend %s of %s refused the connection (%s); holding the request again",
                            backend.base_url, key, err)
                if waiter is not None:
                    waiter.mark_dispatched()
                await asyncio.sleep(self.settings.connect_retry_seconds)
                if waiter is not None:
                    gate.requeue(waiter)
                    continue
                if self.held_bytes + len(body) > self.settings.max_held_bytes:
                    return self._refuse(key, Refused.FULL, by_bytes=True)
                admitted = gate.admit(time.monotonic())  # counts against maxHeldRequests like any held one
                if isinstance(admitted, Refused):
                    return self._refuse(key, admitted)
                waiter = admitted

    async def _hold(
        self, key: ServiceKey, gate: Gate, waiter: Waiter, request: web.Request
    ) -> web.StreamResponse | None:
        """Wait for the waiter's release; None means "go to a backend now", else the answer to send."""
        labels = _labels(key)
        self.metrics.held.labels(*labels).inc()
        self._maybe_signal(key, gate)
        try:
            try:
                remaining = waiter.deadline - time.monotonic()
                result = await asyncio.wait_for(asyncio.shield(waiter.released), max(0.0, remaining))
            except TimeoutError:
                if gate.forget(waiter):
                    self._observe_hold(key, waiter, "timeout")
                    return self._refuse(key, Refused.TIMEOUT)
                result = waiter.released.result()  # released at the very moment it timed out
            except asyncio.CancelledError:
                gate.forget(waiter)
                waiter.mark_dispatched()
                self._observe_hold(key, waiter, "gone")
                raise
        finally:
            self.metrics.held.labels(*labels).dec()
        if result is not None:
            self._observe_hold(key, waiter, result.value)
            return self._refuse(key, result)
        if request.transport is None or request.transport.is_closing():
            waiter.mark_dispatched()
            self._observe_hold(key, waiter, "gone")
            log.info("Client of a held request to %s went away before a backend was ready", key)
            return web.Response(status=499)  # never sent: the connection is gone
        self._observe_hold(key, waiter, "forwarded")
        return None

    def _observe_hold(self, key: ServiceKey, waiter: Waiter, outcome: str) -> None:
        self.metrics.hold_seconds.labels(*_labels(key), outcome).observe(time.monotonic() - waiter.arrived)

    def _refuse(self, key: ServiceKey, why: Refused, by_bytes: bool = False) -> web.Response:
        self.metrics.rejections.labels(*_labels(key), why.value).inc()
        if by_bytes:
            return _response(503, f"{key}: the activator already holds {self.held_bytes} bytes of request bodies"
                             f" (at most {self.settings.max_held_bytes})", self.settings.retry_after_seconds)
        if why is Refused.FULL:
            limit = self.gates[key].limits.max_held if key in self.gates else "?"
            return _response(503, f"{key}: {limit} requests already wait for a ready backend (maxHeldRequests)",
                             self.settings.retry_after_seconds)
        if why is Refused.TIMEOUT:
            timeout = self.gates[key].limits.hold_timeout if key in self.gates else "?"
            return _response(504, f"{key}: no ready backend within {timeout:g}s (holdTimeoutSeconds)"
                             if isinstance(timeout, float) else f"{key}: no ready backend in time")
        if why is Refused.DELETED:
            return _response(503, f"InferenceService {key} was deleted while this request waited")
        return self._stopping_response(key)

    def _stopping_response(self, key: ServiceKey | None) -> web.Response:
        if key is None:
            self.metrics.rejections.labels("", "", Refused.SHUTDOWN.value).inc()
        resp = _response(503, "the activator is stopping; retry", self.settings.retry_after_seconds)
        resp.headers["Connection"] = "close"
        return resp

    async def _on_headers_sent(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        waiter = ctx.trace_request_ctx
        if isinstance(waiter, Waiter):
            waiter.mark_dispatched()

    async def _forward(
        self, request: web.Request, key: ServiceKey, body: bytes, backend: Backend, waiter: Waiter | None
    ) -> web.StreamResponse:
        session = self._session if waiter is None else self._traced
        assert session is not None, "Activator.start() was not awaited"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        peer = request.remote
        if peer:
            prior = request.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        self.picker.started(backend)
        try:
            try:
                upstream = await session.request(
                    request.method,
                    backend.base_url + request.rel_url.raw_path_qs,
                    headers=headers,
                    data=body if body else None,
                    allow_redirects=False,
                    trace_request_ctx=waiter,
                )
            except aiohttp.ClientConnectorError as err:
                raise _ConnectFailed(str(err)) from None
            except (aiohttp.ClientError, TimeoutError) as err:
                log.warning("Backend %s failed before answering a request for %s: %s", backend.base_url, key, err)
                self.metrics.rejections.labels(*_labels(key), "backend_error").inc()
                return _response(502, f"backend {backend.base_url} failed before answering: {err}")
            finally:
                if waiter is not None:
                    waiter.mark_dispatched()
            async with upstream:
                return await self._stream(request, upstream)
        finally:
            self.picker.finished(backend)

    async def _stream(self, request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        length = upstream.content_length
        chunked = "chunked" in upstream.headers.get("Transfer-Encoding", "")
        if length is not None and length <= SMALL_BODY_BYTES and not chunked and request.method != "HEAD":
            # A small body of announced length is no stream: one read, one write.
            try:
                body = await upstream.read()
            except (aiohttp.ClientError, TimeoutError) as err:
                log.warning("Backend broke while sending a %d-byte body: %s", length, err)
                return _response(502, f"backend broke while answering: {err}")
            small = web.Response(status=upstream.status, reason=upstream.reason, body=body)
            for name, value in headers:
                small.headers.add(name, value)
            return small
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in headers:
            response.headers.add(name, value)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as err:
            # Headers are gone: the only honest signal left is to cut the connection mid-body.
            log.warning("Backend stream broke after the response started: %s", err)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response


def _labels(key: ServiceKey) -> tuple[str, str]:
    return key.namespace, key.name

