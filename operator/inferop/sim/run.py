"""Replay one trace through the service model under one policy: the simulation loop. Pure.

What this module is for: the event loop shared by every policy. Requests are routed at their
arrival; pods become Ready at the end of their cold start; Prometheus scrapes every
``scrape_interval`` (30 s, the kube-prometheus-stack default); the policy's controller ticks every
``policy.period`` seconds, offset by ``CONTROLLER_PHASE`` from the scrape grid (controllers are not
synchronised with scrapes, so they usually read data a few seconds old). At the end of the trace
the controllers stop and every pod serves what it holds; GPU time is charged until the trace's end.

Every policy starts from the same state: ``initial_replicas`` Ready pods at time 0. The first
``warmup`` seconds are a burn-in: every policy acts in it as usual (its controller's state carries
over), but only the scored period ``[warmup, duration)`` counts: the requests that arrive in it, the
pod time inside it (a pod alive across the boundary is charged only for its scored part) and the scale
events in it.

Must not: read the clock, or do I/O other than through the caller.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.queries import rate_window
from inferop.sim import engine
from inferop.sim.engine import Cluster, Requests
from inferop.sim.profile import ServiceProfile
from inferop.sim.prom import Prometheus
from inferop.sim.trace import Trace

SCRAPE_INTERVAL = 30.0
CONTROLLER_PHASE = 7.0
#: maxReplicas of :func:`default_autoscaling` (``inferop simulate`` without --isvc).
DEFAULT_MAX_REPLICAS = 100


@dataclass(frozen=True)
class RunConfig:
    """What every policy of one comparison shares."""

    slo_ms: float
    percentile: int
    metric: str  # "e2e" or "ttft"
    min_replicas: int
    max_replicas: int
    autoscaling: Autoscaling
    cost_policy: CostPolicySpec
    initial_replicas: int = 1
    scrape_interval: float = SCRAPE_INTERVAL
    #: ``[w]`` of rate() and avg_over_time(), seconds (queries.rate_window of the CostPolicy).
    rate_window: float = 120.0
    #: Seconds of burn-in at the start of the trace: run, not scored.
    warmup: float = 0.0
    #: The controller's first tick (s): its offset from the scrape grid (``bench/phase.py`` varies it).
    controller_phase: float = CONTROLLER_PHASE

    @property
    def goal(self) -> float:
        """The SLO attainment goal: the percentile itself (p95 -> 95% of requests within the SLO)."""
        return self.percentile / 100

    @property
    def quantile(self) -> float:
        return self.percentile / 100

    def clamp(self, replicas: int) -> int:
        return min(self.max_replicas, max(self.min_replicas, replicas))


def _window_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(int(text[:-1]) * units[text[-1]])


def run_config(
    slo_ms: float, percentile: int, autoscaling: Autoscaling, cost_policy: CostPolicySpec, warmup: float = 0.0
) -> RunConfig:
    """The shared settings of one comparison; the rate window is the operator's (queries.rate_window)."""
    return RunConfig(
        warmup=warmup,
        slo_ms=slo_ms,
        percentile=percentile,
        metric=autoscaling.slo.latency.metric if autoscaling.slo is not None else "e2e",
        min_replicas=autoscaling.floor,  # zero is sim/zero.py's, never the clamp's
        max_replicas=autoscaling.max_replicas,
        autoscaling=autoscaling.model_copy(update={"min_replicas": autoscaling.floor}),
        cost_policy=cost_policy,
        scrape_interval=SCRAPE_INTERVAL,
        rate_window=_window_seconds(rate_window(cost_policy.interval_seconds, int(SCRAPE_INTERVAL))),
    )


def default_autoscaling(slo_ms: int, percentile: int) -> Autoscaling:
    """The InferenceService autoscaling used without --isvc: the latency SLO alone, maxReplicas 100.

    No per-pod ``targets``: inferop's promise is scaling on the SLO without hand-tuned thresholds, and a
    queue-depth target makes the rendered HPA (through a metrics adapter) chase every burst's backlog
    (``docs/simulate.md``). Pass ``--isvc`` to simulate a service with targets.
    """
    spec = {
        "minReplicas": 1,
        "maxReplicas": DEFAULT_MAX_REPLICAS,
        "slo": {"latency": {"metric": "e2e", "percentile": percentile, "targetMilliseconds": slo_ms}},
    }
    return Autoscaling.model_validate(spec)


@dataclass
class Context:
    """What a policy's controller can see: the cluster (as the Kubernetes API shows it) and Prometheus."""

    cluster: Cluster
    prom: Prometheus
    config: RunConfig


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def period(self) -> float:
        """Seconds between two controller ticks."""
        ...

    @property
    def target(self) -> float | None:
        """The setting under test (None for ours)."""
        ...

    def setup(self, ctx: Context) -> None: ...

    def tick(self, ctx: Context, now: float) -> int | None:
        """The Deployment's replicas after this tick, or None to leave them."""
        ...


@dataclass(frozen=True)
class TimelinePoint:
    t: float
    replicas: int
    ready: int
    #: The p-th percentile latency as the standard query reports it (None: no data; NaN: no requests).
    observed_ms: float | None
    gpu_hours: float


