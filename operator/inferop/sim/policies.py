"""The policies compared by ``inferop simulate``: ours (the real decide()) and the baselines.

What this module is for: wiring each controller to what it would read in production.

- ``inferop``: the operator's cost controller and the HPA it renders. Every CostPolicy interval the
  real :func:`inferop.cost.decide.decide` runs on the batched queries' answers (latency quantile from
  the histogram, queue depth, request rate, GPU utilization; NaN and empty answers passed as such),
  with the default CostPolicy unless ``--policy`` gives one, and its result becomes the HPA's
  ``minReplicas`` (the SLO floor). The HPA (every 15 s, default behaviour) keeps its own per-pod
  targets from ``spec.autoscaling.targets`` (queue depth, GPU utilization) above that floor. Without
  targets the rendered HPA falls back to Kubernetes' 80% CPU default; a vLLM pod uses a small part of
  its CPU request, so that metric never asks for more than one replica and the floor decides. A
  what-if (``bench/whatif.py``) passes its own :class:`~inferop.cost.tuning.PlannerTuning` through
  ``InferopPolicy.tuning`` (decide()'s ``tuning`` argument), never by changing module globals.
- ``hpa``: an HPA on GPU utilization (``DCGM_FI_DEV_GPU_UTIL`` per pod through a metrics adapter,
  ``Pods`` metric, ``AverageValue`` = the target percent).
- ``keda-latency``: KEDA's Prometheus scaler on the p-th percentile latency (the same
  ``histogram_quantile`` query), ``metricType: Value``, threshold in milliseconds. KEDA's default
  ``ignoreNullValues: true`` reads an empty or NaN answer as 0.
- ``keda-queue``: KEDA's Prometheus scaler on ``sum(vllm:num_requests_waiting)``, ``metricType:
  AverageValue`` (its default): the threshold is waiting requests per replica.
- ``kpa``: Knative's KPA on concurrency (requests in flight per pod), the threshold being the
  ``autoscaling.knative.dev/target`` annotation.
- ``static``: a fixed number of replicas.

KEDA's ``minReplicaCount`` and Knative's ``min-scale`` are the InferenceService's ``minReplicas``
(no scale to zero: a cold start of minutes would break any latency SLO).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inferop.cost.decide import History, decide
from inferop.cost.hpa import hpa_bounds
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.cost.tuning import PlannerTuning
from inferop.sim.hpa import HPA, SYNC_SECONDS
from inferop.sim.kpa import KPA, TICK_SECONDS, ConcurrencyWindow
from inferop.sim.run import Context

#: decide() reads schedule windows from ``now``; the simulation's time 0 is this instant (a Monday).
EPOCH = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

BASELINES = ("hpa", "keda-latency", "keda-queue", "kpa", "static")
#: ``--compare`` names and the policies they expand to.
COMPARE_NAMES = {
    "hpa": ("hpa",),
    "keda": ("keda-latency", "keda-queue"),
    "keda-latency": ("keda-latency",),
    "keda-queue": ("keda-queue",),
    "kpa": ("kpa",),
    "static": ("static",),
}


def _pod_names(ctx: Context) -> tuple[list[str], list[str]]:
    ready = [str(i) for i in ctx.cluster.core.ready_ids]
    starting = [str(i) for i in ctx.cluster.core.starting_ids]
    return ready, starting


@dataclass
class StaticPolicy:
    replicas: int
    name: str = "static"
    period: float = math.inf

    @property
    def target(self) -> float | None:
        return float(self.replicas)

    def setup(self, ctx: Context) -> None:
        pass

    def tick(self, ctx: Context, now: float) -> int | None:
        return None


@dataclass
class HPAGPUPolicy:
    """``hpa``: Pods metric DCGM_FI_DEV_GPU_UTIL, AverageValue ``target`` percent."""

    target: float
    name: str = "hpa"
    period: float = SYNC_SECONDS
    hpa: HPA = field(init=False)

    def setup(self, ctx: Context) -> None:
        self.hpa = HPA(ctx.config.min_replicas, ctx.config.max_replicas)

    def tick(self, ctx: Context, now: float) -> int | None:
        values = {str(k): v for k, v in ctx.prom.gpu_utilization_by_pod(now).items()}
        ready, starting = _pod_names(ctx)
        current = ctx.cluster.replicas
        wanted = self.hpa.pods_metric_replicas(current, values, self.target, ready=ready, unready=starting)
        return self.hpa.reconcile(now, current, wanted)


@dataclass
class KEDALatencyPolicy:
    """``keda-latency``: External metric = p-th percentile latency (ms), ``metricType: Value``."""

    target: float
    name: str = "keda-latency"
    period: float = SYNC_SECONDS
    hpa: HPA = field(init=False)

    def setup(self, ctx: Context) -> None:
        self.hpa = HPA(ctx.config.min_replicas, ctx.config.max_replicas)

    def tick(self, ctx: Context, now: float) -> int | None:
        seconds = ctx.prom.latency_quantile(ctx.config.quantile, now, ctx.config.rate_window)
        value = 0.0 if seconds is None or math.isnan(seconds) else seconds * 1000  # ignoreNullValues
        current = ctx.cluster.replicas
        wanted = self.hpa.external_value_replicas(current, value, self.target, ctx.cluster.ready_count)
        return self.hpa.reconcile(now, current, wanted)


@dataclass
class KEDAQueuePolicy:
    """``keda-queue``: External metric = total waiting requests, ``metricType: AverageValue``."""

    target: float
    name: str = "keda-queue"
    period: float = SYNC_SECONDS
    hpa: HPA = field(init=False)

    def setup(self, ctx: Context) -> None:
        self.hpa = HPA(ctx.config.min_replicas, ctx.config.max_replicas)

    def tick(self, ctx: Context, now: float) -> int | None:
        value = ctx.prom.queue_depth_sum(now) or 0.0  # ignoreNullValues
        current = ctx.cluster.replicas
        wanted = self.hpa.external_average_replicas(current, value, self.target)
        return self.hpa.reconcile(now, current, wanted)


@dataclass
class KPAPolicy:
    """``kpa``: Knative's autoscaler on concurrency with target annotation ``target``."""

    target: float
    name: str = "kpa"
    period: float = TICK_SECONDS
    kpa: KPA = field(init=False)
    window: ConcurrencyWindow = field(default_factory=ConcurrencyWindow)

    def setup(self, ctx: Context) -> None:
        self.kpa = KPA(self.target)
        self.kpa.start(0.0, ctx.cluster.ready_count)
        self.window = ConcurrencyWindow(keep=self.kpa.stable_window)
        self.window.record(0.0, 0.0)

    def tick(self, ctx: Context, now: float) -> int | None:
        ctx.cluster.advance_all(now)
        self.window.record(now, ctx.cluster.held_area())
        stable = self.window.average(now, self.kpa.stable_window)
        panic = self.window.average(now, self.kpa.panic_window)
        return self.kpa.scale(now, stable, panic, ctx.cluster.ready_count)


