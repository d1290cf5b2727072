"""The backtest: replay a recorded Prometheus range of one service through ``decide()``. Pure.

What this module is for: given the cost controller's queries for one InferenceService (the same
``plan_queries`` the control loop runs), their answers as Prometheus range queries (``matrix``
results, one value per step), and the replicas that actually ran, step through the range one
CostPolicy interval at a time and ask the real ``decide()`` what it would have done. The replay is
closed over inferop's own decisions: each step's current replicas are the previous step's projected
replicas (the first step starts from what actually ran), its History is threaded as in the
operator, and every decision is assumed carried out (``Recommend`` mode is replayed as ``Enforce``,
so that the projection shows what enforcing the policy would have done).

What the recorded data cannot tell, and how the replay reads it:

- Latency and SLO attainment were produced by the replicas that actually ran. They are used as
  recorded. Where the projection runs fewer replicas than actually ran, the latency it is judged by
  is the better latency of the larger fleet: those steps are flagged ``optimistic`` (a scale-down
  there is not verified by the data; ``inferop simulate`` models the latency at any size).
- The per-replica load signals (queue depth per replica, GPU utilization) are rescaled by
  ``actual / projected``, the first-order effect of spreading the same load over another number of
  replicas (GPU utilization capped at 100%). The request rate is a total and is used as recorded.
- The planner's learned state (capacity points, load history) starts from ``learned``: what
  ``cost.rebuild`` rebuilds from the CostPolicy's history window before the range (as the operator
  does on start), so the replay begins where a running operator would be, not from the prior.
- New projected replicas become ready ``cold_start_seconds`` after the decision that added them
  (model load). The tenant's quota and budget at the time are not recorded: only the service's
  ``minReplicas``, ``maxReplicas`` and the CostPolicy's schedule bound the projection.

GPU-hours: every step charges its replicas for one interval (``replicas x GPUs per replica x
interval``), for the projection and for what actually ran (the replicas series at the same steps).

Must not: do I/O or read the clock (the caller fetches the ranges; see ``inferop backtest``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import InferenceService
from inferop.cost.decide import History, decide
from inferop.cost.queries import Query, QueryPlan, ServiceKey, rate_window
from inferop.cost.signals import Observation, Observations, QueryFailed, collect
from inferop.cost.state import Learned
from inferop.cost.window import seconds

#: A Prometheus range answer: the ``data.result`` matrix, or why the query failed.
RangeAnswer = list[dict[str, Any]] | QueryFailed


@dataclass(frozen=True)
class Step:
    """One decision of the replay."""

    time: float
    #: Replicas that actually ran at this time (None: no sample).
    actual: int | None
    #: inferop's replicas before this decision, and what it decided.
    current: int
    projected: int
    ready: int
    reason: str
    message: str
    #: The projection ran fewer replicas than actually ran: the latency it was judged by came from a
    #: larger fleet (see the module docstring).
    optimistic: bool
    #: What decide() observed (after the per-replica rescaling), whether it saw no load, and its needs.
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def latency_ms(self) -> float | None:
        value = (self.inputs.get("observations") or {}).get("latencyMilliseconds", {}).get("value")
        return float(value) if isinstance(value, int | float) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "actual": self.actual,
            "from": self.current,
            "to": self.projected,
            "ready": self.ready,
            "reason": self.reason,
            "message": self.message,
            "optimistic": self.optimistic,
            "inputs": dict(self.inputs),
        }


@dataclass(frozen=True)
class Result:
    steps: tuple[Step, ...]
    interval_seconds: float
    gpus_per_replica: int
    #: What one replica costs per hour (``tenancy.usage.price_per_replica``) and in which currency.
    price_per_replica_hour: float = 0.0
    currency: str = "USD"

    @property
    def actual_replica_hours(self) -> float:
        """Replica-hours of what actually ran (steps without a replicas sample charge nothing)."""
        return sum(s.actual or 0 for s in self.steps) * self.interval_seconds / 3600

    @property
    def projected_replica_hours(self) -> float:
        return sum(s.projected for s in self.steps) * self.interval_seconds / 3600

    @property
    def actual_gpu_hours(self) -> float:
        return self.actual_replica_hours * self.gpus_per_replica

    @property
    def projected_gpu_hours(self) -> float:
        return self.projected_replica_hours * self.gpus_per_replica

    @property
    def scale_events(self) -> int:
        return sum(1 for s in self.steps if s.projected != s.current)

    @property
    def optimistic_steps(self) -> int:
        return sum(1 for s in self.steps if s.optimistic)

    @property
    def missing_actual_steps(self) -> int:
        return sum(1 for s in self.steps if s.actual is None)

    def summary(self) -> dict[str, Any]:
        actual, projected = self.actual_gpu_hours, self.projected_gpu_hours
        return {
            "steps": len(self.steps),
            "interval_seconds": self.interval_seconds,
            "actual_gpu_hours": round(actual, 4),
            "projected_gpu_hours": round(projected, 4),
            "ratio": round(projected / actual, 4) if actual > 0 else None,
            "actual_cost": round(self.actual_replica_hours * self.price_per_replica_hour, 2),
            "projected_cost": round(self.projected_replica_hours * self.price_per_replica_hour, 2),
            "currency": self.currency,
            "scale_events": self.scale_events,
            "optimistic_steps": self.optimistic_steps,
            "steps_without_actual_replicas": self.missing_actual_steps,
            "reasons": dict(sorted(Counter(s.reason for s in self.steps).items())),
        }


def steps(start: float, end: float, interval: float) -> list[float]:
    """The decision times: ``start``, ``start + interval``, ... up to and including ``end``."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    count = int(math.floor((end - start) / interval + 1e-9)) + 1
    return [start + i * interval for i in range(max(0, count))]


