"""The service model: replicas with continuous batching, pods with a cold start, a round-robin Service.

What this module is for: given requests routed to a set of pods, compute when each request gets its
first token and finishes, how busy each GPU is, and how many GPU-seconds every pod costs. Every policy
(ours, the baselines, the oracle) runs on this one model.

One replica (a vLLM engine) is modelled as continuous batching with processor sharing:

- A request waits in the engine's queue (``vllm:num_requests_waiting``) until a batch slot is free
  (at most ``maxNumSeqs`` running) and its whole context (input + output tokens) fits in the KV cache.
- Its prompt is then processed (prefill) at ``prefill.perTokenMilliseconds`` per prompt token. Prefill
  runs inside the decode iterations (chunked prefill), so it delays every running sequence by the
  same time: the model stops the decode clock for the prefill time, prompts in FIFO order. The end
  of its prefill is the request's first token (TTFT).
- Then it decodes one token per iteration. All running sequences advance together; one iteration
  takes ``base + perSequence x running + perContextToken x context`` (weights read once per
  iteration, plus each sequence's matmul work and KV-cache read; a sequence's context is counted
  as its input plus half its output, its average over the decode). The request finishes after
  ``output_tokens`` iterations; end-to-end latency = queueing + prefill (including the prefills of
  others) + decode.

The model is event-driven and exact for these rules: between two events (an admission, a prefill
end, a completion) the iteration time is constant, so completion times are computed, not stepped.

Pods: a new pod costs GPU time from its start and serves only after ``coldStartSeconds``. The Service
routes each request round-robin over the Ready pods that are not terminating (kube-proxy in IPVS
round-robin mode; the vLLM production-stack router's default). A pod removed by a scale-down stops
receiving requests, finishes everything it holds (its queue included) and stops; it is charged until
then. Pods still starting are removed first, then the newest Ready pods (the ReplicaSet's order).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from inferop.sim.profile import ServiceProfile

#: vLLM's ``vllm:e2e_request_latency_seconds`` buckets (vllm/v1/metrics/loggers.py), +Inf implied.
E2E_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
#: vLLM's ``vllm:time_to_first_token_seconds`` buckets (same file), +Inf implied.
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip


@dataclass
class Requests:
    """The requests of one run (parallel lists indexed by request id) and their outcomes."""

    arrival: list[float]
    input_tokens: list[int]
    output_tokens: list[int]
    ttft: list[float] = field(default_factory=list)
    e2e: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.arrival)
        if not self.ttft:
            self.ttft = [math.nan] * n
        if not self.e2e:
            self.e2e = [math.nan] * n


class Replica:
    """One engine: waiting queue, prefill FIFO, decoding set (see the module docstring)."""

    __slots__ = (
        "profile", "req", "bounds", "metric_ttft", "t", "v", "stall_until", "prefill", "heap", "n_dec",
        "ctx", "waiting", "kv", "busy", "inflight_area", "buckets", "completed", "empty_at",
        "base", "per_seq", "per_ctx", "per_prefill", "max_seqs", "kv_cap",
    )  # fmt: skip

    def __init__(self, profile: ServiceProfile, req: Requests, bounds: tuple[float, ...], metric_ttft: bool) -> None:
        self.profile = profile
        self.req = req
        self.bounds = bounds
        self.metric_ttft = metric_ttft
        self.t = 0.0
        self.v = 0.0  # decode iterations done since the start (the processor-sharing clock)
        self.stall_until = 0.0
        self.prefill: deque[tuple[float, int]] = deque()
        self.heap: list[tuple[float, int]] = []
        self.n_dec = 0
        self.ctx = 0.0
        self.waiting: deque[int] = deque()
        self.kv = 0
        self.busy = 0.0  # GPU busy seconds, cumulative
        self.inflight_area = 0.0  # integral of requests held (running + waiting) over time
        self.buckets = [0] * (len(bounds) + 1)  # non-cumulative counts, last = +Inf
        self.completed = 0
        self.empty_at = 0.0
        it = profile.iteration
        self.base = it.base_milliseconds / 1e3
        self.per_seq = it.per_sequence_milliseconds / 1e3
        self.per_ctx = it.per_context_token_microseconds / 1e6
        self.per_prefill = profile.prefill.per_token_milliseconds / 1e3
        self.max_seqs = profile.batching.max_num_seqs
        self.kv_cap = profile.batching.kv_cache_tokens

    def start_at(self, t: float) -> None:
        self.t = t
        self.empty_at = t

    @property
    def held(self) -> int:
        """Requests in the engine: running (prefill or decode) plus waiting."""
        return self.n_dec + len(self.prefill) + len(self.waiting)

    @property
    def running(self) -> int:
        return self.n_dec + len(self.prefill)

    def _kv_need(self, rid: int) -> int:
        need = self.req.input_tokens[rid] + self.req.output_tokens[rid]
        return need if need < self.kv_cap else self.kv_cap

    def _admit(self) -> None:
        waiting, prefill = self.waiting, self.prefill
        inputs, outputs = self.req.input_tokens, self.req.output_tokens
        cap = self.kv_cap
        while waiting and self.n_dec + len(prefill) < self.max_seqs:
            rid = waiting[0]
            need = inputs[rid] + outputs[rid]
            if need > cap:
                need = cap
            if self.kv + need > cap:
                break
            waiting.popleft()
            self.kv += need
            begin = self.stall_until if self.stall_until > self.t else self.t
            self.stall_until = begin + inputs[rid] * self.per_prefill
            prefill.append((self.stall_until, rid))

    def enqueue(self, rid: int) -> None:
        """A request arrives now (call ``advance(arrival)`` first)."""
        self.waiting.append(rid)
        self._admit()

    def advance(self, until: float) -> None:
        """Run the engine up to time ``until``, recording every completion on the way."""
        if until <= self.t:
            return
        req = self.req
        arrival, inputs, outputs = req.arrival, req.input_tokens, req.output_tokens
        prefill, waiting, heap = self.prefill, self.waiting, self.heap
        base, per_seq, per_ctx = self.base, self.per_seq, self.per_ctx
        t = self.t
        while t < until:
            held = self.n_dec + len(prefill) + len(waiting)
            if prefill:
                ready, rid = prefill[0]
                step_end = ready if ready < until else until
                dt = step_end - t
                self.busy += dt
                self.inflight_area += held * dt
                t = step_end
                if ready > until:
                    break
                prefill.popleft()
                ttft = ready - arrival[rid]
                req.ttft[rid] = ttft
                if self.metric_ttft:
                    self.buckets[bisect.bisect_left(self.bounds, ttft)] += 1
                self.n_dec += 1
                self.ctx += inputs[rid] + outputs[rid] * 0.5
                heapq.heappush(heap, (self.v + outputs[rid], rid))
                continue
            n_dec = self.n_dec
            if n_dec == 0:
                if held:
                    self.inflight_area += held * (until - t)
                t = until
                break
            tau = base + per_seq * n_dec + per_ctx * self.ctx
            v_done, rid = heap[0]
            done = t + (v_done - self.v) * tau
            if done > until:
                dt = until - t
                self.v += dt / tau
                self.busy += dt
                self.inflight_area += held * dt
                t = until
                break
            dt = done - t
            self.busy += dt
            self.inflight_area += held * dt
            t = done
            self.v = v_done
            heapq.heappop(heap)
            self.n_dec = n_dec - 1
            self.ctx -= inputs[rid] + outputs[rid] * 0.5
            if n_dec == 1:
                self.ctx = 0.0  # no float drift across idle periods
            self.kv -= self._kv_need(rid)
            latency = done - arrival[rid]
            req.e2e[rid] = latency
            self.completed += 1
            if not self.metric_ttft:
                self.buckets[bisect.bisect_left(self.bounds, latency)] += 1
            if waiting:
                self.t = t
                self._admit()
            elif n_dec == 1 and not prefill:
                self.empty_at = done
        self.t = t

    def _observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(self.bounds, seconds)] += 1


STARTING, READY, DRAINING, STOPPED = "Starting", "Ready", "Draining", "Stopped"


class Pod:
    __slots__ = ("id", "start", "ready_at", "state", "stop", "drain_at", "engine")

    def __init__(self, pod_id: int, start: float, ready_at: float, engine: Replica) -> None:
        self.id = pod_id
        self.start = start
        self.ready_at = ready_at
        self.state = STARTING
        self.stop: float | None = None
        self.drain_at = 0.0
        self.engine = engine


class Cluster:
    """The pods of one Deployment, the Service in front of them, and what they cost."""

    def __init__(
        self, profile: ServiceProfile, requests: Requests, *, metric: str = "e2e", cold_start: float | None = None
    ) -> None:
        self.profile = profile
        self.requests = requests
        self.metric_ttft = metric == "ttft"
        self.bounds = TTFT_BUCKETS if self.metric_ttft else E2E_BUCKETS
        self.cold_start = profile.cold_start_seconds if cold_start is None else cold_start
        self.pods: list[Pod] = []
        self.ready: list[Pod] = []  # Ready and not terminating: the Service's endpoints
        self.starting: list[Pod] = []
        self.draining: list[Pod] = []
        self.pending: deque[int] = deque()  # requests that arrived while no pod was Ready
        self.rr = 0
        self.scale_events = 0
        #: Scale events before this time (the burn-in) are not counted.
        self.count_events_from = 0.0
        self.retired_area = 0.0  # requests-held integral of pods that have stopped
        self._ready_heap: list[tuple[float, int]] = []

    # -- pods ------------------------------------------------------------------------------------

    def _new_pod(self, now: float, warm: bool) -> Pod:
        engine = Replica(self.profile, self.requests, self.bounds, self.metric_ttft)
        ready_at = now if warm else now + self.cold_start
        pod = Pod(len(self.pods), now, ready_at, engine)
        engine.start_at(ready_at)
        self.pods.append(pod)
        if warm:
            pod.state = READY
            self.ready.append(pod)
        else:
            self.starting.append(pod)
            heapq.heappush(self._ready_heap, (ready_at, pod.id))
        return pod

    def start_warm(self, replicas: int, now: float = 0.0) -> None:
        """Pods that are already Ready at ``now`` (the same initial state for every policy)."""
        for _ in range(replicas):
            self._new_pod(now, warm=True)

    @property
    def replicas(self) -> int:
        """The Deployment's replicas: pods not terminating (Starting + Ready)."""
        return len(self.ready) + len(self.starting)

    @property
    def ready_count(self) -> int:
        return len(self.ready)

    def next_ready_time(self) -> float:
        while self._ready_heap:
            t, pod_id = self._ready_heap[0]
            if self.pods[pod_id].state == STARTING:
                return t
            heapq.heappop(self._ready_heap)
        return math.inf

    def mark_ready(self, now: float) -> None:
        """Make Ready every starting pod whose cold start ends at or before ``now``."""
        while self._ready_heap and self._ready_heap[0][0] <= now:
            _, pod_id = heapq.heappop(self._ready_heap)
            pod = self.pods[pod_id]
            if pod.state != STARTING:
                continue
            pod.state = READY
            self.starting.remove(pod)
            self.ready.append(pod)
        while self.pending and self.ready:
            self.route(self.pending.popleft(), now)

    def scale(self, desired: int, now: float) -> None:
        """Set the Deployment's replicas: start pods, or remove starting then newest Ready pods."""
        current = self.replicas
        if desired == current:
            return
        if now >= self.count_events_from:
            self.scale_events += 1
        if desired > current:
            for _ in range(desired - current):
                self._new_pod(now, warm=False)
            return
        remove = current - desired
        while remove and self.starting:
            pod = self.starting.pop()  # newest first
            pod.state, pod.stop = STOPPED, now
            remove -= 1
        while remove and self.ready:
            pod = self.ready.pop()  # newest first
            pod.engine.advance(now)
            pod.state = DRAINING
            pod.drain_at = now
            self.draining.append(pod)
            remove -= 1
        if self.ready:
            self.rr %= len(self.ready)
        self.reap(now)

    def reap(self, now: float) -> None:
        """Stop draining pods that have finished their last request."""
        if not self.draining:
            return
        keep: list[Pod] = []
        for pod in self.draining:
            pod.engine.advance(now)
            if pod.engine.held == 0:
                pod.state = STOPPED
                pod.stop = max(pod.engine.empty_at, pod.drain_at)
                self.retired_area += pod.engine.inflight_area
            else:
                keep.append(pod)
        self.draining = keep

    # -- traffic ---------------------------------------------------------------------------------

    def route(self, rid: int, now: float) -> None:
        ready = self.ready
        if not ready:
            self.pending.append(rid)
            return
        self.rr += 1
        if self.rr >= len(ready):
            self.rr = 0
        engine = ready[self.rr].engine
        engine.advance(now)
        engine.enqueue(rid)

    def advance_all(self, now: float) -> None:
        for pod in self.ready:
            pod.engine.advance(now)
        for pod in self.draining:
            pod.engine.advance(now)

    def held_area(self) -> float:
        """Integral over time of the requests held by all pods (for concurrency averages)."""
        live = sum(p.engine.inflight_area for p in self.ready) + sum(p.engine.inflight_area for p in self.draining)
        return self.retired_area + live

    def finish(self) -> None:
        """Run every engine until it has served everything it holds."""
        for pod in self.pods:
            if pod.state in (READY, DRAINING):
                pod.engine.advance(math.inf)
                if pod.state == DRAINING:
                    pod.state = STOPPED
                    pod.stop = max(pod.engine.empty_at, pod.drain_at)
        self.draining = []

    # -- cost ------------------------------------------------------------------------------------

    def gpu_seconds(self, end: float, since: float = 0.0) -> float:
        """GPU-seconds charged from each pod's start to its stop, cut to ``[since, end)``.

        ``since`` is the end of the burn-in: a pod alive across it is charged only for its part after it.
        """
        return charged_seconds(((pod.start, pod.stop) for pod in self.pods), since, end) * self.profile.gpus_per_replica


def charged_seconds(pods: Iterable[tuple[float, float | None]], since: float, end: float) -> float:
    """The seconds of the pods' lives ``[start, stop)`` (``stop`` None: still running) inside ``[since, end)``."""
    total = 0.0
    for start, stop in pods:
        hi = end if stop is None else min(stop, end)
        lo = start if start > since else since
        if hi > lo:
            total += hi - lo
    return total
