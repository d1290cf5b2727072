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

The model runs compiled: ``simcore/src/lib.rs`` (Rust, PyO3; ``make install`` builds it into the
virtualenv as ``inferop_simcore``) is its one implementation, this docstring its specification. This
module wraps it: :class:`Cluster` is what the rest of the simulator (the run loop, Prometheus, the
policies, the oracle) calls, and :class:`Pod` a live view of one pod.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


class Requests:
    """The requests of one run (parallel lists indexed by request id) and their outcomes.

    ``ttft``/``e2e`` (seconds; NaN until served) are read from the cluster that served the requests,
    once :meth:`Cluster.finish` has run, and copied into lists only when asked for.
    """

    def __init__(
        self,
        arrival: Sequence[float],
        input_tokens: Sequence[int],
        output_tokens: Sequence[int],
        workload: Any = None,
    ) -> None:
        self.arrival = arrival
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self._workload = workload
        self._core: Any = None
        self._ttft: list[float] | None = None
        self._e2e: list[float] | None = None

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def ttft(self) -> list[float]:
        if self._ttft is None:
            self._ttft = [math.nan] * len(self) if self._core is None else list(self._core.ttft())
        return self._ttft

    @property
    def e2e(self) -> list[float]:
        if self._e2e is None:
            self._e2e = [math.nan] * len(self) if self._core is None else list(self._core.e2e())
        return self._e2e

    def workload(self) -> Any:
        """The requests as the compiled event loop holds them (converted once)."""
        if self._workload is None:
            self._workload = columns(self.arrival, self.input_tokens, self.output_tokens)
        return self._workload

    def served_by(self, core: Any) -> None:
        self._core, self._ttft, self._e2e = core, None, None


STARTING, READY, DRAINING, STOPPED = "Starting", "Ready", "Draining", "Stopped"


class CoreMissing(RuntimeError):
    """The compiled event loop (``inferop_simcore``) is not installed."""


def latency_stats(values: array[float], slo: float) -> tuple[int, int, float, float]:
    """(count, within ``slo``, nearest-rank p95, p99) of latencies in seconds (compiled: the ranks selected)."""
    if not values:  # an empty array may have no aligned buffer to read
        return 0, 0, math.nan, math.nan
    n, within, p95, p99 = _core_module().latency_stats(values, slo)
    return int(n), int(within), float(p95), float(p99)


def workload_of(trace: Any) -> Any:
    """A trace's requests as the compiled event loop reads them, made once and kept on the trace for every run."""
    cached = getattr(trace, "_workload", None)
    if cached is None:
        cached = columns(trace.arrival, trace.input_tokens, trace.output_tokens)
        object.__setattr__(trace, "_workload", cached)
    return cached


def columns(arrival: Sequence[float], input_tokens: Sequence[int], output_tokens: Sequence[int]) -> Any:
    """The compiled event loop's view of requests: it reads float64/int64 arrays in place (no copy), so
    arrays of those types are used as they are and anything else is converted to them once."""

    def typed(values: Sequence[Any], code: str) -> array[Any]:
        return values if isinstance(values, array) and values.typecode == code else array(code, values)

    return _core_module().Workload(typed(arrival, "d"), typed(input_tokens, "q"), typed(output_tokens, "q"))


def draw_rate_trace(
    windows: list[tuple[float, float, float, float]],
    seed: int,
    input_tokens: tuple[float, float, int],
    output_tokens: tuple[float, float, int],
) -> tuple[array[float], array[int], array[int]]:
    """A rate trace's requests (arrivals, prompt and output tokens), drawn compiled from one seeded stream:
    per window (start, length, rate, cv) a Gamma renewal process; tokens log-normal (mu, sigma), rounded
    and clipped to [1, upper] (``inferop.sim.trace``). Compact arrays (float64, int64), not lists: a week
    at a hundred requests per second is tens of millions of requests."""
    raw = list(_core_module().draw_rate_trace(windows, seed, input_tokens, output_tokens))
    out: list[array[Any]] = []
    for code in ("d", "q", "q"):
        column: array[Any] = array(code)
        column.frombytes(raw.pop(0))  # each column's bytes freed once copied
        out.append(column)
    return out[0], out[1], out[2]


def require_core() -> None:
    """Raise :class:`CoreMissing` unless the compiled event loop can be imported."""
    _core_class()


def _core_module() -> Any:
    try:
        import inferop_simcore
    except ImportError:
        raise CoreMissing(
            "the simulator's compiled event loop (inferop_simcore) is not installed: "
            "run `make install`, or `pip install ./simcore` (needs a Rust toolchain)"
        ) from None
    return inferop_simcore


def _core_class() -> Any:
    return _core_module().Core


@dataclass(frozen=True)
class EngineState:
    """What one pod's engine shows at a moment (read through :attr:`Pod.engine`)."""

    completed: int
    busy: float  # GPU busy seconds, cumulative
    waiting: int  # requests in the engine queue (vllm:num_requests_waiting)
    held: int  # running (prefill or decode) plus waiting
    inflight_area: float  # integral of requests held over time
    buckets: list[int]  # latency histogram, non-cumulative counts, last = +Inf


