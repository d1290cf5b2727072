"""The oracle: a clairvoyant allocation that pays the cold start, the bound policies are measured against. Pure.

What this module is for: how few GPU-hours the trace needs under the same service model when the
whole trace is known in advance. The oracle sees the future, so it never reacts late, but it obeys the
same pods as every policy: a replica serves only ``coldStartSeconds`` after its start and is charged
from its start, so the oracle starts (pre-warms) each replica it adds that long before it serves.
Time is cut into intervals of ``interval`` seconds (60 s by default; the burn-in's end is a boundary):

1. Each interval is simulated on its own (its requests on ``n`` fresh Ready replicas, round-robin,
   every request served to completion), for the ``n`` needed.
2. Per interval, ``n`` is the smallest count (at least ``minReplicas``) whose requests meet the SLO
   attainment goal, searched up from the previous interval's count and down when that is already
   enough. When no count up to ``maxReplicas`` meets the goal, it is the smallest count with the best
   attainment found (the search stops after two counts without improvement).
3. Then only the scored period has to meet the goal: replicas are taken away one at a time from the
   scored interval that loses the fewest requests within the SLO per GPU-second saved, as long as the
   scored period still meets the goal.
4. The plan becomes pods (:func:`prewarmed_pods`): the k-th replica is one pod per run of intervals
   that need at least k replicas, started ``coldStartSeconds`` before the run (the replicas Ready at
   time 0, the start every policy shares, need no start); a gap between two runs no longer than the
   cold start is bridged by keeping the pod (that costs less than a new one). Pods are charged like
   every policy's: their time inside the scored period.

Intervals without requests get ``minReplicas``. The oracle ignores what a real deployment carries
over from one interval to the next (queues, requests still running): its cost is a lower bound in
spirit, not a proof.

Must not: be tuned per trace.
"""

from __future__ import annotations

import heapq
import math
from array import array
from dataclasses import dataclass, field
from typing import Any

from inferop.sim.engine import Cluster, Requests, charged_seconds, workload_of
from inferop.sim.profile import ServiceProfile
from inferop.sim.run import RunConfig, RunResult, TimelinePoint, latencies, summarize
from inferop.sim.trace import Trace

ORACLE_INTERVAL = 60.0
_NO_GAIN_STEPS = 2


@dataclass
class _Interval:
    start: float
    length: float
    lo: int  # request index range [lo, hi)
    hi: int
    scored: bool = True
    met: dict[int, int] = field(default_factory=dict)
    workload: Any = None  # the interval's requests as the compiled event loop holds them

    @property
    def count(self) -> int:
        return self.hi - self.lo


