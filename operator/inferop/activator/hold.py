"""Holding requests of one service until it has a ready backend, in arrival order. No I/O.

A ``Gate`` per service decides for each request whether it goes straight to a backend or waits
(``admit``), keeps the waiting ones in arrival order, releases them one at a time once a backend is
ready (each release waits until the released request was handed to a connection, so the backend sees
them in arrival order), answers the rest when they time out or the activator stops, and says when the
operator should be told that the service has demand (``signal_due``).

Rules:
- A request waits when the service has no ready backend, and also while earlier requests are still
  waiting or being released (a late request never overtakes a held one).
- At most ``Limits.max_held`` wait; the next one is refused (``Refused.FULL``: HTTP 503 with
  Retry-After), never queued without bound.
- Nothing is dropped: every waiter ends released, timed out (the caller answers 504), or refused with
  a reason (``SHUTDOWN``: the caller answers 503).
"""

from __future__ import annotations

import asyncio
import bisect
import enum
import itertools
from dataclasses import dataclass, field

from inferop.activator.contract import RESIGNAL_SECONDS

#: How long a release waits for the released request to be handed to a connection before it releases
#: the next anyway (a backend that accepts slowly must not stall the queue; order is then best effort).
DISPATCH_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Limits:
    """``spec.autoscaling.scaleToZero.{maxHeldRequests, holdTimeoutSeconds}`` of one service."""

    max_held: int
    hold_timeout: float

    def __post_init__(self) -> None:
        if self.max_held < 1:
            raise ValueError(f"maxHeldRequests must be at least 1, got {self.max_held}")
        if self.hold_timeout <= 0:
            raise ValueError(f"holdTimeoutSeconds must be positive, got {self.hold_timeout}")


class Refused(enum.Enum):
    """Why a request is answered by the activator instead of a backend (the rejections metric's reason)."""

    FULL = "full"  # maxHeldRequests already wait: 503 + Retry-After
    TIMEOUT = "timeout"  # no backend within holdTimeoutSeconds: 504
    SHUTDOWN = "shutdown"  # the activator stops and no backend came in its drain time: 503 + Retry-After
    DELETED = "deleted"  # the InferenceService was deleted while its requests waited: 503


_sequence = itertools.count()


@dataclass(eq=False)
class Waiter:
    """One held request. ``released`` resolves to None (go to a backend) or a ``Refused``."""

    arrived: float
    deadline: float
    seq: int = field(default_factory=lambda: next(_sequence))
    released: asyncio.Future[Refused | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    dispatched: asyncio.Event = field(default_factory=asyncio.Event)

    def mark_dispatched(self) -> None:
        """The forwarder handed the request to a connection (or gave up on it): release the next."""
        self.dispatched.set()


class Gate:
    """The held requests of one service. Call ``set_backends_ready`` when its ready backends change."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._held: list[Waiter] = []  # sorted by seq (arrival order)
        self._ready = False
        self._releasing: asyncio.Task[None] | None = None
        self._closed: Refused | None = None
        self._last_signal: float | None = None

    # --- state ----------------------------------------------------------------------------------

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def ready(self) -> bool:
        return self._ready

    def must_hold(self) -> bool:
        """True when a new request has to wait (no ready backend, or earlier ones still wait)."""
        return not self._ready or bool(self._held) or (self._releasing is not None and not self._releasing.done())

    # --- requests -------------------------------------------------------------------------------

    def admit(self, now: float) -> Waiter | Refused:
        """Hold a request that arrived at ``now`` (monotonic seconds), or refuse it."""
        if self._closed is not None:
            return self._closed
        if len(self._held) >= self.limits.max_held:
            return Refused.FULL
        waiter = Waiter(arrived=now, deadline=now + self.limits.hold_timeout)
        if not self._held:
            self._last_signal = None  # a new episode: its first held request signals at once
        self._held.append(waiter)  # a new seq is the largest: the list stays sorted
        self._kick()
        return waiter

    def requeue(self, waiter: Waiter) -> None:
        """Hold again a released request whose backend could not be reached (connect failed, nothing
        was sent): back in its arrival position, with its original deadline."""
        waiter.released = asyncio.get_running_loop().create_future()
        waiter.dispatched = asyncio.Event()
        if self._closed is not None:
            waiter.released.set_result(self._closed)
            return
        bisect.insort(self._held, waiter, key=lambda w: w.seq)
        self._kick()

    def forget(self, waiter: Waiter) -> bool:
        """Remove a waiter that timed out or whose client went away; False if it was already released."""
        if waiter.released.done():
            return False
        try:
            self._held.remove(waiter)
        except ValueError:
            return False
        waiter.released.cancel()
        return True

    # --- backends -------------------------------------------------------------------------------

    def set_backends_ready(self, ready: bool) -> None:
        self._ready = ready
        self._kick()

    def _kick(self) -> None:
        if self._ready and self._held and (self._releasing is None or self._releasing.done()):
            self._releasing = asyncio.get_running_loop().create_task(self._release_in_order())

    async def _release_in_order(self) -> None:
        while self._ready and self._held:
            waiter = self._held.pop(0)
            if waiter.released.done():
                continue
            waiter.released.set_result(None)
            try:
                await asyncio.wait_for(waiter.dispatched.wait(), DISPATCH_WAIT_SECONDS)
            except TimeoutError:
                pass

    # --- activation signal ----------------------------------------------------------------------

    def signal_due(self, now: float, every: float = RESIGNAL_SECONDS) -> str | None:
        """Whether the operator should be told (again) that this service has demand: ``"first"`` for
        the first held request of an episode (at once), ``"again"`` every ``every`` seconds while
        requests still wait, else None. Call ``signalled`` once told. An episode ends when no request
        waits any more."""
        if not self._held:
            return None
        if self._last_signal is None:
            return "first"
        return "again" if now - self._last_signal >= every else None

    def signalled(self, now: float) -> None:
        self._last_signal = now

    # --- shutdown -------------------------------------------------------------------------------

    def close(self, reason: Refused = Refused.SHUTDOWN) -> int:
        """Refuse every waiting request (and every later one) with ``reason``; returns how many waited."""
        self._closed = reason
        waiting, self._held = self._held, []
        for waiter in waiting:
            if not waiter.released.done():
                waiter.released.set_result(reason)
        return len(waiting)

    async def drained(self) -> None:
        """Wait until no request waits and the release loop is idle."""
        while self._held or (self._releasing is not None and not self._releasing.done()):
            if self._releasing is not None and not self._releasing.done():
                await asyncio.wait({self._releasing}, timeout=0.05)
            else:
                await asyncio.sleep(0.05)
