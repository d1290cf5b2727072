"""Scale to zero in the simulator: inferop's rule and Knative KPA's, around any policy. Pure.

What this module is for: ``inferop simulate`` of a service with ``spec.autoscaling.scaleToZero``
(``sim/compare.py`` wraps ``inferop`` and ``kpa`` in :class:`ZeroPolicy`), and ``bench/zero.py``.

- The engine already holds a request that arrives while no pod is Ready (``simcore``: the pending
  queue, served in arrival order by the first pod that turns Ready), so a request after zero waits the
  cold start and its latency counts against the SLO, like a request the activator holds.
- Waking: the activator signals the operator at once, so the run loop (``sim/run.py``) scales a policy
  at zero to its ``wake_floor`` at the arrival of the first request, not at the next controller tick.
- Going to zero, ``inferop`` (mode ``rate``): the operator's own rule, ``cost.zero.idle_verdict``: the
  Prometheus request rate over the rate window exactly 0 on a usable series for ``idleSeconds``
  (missing or NaN is never idle), counted from the first such observation and from the last wake.
- Going to zero, ``kpa`` (mode ``concurrency``): Knative scales a revision to zero when its stable
  window (60 s) saw no request and ``scale-to-zero-grace-period`` (30 s) passed; its autoscaler reads
  the queue-proxies directly, not Prometheus. Here: no request arrived and none is in flight for
  ``STABLE_WINDOW + GRACE_SECONDS``. Knative's activator also wakes at the first request.
- Above zero the inner policy decides (at least ``wake_floor`` replicas).

Must not: read the clock, or do I/O.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from inferop.cost import zero as rules
from inferop.cost.signals import Observation, ObservationStatus
from inferop.sim.kpa import STABLE_WINDOW
from inferop.sim.run import Context, Policy

#: Knative's ``scale-to-zero-grace-period`` default (config-autoscaler).
GRACE_SECONDS = 30.0
#: Knative's effective idle time before zero: the stable window with no request, then the grace period.
KPA_IDLE_SECONDS = STABLE_WINDOW + GRACE_SECONDS


@dataclass
class ZeroPolicy:
    inner: Policy
    idle_seconds: float
    #: "rate" (inferop: the Prometheus request rate) or "concurrency" (Knative: the queue-proxies).
    mode: str = "rate"
    #: Replicas on wake (the activator's first request), and the fewest above zero.
    wake_floor: int = 1
    _idle_since: float | None = None
    _woke_at: float = 0.0
    zeros: int = 0
    wakes: int = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def period(self) -> float:
        return self.inner.period

    @property
    def target(self) -> float | None:
        return self.inner.target

    def setup(self, ctx: Context) -> None:
        self.inner.setup(ctx)
        self._idle_since, self._woke_at, self.zeros, self.wakes = None, 0.0, 0, 0

    def woke(self, now: float) -> None:
        """The run loop scaled the policy from zero at ``now`` (a request arrived)."""
        self._woke_at, self._idle_since = now, None
        self.wakes += 1

    def tick(self, ctx: Context, now: float) -> int | None:
        if ctx.cluster.replicas == 0:
            return None  # at zero: only a request wakes it (the run loop)
        if self._idle(ctx, now):
            self.zeros += 1
            self._idle_since = None
            return 0
        desired = self.inner.tick(ctx, now)
        return None if desired is None else max(self.wake_floor, desired)

    def _idle(self, ctx: Context, now: float) -> bool:
        if self.mode == "concurrency":
            arrival = ctx.cluster.requests.arrival
            last = arrival[bisect.bisect_right(arrival, now) - 1] if arrival and arrival[0] <= now else 0.0
            ctx.cluster.advance_all(now)
            busy = any(p.engine.held for p in ctx.cluster.ready)
            return not busy and now - max(last, self._woke_at) >= self.idle_seconds
        rate = ctx.prom.request_rate(now, ctx.config.rate_window)
        if rate is None:
            observed = Observation.missing(ObservationStatus.EMPTY, "no series")
        elif math.isnan(rate):
            observed = Observation(ObservationStatus.NAN, series=1)
        else:
            observed = Observation.ok(rate, 0.0, "sum")
        if observed.usable and observed.value == 0:
            if self._idle_since is None:
                self._idle_since = now
        else:
            self._idle_since = None
        since = None if self._idle_since is None else max(self._idle_since, self._woke_at)
        return rules.idle_verdict(observed, since, now, self.idle_seconds).idle