class Oracle:
    def __init__(self, trace: Trace, profile: ServiceProfile, config: RunConfig, interval: float = ORACLE_INTERVAL):
        self.trace = trace
        self.profile = profile
        self.config = config
        self.slo = config.slo_ms / 1000
        warmup = min(config.warmup, trace.duration)
        bounds = _grid(0.0, warmup, interval) + _grid(warmup, trace.duration, interval)
        self.intervals: list[_Interval] = []
        for k, (start, end) in enumerate(bounds):
            lo, hi = trace.slice(start, end if k < len(bounds) - 1 else math.inf)
            self.intervals.append(_Interval(start, end - start, lo, hi, scored=start >= warmup))

    def met(self, k: int, replicas: int) -> int:
        """Requests of interval ``k`` within the SLO on ``replicas`` fresh replicas."""
        interval = self.intervals[k]
        if replicas not in interval.met:
            interval.met[replicas] = self._simulate(k, replicas).latency_stats(0, self.slo)[1]
        return interval.met[replicas]

    def _simulate(self, k: int, replicas: int) -> Cluster:
        """Interval ``k``'s requests served to completion on ``replicas`` fresh Ready replicas."""
        interval = self.intervals[k]
        trace = self.trace
        lo, hi = interval.lo, interval.hi
        if interval.workload is None:  # a view of the trace's requests, for every size tried
            interval.workload = workload_of(trace).slice(lo, hi)
        requests = Requests(
            trace.arrival[lo:hi], trace.input_tokens[lo:hi], trace.output_tokens[lo:hi], interval.workload
        )
        cluster = Cluster(self.profile, requests, metric=self.config.metric, cold_start=0.0)
        cluster.start_warm(replicas, interval.start)
        cluster.route_until(0, math.inf)
        cluster.finish()
        return cluster

    def _size(self, k: int, start: int) -> int:
        config = self.config
        interval = self.intervals[k]
        if interval.count == 0:
            return config.min_replicas
        need = config.goal * interval.count
        n = config.clamp(start)
        if self.met(k, n) >= need - 1e-9:
            while n > config.min_replicas and self.met(k, n - 1) >= need - 1e-9:
                n -= 1
            return n
        best_n, best = n, self.met(k, n)
        stale = 0
        while n < config.max_replicas and stale < _NO_GAIN_STEPS:
            n += 1
            value = self.met(k, n)
            if value >= need - 1e-9:
                return n
            if value > best:
                best_n, best, stale = n, value, 0
            else:
                stale += 1
        return best_n

    def plan(self) -> list[int]:
        """Replicas per interval (steps 2 and 3 of the module docstring)."""
        config = self.config
        sizes: list[int] = []
        previous = config.initial_replicas
        for k in range(len(self.intervals)):
            previous = self._size(k, previous)
            sizes.append(previous)
        scored = [k for k, iv in enumerate(self.intervals) if iv.scored]
        total_requests = sum(self.intervals[k].count for k in scored)
        need = config.goal * total_requests
        total_met = sum(self.met(k, sizes[k]) for k in scored if self.intervals[k].count)
        heap: list[tuple[float, int, int]] = []

        def push(k: int) -> None:
            n = sizes[k]
            if n <= config.min_replicas:
                return
            interval = self.intervals[k]
            loss = (self.met(k, n) - self.met(k, n - 1)) if interval.count else 0
            heapq.heappush(heap, (loss / interval.length, k, n))

        for k in scored:
            push(k)
        while heap:
            _, k, n = heapq.heappop(heap)
            if sizes[k] != n:
                continue
            interval = self.intervals[k]
            loss = (self.met(k, n) - self.met(k, n - 1)) if interval.count else 0
            if total_met - loss < need - 1e-9:
                continue  # this interval cannot give up a replica; others with larger losses cannot either
            sizes[k] = n - 1
            total_met -= loss
            push(k)
        return sizes

    def result(self) -> RunResult:
        sizes = self.plan()
        config = self.config
        values = array("d")  # the scored requests' latencies: tens of millions for a week
        timeline: list[TimelinePoint] = []
        events = 0
        previous = config.initial_replicas
        starts = [iv.start for iv in self.intervals]
        ends = [iv.start + iv.length for iv in self.intervals]
        pods = prewarmed_pods(starts, ends, sizes, config.initial_replicas, self.profile.cold_start_seconds)
        warmup = min(config.warmup, self.trace.duration)
        gpus = self.profile.gpus_per_replica
        for k, n in enumerate(sizes):
            interval = self.intervals[k]
            if interval.scored and interval.count:
                values.extend(latencies(self._simulate(k, n).requests, config.metric))
            if n != previous and interval.scored:
                events += 1
            previous = n
            spent = charged_seconds(pods, warmup, interval.start + interval.length) * gpus
            timeline.append(TimelinePoint(interval.start, n, n, None, spent / 3600))
        result = summarize(
            "oracle",
            None,
            values,
            slo_ms=config.slo_ms,
            gpu_seconds=charged_seconds(pods, warmup, self.trace.duration) * gpus,
            price=self.profile.price,
            scale_events=events,
        )
        result.timeline = timeline
        return result


def _grid(start: float, end: float, interval: float) -> list[tuple[float, float]]:
    """``[start, end)`` cut into intervals of ``interval`` seconds (the last one may be shorter)."""
    count = math.ceil((end - start) / interval - 1e-9) if end > start else 0
    return [(start + k * interval, min(end, start + (k + 1) * interval)) for k in range(count)]


def prewarmed_pods(
    starts: list[float], ends: list[float], sizes: list[int], initial: int, cold_start: float
) -> list[tuple[float, float]]:
    """The pods ``(start, stop)`` that serve ``sizes[k]`` replicas in ``[starts[k], ends[k])``.

    The k-th replica is a pod per run of intervals needing at least k, started ``cold_start`` seconds
    before the run; the first ``initial`` replicas are Ready at time 0; a gap between two runs no longer
    than ``cold_start`` keeps the pod (step 4 of the module docstring).
    """
    pods: list[tuple[float, float]] = []
    for level in range(1, max([initial, *sizes], default=0) + 1):
        alive: tuple[float, float] | None = (0.0, 0.0) if level <= initial else None
        for start, end, n in zip(starts, ends, sizes, strict=True):
            if n < level:
                continue
            if alive is not None and start - alive[1] <= cold_start:
                alive = (alive[0], end)
                continue
            if alive is not None:
                pods.append(alive)
            alive = (start - cold_start, end)
        if alive is not None:
            pods.append(alive)
    return [(a, b) for a, b in pods if b > a]


def oracle(trace: Trace, profile: ServiceProfile, config: RunConfig, interval: float = ORACLE_INTERVAL) -> RunResult:
    return Oracle(trace, profile, config, interval).result()


def first_interval_replicas(
    trace: Trace, profile: ServiceProfile, config: RunConfig, interval: float = ORACLE_INTERVAL
) -> int:
    """The oracle's size for the first interval: the warm start every policy gets."""
    probe = Oracle(trace, profile, config, interval)
    return probe._size(0, config.min_replicas)
