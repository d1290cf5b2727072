"""The Knative Pod Autoscaler (KPA) decider, with Knative's defaults. Pure.

What this module is for: the ``kpa`` baseline. Written from knative/serving
``pkg/autoscaler/scaling/autoscaler.go`` (``Scale``) and the ``config-autoscaler`` defaults:

- Metric: concurrency, the requests in flight in each pod as queue-proxy counts them (in the server,
  running or waiting), summed over the revision's pods and averaged over the stable window (60 s)
  and the panic window (10% of it, 6 s). The averages come from the caller (:class:`ConcurrencyWindow`).
- Target per pod: ``target x utilization`` (the ``autoscaling.knative.dev/target`` annotation, default
  100, times ``container-concurrency-target-percentage`` 70%).
- Every tick (2 s): ``dspc = ceil(stable / targetValue)``, ``dppc = ceil(panic / targetValue)``, both
  kept within ``[floor(ready / maxScaleDownRate), ceil(maxScaleUpRate x ready)]`` (rates 2.0 and
  1000.0), ``ready`` at least 1.
- Panic mode starts when ``dppc / ready >= 2.0`` (panic threshold 200%), is extended while that holds,
  and ends a stable window after it last held. In panic mode the desired count is the larger of the
  two and never decreases (``maxPanicPods``). A new autoscaler with more than one ready pod starts in
  panic mode (so a restart does not scale down before it has data).
- The result is clamped to min/max scale by the caller (scale-to-zero is off: ``minScale >= 1``).

Not modelled: the activator (only in the request path when burst capacity is short; it buffers
requests but does not change the pod count), scale-down delay (default 0) and scale-to-zero.

Must not: read the cluster itself.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

TICK_SECONDS = 2.0
STABLE_WINDOW = 60.0
PANIC_WINDOW_PERCENT = 10.0
PANIC_THRESHOLD = 2.0
TARGET_UTILIZATION = 0.7
MAX_SCALE_UP_RATE = 1000.0
MAX_SCALE_DOWN_RATE = 2.0


@dataclass
class KPA:
    target: float  # the autoscaling.knative.dev/target annotation (concurrency per pod)
    utilization: float = TARGET_UTILIZATION
    stable_window: float = STABLE_WINDOW
    panic_threshold: float = PANIC_THRESHOLD
    max_scale_up_rate: float = MAX_SCALE_UP_RATE
    max_scale_down_rate: float = MAX_SCALE_DOWN_RATE
    panic_time: float | None = None
    max_panic_pods: int = 0

    @property
    def panic_window(self) -> float:
        return self.stable_window * PANIC_WINDOW_PERCENT / 100

    @property
    def target_value(self) -> float:
        return self.target * self.utilization

    def start(self, now: float, ready: int) -> None:
        """A new autoscaler: in panic mode when more than one pod is ready (Knative's newAutoscaler)."""
        if ready > 1:
            self.panic_time = now
        self.max_panic_pods = ready

    def scale(self, now: float, stable: float, panic: float, ready: int) -> int:
        """The desired pod count for observed stable/panic total concurrency and ``ready`` pods."""
        ready_count = max(1.0, float(ready))
        max_up = math.ceil(self.max_scale_up_rate * ready_count)
        max_down = math.floor(ready_count / self.max_scale_down_rate)
        dspc = math.ceil(stable / self.target_value - 1e-9)
        dppc = math.ceil(panic / self.target_value - 1e-9)
        desired_stable = int(min(max(dspc, max_down), max_up))
        desired_panic = int(min(max(dppc, max_down), max_up))
        over = dppc / ready_count >= self.panic_threshold
        if over:
            self.panic_time = now
        elif self.panic_time is not None and self.panic_time + self.stable_window < now:
            self.panic_time = None
            self.max_panic_pods = 0
        desired = desired_stable
        if self.panic_time is not None:
            desired = max(desired, desired_panic)
            if desired > self.max_panic_pods:
                self.max_panic_pods = desired
            desired = self.max_panic_pods
        return desired


@dataclass
class ConcurrencyWindow:
    """Average total concurrency over trailing windows, from the running integral of requests held.

    queue-proxy reports each pod's average concurrency every second; the autoscaler averages those
    reports over the window. With the integral ``A(t)`` of (requests held, summed over pods) the
    average over ``(t - w, t]`` is ``(A(t) - A(t - w)) / w``; before ``w`` seconds of data the
    average is over the data there is.
    """

    samples: deque[tuple[float, float]] = field(default_factory=deque)
    keep: float = STABLE_WINDOW

    def record(self, t: float, area: float) -> None:
        self.samples.append((t, area))
        while len(self.samples) > 2 and self.samples[1][0] <= t - self.keep:
            self.samples.popleft()

    def average(self, t: float, window: float) -> float:
        if len(self.samples) < 2:
            return 0.0
        t_now, a_now = self.samples[-1]
        start_t, start_a = self.samples[0]
        for ts, area in reversed(self.samples):
            if ts <= t - window:
                start_t, start_a = ts, area
                break
        span = t_now - start_t
        return (a_now - start_a) / span if span > 0 else 0.0