class Pod:
    """A live view of one pod of a :class:`Cluster`."""

    __slots__ = ("id", "_core")

    def __init__(self, core: Any, pod_id: int) -> None:
        self._core = core
        self.id = pod_id

    @property
    def state(self) -> str:
        return str(self._core.pod_info(self.id)[0])

    @property
    def start(self) -> float:
        return float(self._core.pod_info(self.id)[1])

    @property
    def ready_at(self) -> float:
        return float(self._core.pod_info(self.id)[2])

    @property
    def stop(self) -> float | None:
        stop = self._core.pod_info(self.id)[3]
        return None if stop is None else float(stop)

    @property
    def engine(self) -> EngineState:
        completed, busy, waiting, held, area, buckets = self._core.engine_info(self.id)
        return EngineState(completed, busy, waiting, held, area, list(buckets))


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
        it = profile.iteration
        self.core = _core_class()(
            requests.workload(),
            list(self.bounds),
            self.metric_ttft,
            float(self.cold_start),
            it.base_milliseconds / 1e3,
            it.per_sequence_milliseconds / 1e3,
            it.per_context_token_microseconds / 1e6,
            profile.prefill.per_token_milliseconds / 1e3,
            profile.batching.max_num_seqs,
            profile.batching.kv_cache_tokens,
        )

    # -- pods ------------------------------------------------------------------------------------

    def start_warm(self, replicas: int, now: float = 0.0) -> None:
        """Pods that are already Ready at ``now`` (the same initial state for every policy)."""
        self.core.start_warm(replicas, now)

    @property
    def pods(self) -> list[Pod]:
        return [Pod(self.core, i) for i in range(self.core.pod_count)]

    @property
    def ready(self) -> list[Pod]:
        """Ready and not terminating: the Service's endpoints, newest last."""
        return [Pod(self.core, i) for i in self.core.ready_ids]

    @property
    def starting(self) -> list[Pod]:
        return [Pod(self.core, i) for i in self.core.starting_ids]

    @property
    def draining(self) -> list[Pod]:
        return [Pod(self.core, i) for i in self.core.draining_ids]

    @property
    def replicas(self) -> int:
        """The Deployment's replicas: pods not terminating (Starting + Ready)."""
        return int(self.core.replicas)

    @property
    def ready_count(self) -> int:
        return int(self.core.ready_count)

    @property
    def scale_events(self) -> int:
        return int(self.core.scale_events)

    @property
    def count_events_from(self) -> float:
        """Scale events before this time (the burn-in) are not counted."""
        return float(self.core.count_events_from)

    @count_events_from.setter
    def count_events_from(self, value: float) -> None:
        self.core.count_events_from = value

    def next_ready_time(self) -> float:
        return float(self.core.next_ready_time())

    def mark_ready(self, now: float) -> None:
        """Make Ready every starting pod whose cold start ends at or before ``now``."""
        self.core.mark_ready(now)

    def scale(self, desired: int, now: float) -> None:
        """Set the Deployment's replicas: start pods, or remove starting then newest Ready pods."""
        self.core.scale(desired, now)

    def reap(self, now: float) -> None:
        """Stop draining pods that have finished their last request."""
        self.core.reap(now)

    # -- traffic ---------------------------------------------------------------------------------

    def route(self, rid: int, now: float) -> None:
        self.core.route(rid, now)

    def route_until(self, start: int, before: float) -> int:
        """Route every request from index ``start`` arriving before ``before``; the first one not routed."""
        return int(self.core.route_until(start, before))

    def advance_all(self, now: float) -> None:
        self.core.advance_all(now)

    def held_area(self) -> float:
        """Integral over time of the requests held by all pods (for concurrency averages)."""
        return float(self.core.held_area())

    def finish(self) -> None:
        """Run every engine until it has served everything it holds; the requests get their latencies."""
        self.core.finish()
        self.requests.served_by(self.core)

    def latency_stats(self, start: int, slo: float) -> tuple[int, int, float, float]:
        """(requests, within ``slo`` seconds, nearest-rank p95, p99) of the requests from index ``start``
        on, by the SLO metric (call :meth:`finish` first)."""
        n, within, p95, p99 = self.core.latency_stats(start, slo, self.metric_ttft)
        return int(n), int(within), float(p95), float(p99)

    # -- cost ------------------------------------------------------------------------------------

    def gpu_seconds(self, end: float, since: float = 0.0) -> float:
        """GPU-seconds charged from each pod's start to its stop, cut to ``[since, end)``.

        ``since`` is the end of the burn-in: a pod alive across it is charged only for its part after it.
        """
        return float(self.core.pod_seconds(end, since)) * self.profile.gpus_per_replica


def charged_seconds(pods: Iterable[tuple[float, float | None]], since: float, end: float) -> float:
    """The seconds of the pods' lives ``[start, stop)`` (``stop`` None: still running) inside ``[since, end)``."""
    total = 0.0
    for start, stop in pods:
        hi = end if stop is None else min(stop, end)
        lo = start if start > since else since
        if hi > lo:
            total += hi - lo
    return total
