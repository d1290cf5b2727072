"""The oracle: a clairvoyant allocation, the lower bound the policies are measured against. Pure.

What this module is for: how few GPU-hours the trace needs under the same service model when the
whole trace is known in advance and a replica serves the instant it is paid for (no cold start,
no observation delay). Time is cut into intervals of ``interval`` seconds (60 s by default):

1. Each interval is simulated on its own (its requests on ``n`` fresh Ready replicas, round-robin,
   every request served to completion), for the ``n`` needed.
2. Per interval, ``n`` is the smallest count (at least ``minReplicas``) whose requests meet the SLO
   attainment goal, searched up from the previous interval's count and down when that is already
   enough. When no count up to ``maxReplicas`` meets the goal, it is the smallest count with the best
   attainment found (the search stops after two counts without improvement).
3. Then the whole trace only has to meet the goal: replicas are taken away one at a time from the
   interval that loses the fewest requests within the SLO per GPU-second saved, as long as the whole
   trace still meets the goal.

Intervals without requests get ``minReplicas``. The oracle ignores what a real deployment carries
over from one interval to the next (queues, requests still running): its cost is a lower bound in
spirit, not a proof.

Must not: be tuned per trace.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from inferop.sim.engine import Cluster, Requests
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
    met: dict[int, int] = field(default_factory=dict)
    latency: dict[int, list[float]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.hi - self.lo


class Oracle:
    def __init__(self, trace: Trace, profile: ServiceProfile, config: RunConfig, interval: float = ORACLE_INTERVAL):
        self.trace = trace
        self.profile = profile
        self.config = config
        self.slo = config.slo_ms / 1000
        count = max(1, math.ceil(trace.duration / interval - 1e-9))
        self.intervals: list[_Interval] = []
        for k in range(count):
            start = k * interval
            length = min(interval, trace.duration - start)
            lo, hi = trace.slice(start, start + length if k < count - 1 else math.inf)
            self.intervals.append(_Interval(start, length, lo, hi))

    def met(self, k: int, replicas: int) -> int:
        """Requests of interval ``k`` within the SLO on ``replicas`` fresh replicas."""
        interval = self.intervals[k]
        if replicas in interval.met:
            return interval.met[replicas]
        trace = self.trace
        lo, hi = interval.lo, interval.hi
        requests = Requests(trace.arrival[lo:hi], trace.input_tokens[lo:hi], trace.output_tokens[lo:hi])
        cluster = Cluster(self.profile, requests, metric=self.config.metric, cold_start=0.0)
        cluster.start_warm(replicas, interval.start)
        for rid, t in enumerate(requests.arrival):
            cluster.route(rid, t)
        cluster.finish()
        values = latencies(requests, self.config.metric)
        interval.met[replicas] = sum(1 for v in values if v <= self.slo)
        interval.latency[replicas] = values
        return interval.met[replicas]

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
        total_requests = sum(iv.count for iv in self.intervals)
        need = config.goal * total_requests
        total_met = sum(self.met(k, n) for k, n in enumerate(sizes) if self.intervals[k].count)
        heap: list[tuple[float, int, int]] = []

        def push(k: int) -> None:
            n = sizes[k]
            if n <= config.min_replicas:
                return
            interval = self.intervals[k]
            loss = (self.met(k, n) - self.met(k, n - 1)) if interval.count else 0
            heapq.heappush(heap, (loss / interval.length, k, n))

        for k in range(len(sizes)):
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
        values: list[float] = []
        gpu_seconds = 0.0
        timeline: list[TimelinePoint] = []
        events = 0
        previous = self.config.initial_replicas
        for k, n in enumerate(sizes):
            interval = self.intervals[k]
            if interval.count:
                self.met(k, n)
                values.extend(interval.latency[n])
            gpu_seconds += n * interval.length * self.profile.gpus_per_replica
            if n != previous:
                events += 1
            previous = n
            timeline.append(TimelinePoint(interval.start, n, n, None, gpu_seconds / 3600))
        result = summarize(
            "oracle",
            None,
            values,
            slo_ms=self.config.slo_ms,
            gpu_seconds=gpu_seconds,
            price=self.profile.price,
            scale_events=events,
        )
        result.timeline = timeline
        return result


def oracle(trace: Trace, profile: ServiceProfile, config: RunConfig, interval: float = ORACLE_INTERVAL) -> RunResult:
    return Oracle(trace, profile, config, interval).result()


def first_interval_replicas(
    trace: Trace, profile: ServiceProfile, config: RunConfig, interval: float = ORACLE_INTERVAL
) -> int:
    """The oracle's size for the first interval: the warm start every policy gets."""
    probe = Oracle(trace, profile, config, interval)
    return probe._size(0, config.min_replicas)