def _key(t: float) -> float:
    """Prometheus step timestamps as dictionary keys (milliseconds, as Prometheus stores them)."""
    return round(t * 1000) / 1000


def index_matrix(matrix: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], dict[float, str]]]:
    return [
        (series.get("metric") or {}, {_key(float(ts)): v for ts, v in series.get("values") or []}) for series in matrix
    ]


def instant_at(indexed: list[tuple[Mapping[str, Any], dict[float, str]]], t: float) -> list[dict[str, Any]]:
    """The instant-query answer a range answer holds for time ``t`` (series without a value at t omitted)."""
    k = _key(t)
    return [{"metric": dict(metric), "value": [t, values[k]]} for metric, values in indexed if k in values]


def series_at(matrix: Sequence[Mapping[str, Any]], times: Sequence[float]) -> list[int | None]:
    """One replica count per time from a range answer: the largest series' value, None where none has one."""
    indexed = index_matrix(matrix)
    out: list[int | None] = []
    for t in times:
        values = [float(v[_key(t)]) for _, v in indexed if _key(t) in v]
        finite = [x for x in values if math.isfinite(x)]
        out.append(round(max(finite)) if finite else None)
    return out


def _rescaled(obs: Observation, factor: float, cap: float | None) -> Observation:
    if not obs.usable or obs.value is None or factor == 1:
        return obs
    value = obs.value * factor
    return replace(obs, value=min(cap, value) if cap is not None else value)


def _counterfactual(obs: Observations, actual: int | None, projected: int) -> Observations:
    """Per-replica load signals spread over ``projected`` instead of the ``actual`` replicas."""
    if actual is None or actual <= 0 or projected <= 0:
        return obs
    factor = actual / projected
    return replace(
        obs,
        queue_depth_per_replica=_rescaled(obs.queue_depth_per_replica, factor, None),
        gpu_utilization_percent=_rescaled(obs.gpu_utilization_percent, factor, 100.0),
    )


def replay(
    isvc: InferenceService,
    policy: CostPolicySpec,
    plan: QueryPlan,
    answers: Mapping[Query, RangeAnswer],
    times: Sequence[float],
    actual: Sequence[int | None],
    *,
    cold_start_seconds: float,
    price_per_replica_hour: float = 0.0,
    currency: str = "USD",
    learned: Learned | None = None,
    window_seconds: float | None = None,
) -> Result:
    """Step ``decide()`` through ``times`` (see the module docstring). ``actual[i]`` ran at ``times[i]``;
    ``learned`` is the rebuilt state the replay starts from, ``window_seconds`` the queries' rate window
    (default: the operator's, ``rate_window`` of the CostPolicy's interval)."""
    if isvc.spec.autoscaling is None:
        raise ValueError(f"{isvc.namespace}/{isvc.name} has no spec.autoscaling: there is nothing to backtest")
    if len(actual) != len(times):
        raise ValueError("one actual replica count per step is needed")
    autoscaling = isvc.spec.autoscaling.model_copy(update={"mode": "Enforce"})
    key = ServiceKey(isvc.namespace, isvc.name)
    indexed = {q: index_matrix(a) for q, a in answers.items() if not isinstance(a, QueryFailed)}
    first = next((a for a in actual if a is not None), None)
    current = first if first is not None else autoscaling.min_replicas
    # (time a replica became wanted, count): replicas added at t are ready at t + cold start
    started: list[tuple[float, int]] = [(-math.inf, current)]
    history = History(learned=learned or Learned())
    window = window_seconds if window_seconds is not None else seconds(rate_window(policy.interval_seconds))
    out: list[Step] = []
    for t, ran in zip(times, actual, strict=True):
        instant: dict[Query, Any] = {}
        for query, answer in answers.items():
            instant[query] = answer if isinstance(answer, QueryFailed) else instant_at(indexed[query], t)
        observed = _counterfactual(collect(plan, instant, now=t)[key], ran, current)
        ready = min(current, sum(n for at, n in started if at + cold_start_seconds <= t))
        decision = decide(
            observed,
            current_replicas=current,
            ready_replicas=ready,
            autoscaling=autoscaling,
            policy=policy,
            now=t,
            history=history,
            window_seconds=window,
            cold_start_seconds=cold_start_seconds,
        )
        history = decision.history
        projected = decision.desired_replicas
        out.append(
            Step(
                time=t,
                actual=ran,
                current=current,
                projected=projected,
                ready=ready,
                reason=str(decision.reason),
                message=decision.message,
                optimistic=ran is not None and projected < ran,
                inputs={k: decision.inputs[k] for k in ("observations", "noLoad", "needs")},
            )
        )
        if projected > current:
            started.append((t, projected - current))
        elif projected < current:
            started = _remove(started, current - projected)
        current = projected
    return Result(
        steps=tuple(out),
        interval_seconds=float(policy.interval_seconds),
        gpus_per_replica=isvc.spec.resources.gpu.count if isvc.spec.resources.gpu else 0,
        price_per_replica_hour=price_per_replica_hour,
        currency=currency,
    )


def _remove(started: list[tuple[float, int]], count: int) -> list[tuple[float, int]]:
    """Scale-down removes the newest replicas first (the ReplicaSet's choice: not-ready pods go first)."""
    kept = list(started)
    while count > 0 and kept:
        at, n = kept.pop()
        if n > count:
            kept.append((at, n - count))
        count -= n
    return kept