def _observation(value: float | None, scale: float, statistic: str) -> Observation:
    if value is None:
        return Observation.missing(ObservationStatus.EMPTY, "no series")
    if math.isnan(value):
        return Observation(ObservationStatus.NAN, age_seconds=0.0, series=1, statistic=statistic)
    return Observation.ok(value * scale, 0.0, statistic)


@dataclass
class InferopPolicy:
    """``inferop``: decide() every CostPolicy interval sets the HPA's minReplicas; the HPA acts.

    ``tuning``: passed to decide() as is (None: decide()'s own, the code's constants with the
    CostPolicy's ``spec.planner`` applied; an object given here replaces both, so a what-if builds it
    with :meth:`PlannerTuning.from_policy`). ``capacity``: the latest decision's capacity estimate
    (``Decision.capacity``, the ``status.autoscaling.capacity`` form), kept when a later decision has
    none (no load observed), so a run's final estimate can be read after it. ``first_decision``: the
    simulated time of the first decision (0: at the start); later ones follow every interval after it.
    The operator's ticks fall at no particular phase of the traffic, so ``bench/phase.py`` shifts it
    within one interval to show how much of a run's result is the luck of that phase.
    """

    name: str = "inferop"
    period: float = SYNC_SECONDS
    target: float | None = None
    tuning: PlannerTuning | None = None
    history: History = field(default_factory=History)
    floor: int = 1
    hpa: HPA = field(init=False)
    decisions: list[tuple[float, int, str]] = field(default_factory=list)
    capacity: Mapping[str, Any] | None = None
    first_decision: float = 0.0
    _next_decision: float = 0.0

    def setup(self, ctx: Context) -> None:
        config = ctx.config
        self.hpa = HPA(config.min_replicas, config.max_replicas)
        # The controller has been running: the floor holds the initial replicas until it decides.
        self.floor = config.initial_replicas
        self._next_decision = self.first_decision

    def observe(self, ctx: Context, now: float) -> Observations:
        config, prom = ctx.config, ctx.prom
        window = config.rate_window
        quantile = prom.latency_quantile(config.quantile, now, window)
        return Observations(
            latency_milliseconds=_observation(quantile, 1000.0, f"p{config.percentile}"),
            queue_depth_per_replica=_observation(prom.queue_depth_avg(now, window), 1.0, "avg"),
            request_rate=_observation(prom.request_rate(now, window), 1.0, "sum"),
            token_rate=_observation(prom.token_rate(now, window), 1.0, "sum"),
            gpu_utilization_percent=_observation(prom.gpu_utilization_avg(now, window), 1.0, "avg"),
            slo_attainment=_observation(
                prom.slo_attainment(config.slo_ms / 1000, now, window), 1.0, "fraction within SLO"
            ),
        )

    def tick(self, ctx: Context, now: float) -> int | None:
        config, cluster = ctx.config, ctx.cluster
        interval = config.cost_policy.interval_seconds
        if now >= self._next_decision:
            decision = decide(
                self.observe(ctx, now),
                current_replicas=cluster.replicas,
                ready_replicas=cluster.ready_count,
                autoscaling=config.autoscaling,
                policy=config.cost_policy,
                now=EPOCH + now,
                history=self.history,
                window_seconds=config.rate_window,
                cold_start_seconds=ctx.cluster.cold_start,
                tuning=self.tuning,
            )
            self.history = decision.history
            self.floor = decision.desired_replicas
            if decision.capacity is not None:
                self.capacity = decision.capacity
            self.decisions.append((now, decision.desired_replicas, str(decision.reason)))
            self._next_decision = now + interval - 1e-6
        # The operator's mapping (the HPA here reads metrics of its own, as with a metrics adapter).
        self.hpa.min_replicas, self.hpa.max_replicas = hpa_bounds(
            self.floor, config.max_replicas, hpa_reads_metrics=True
        )
        current = cluster.replicas
        return self.hpa.reconcile(now, current, self._hpa_metrics(ctx, now, current))

    def _hpa_metrics(self, ctx: Context, now: float, current: int) -> int | None:
        """The largest recommendation of the HPA's own metrics (1 with none: the CPU default)."""
        targets = ctx.config.autoscaling.targets
        if targets is None or (targets.queue_depth_per_replica is None and targets.gpu_utilization_percent is None):
            return 1
        ready, starting = _pod_names(ctx)
        wanted: list[int] = []
        if targets.queue_depth_per_replica is not None:
            waiting = {str(k): v for k, v in ctx.prom.queue_depth_by_pod(now).items()}
            queue = self.hpa.pods_metric_replicas(
                current, waiting, targets.queue_depth_per_replica, ready=ready, unready=starting
            )
            if queue is not None:
                wanted.append(queue)
        if targets.gpu_utilization_percent is not None:
            util = {str(k): v for k, v in ctx.prom.gpu_utilization_by_pod(now).items()}
            gpu = self.hpa.pods_metric_replicas(
                current, util, targets.gpu_utilization_percent, ready=ready, unready=starting
            )
            if gpu is not None:
                wanted.append(gpu)
        return max(wanted) if wanted else None


def make_baseline(
    name: str, target: float
) -> StaticPolicy | HPAGPUPolicy | KEDALatencyPolicy | KEDAQueuePolicy | KPAPolicy:
    if name == "static":
        return StaticPolicy(int(target))
    if name == "hpa":
        return HPAGPUPolicy(target)
    if name == "keda-latency":
        return KEDALatencyPolicy(target)
    if name == "keda-queue":
        return KEDAQueuePolicy(target)
    if name == "kpa":
        return KPAPolicy(target)
    raise ValueError(f"unknown baseline {name!r}")