@dataclass
class RunResult:
    policy: str
    target: float | None
    gpu_hours: float
    cost_usd: float
    slo_attainment: float
    p95_ms: float
    p99_ms: float
    scale_events: int
    requests: int
    timeline: list[TimelinePoint] = field(default_factory=list)
    #: How a baseline's target was chosen: "past" (the burn-in), "scored" (hindsight); None for ours.
    tuned_on: str | None = None

    def meets(self, goal: float) -> bool:
        return self.slo_attainment >= goal - 1e-12


def percentile_of(values: Sequence[float], q: float, *, ordered: bool = False) -> float:
    """Nearest-rank percentile (q in [0, 1]) of the values; NaN for no values."""
    if not values:
        return math.nan
    ranked = values if ordered else sorted(values)
    rank = max(1, math.ceil(q * len(ranked) - 1e-9))
    return ranked[rank - 1]


def latencies(requests: Requests, metric: str) -> list[float]:
    return requests.ttft if metric == "ttft" else requests.e2e


def summarize(
    name: str,
    target: float | None,
    values: Sequence[float],
    *,
    slo_ms: float,
    gpu_seconds: float,
    price: Decimal,
    scale_events: int,
) -> RunResult:
    """The result of a run whose scored requests had these latencies (seconds)."""
    doubles = values if isinstance(values, array) and values.typecode == "d" else array("d", values)
    stats = engine.latency_stats(doubles, slo_ms / 1000)
    return from_stats(name, target, stats, gpu_seconds=gpu_seconds, price=price, scale_events=scale_events)


def from_stats(
    name: str,
    target: float | None,
    stats: tuple[int, int, float, float],
    *,
    gpu_seconds: float,
    price: Decimal,
    scale_events: int,
) -> RunResult:
    """The result from (requests, within the SLO, p95 s, p99 s) of the scored requests."""
    count, within, p95, p99 = stats
    hours = gpu_seconds / 3600
    return RunResult(
        policy=name,
        target=target,
        gpu_hours=hours,
        cost_usd=float(Decimal(repr(hours)) * price),
        slo_attainment=within / count if count else 1.0,
        p95_ms=p95 * 1000,
        p99_ms=p99 * 1000,
        scale_events=scale_events,
        requests=count,
    )


def run(
    trace: Trace,
    profile: ServiceProfile,
    policy: Policy,
    config: RunConfig,
    *,
    record: bool = True,
    scored_latencies: list[float] | None = None,
) -> RunResult:
    """Simulate ``policy`` over ``trace`` (see the module docstring).

    ``scored_latencies``: a list to extend with the scored requests' latencies (seconds), in arrival order.
    """
    requests = Requests(trace.arrival, trace.input_tokens, trace.output_tokens, engine.workload_of(trace))
    cluster = Cluster(profile, requests, metric=config.metric)
    cluster.count_events_from = config.warmup
    cluster.start_warm(config.initial_replicas)
    prom = Prometheus(cluster, config.scrape_interval)
    ctx = Context(cluster, prom, config)
    policy.setup(ctx)
    end = trace.duration
    arrival = trace.arrival
    i = 0
    next_scrape = config.scrape_interval
    next_tick = config.controller_phase if math.isfinite(policy.period) else math.inf
    timeline: list[TimelinePoint] = []
    # Scale to zero (sim/zero.py): a policy at zero is woken at the first arrival, as the activator does.
    wake_floor: int | None = getattr(policy, "wake_floor", None)
    while True:
        next_ready = cluster.next_ready_time()
        waking = wake_floor is not None and cluster.replicas == 0 and i < len(arrival)
        next_arrival = arrival[i] if waking else math.inf
        t = min(next_scrape, next_tick, next_ready, next_arrival, end)
        i = cluster.route_until(i, t)  # every arrival before t, each at its own time
        if t >= end:
            break
        if waking and next_arrival <= t and wake_floor is not None:
            cluster.scale(config.clamp(wake_floor), t)
            policy.woke(t)  # type: ignore[attr-defined]
        if next_ready <= t:
            cluster.mark_ready(t)
        if next_scrape <= t:
            cluster.advance_all(t)
            cluster.reap(t)
            prom.scrape(t)
            if record:
                observed = prom.latency_quantile(config.quantile, t, config.rate_window)
                timeline.append(
                    TimelinePoint(
                        t,
                        cluster.replicas,
                        cluster.ready_count,
                        None if observed is None else observed * 1000,
                        cluster.gpu_seconds(t, config.warmup) / 3600,
                    )
                )
            next_scrape += config.scrape_interval
        if next_tick <= t:
            desired = policy.tick(ctx, t)
            if desired == 0 and wake_floor is not None:
                cluster.scale(0, t)  # to zero: only a scale-to-zero policy returns 0 past the clamp
            elif desired is not None:
                cluster.scale(config.clamp(desired), t)
            next_tick += policy.period
    cluster.route_until(i, math.inf)
    cluster.finish()
    scored = bisect.bisect_left(arrival, config.warmup)
    if scored_latencies is not None:
        scored_latencies.extend(latencies(requests, config.metric)[scored:])
    result = from_stats(
        policy.name,
        policy.target,
        cluster.latency_stats(scored, config.slo_ms / 1000),
        gpu_seconds=cluster.gpu_seconds(end, config.warmup),
        price=profile.price,
        scale_events=cluster.scale_events,
    )
    if record:
        timeline.append(TimelinePoint(end, cluster.replicas, cluster.ready_count, None, result.gpu_hours))
    result.timeline = timeline
    return result
