"""The planner's learned state rebuilt from Prometheus range queries (after a restart, or for a service
the operator has not seen). Pure.

What this module is for: ``History.learned`` (capacity points and load history, ``cost.state``) lives
in the operator's memory. A restarted operator must not fall back to the prior: the service's own
Prometheus series hold everything the live tick learned from, so the state is rebuilt from them over
the CostPolicy's history window (``cost.window.history_seconds``).

:func:`plan_rebuild` says which range queries to run, batched like the per-tick queries: their count
depends on the runtime families in use, never on the number of services. Per runtime family at most
five, each over the rate window the live tick uses:

- the load: prompt plus generated tokens per second (``queries.token_rate_query``) where the runtime
  exports token counters, else the request rate;
- the request rate (a capacity point's weight: requests in the window);
- the SLO histogram's bucket rates (the fraction of the window's requests within the SLO target);
- the lowest and the highest number of the service's pods exporting its series over the rate window
  (``min_over_time`` / ``max_over_time`` of ``queries.pods_query`` as subqueries): equal means the
  interval was steady (``cost.window.steady``), and that number is the ready replicas.

:func:`rebuild` steps through the answers on the range's grid and, per step and service, reads the
observations with the same ``signals.collect`` the live tick uses, appends a ``LoadSample`` where the
load is usable, and a capacity point by the one rule (``state.capacity_point``) where the interval was
steady and the attainment usable. A service whose queries failed gets a :class:`RebuildFailed`, not an
empty state: the caller keeps what it has and retries later.

Must not: do I/O or read the clock (``reconcile.rebuild`` runs the queries).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferop.cost.queries import (
    PromLabels,
    Query,
    QueryPlan,
    ServiceKey,
    ServiceQuerySpec,
    SignalName,
    plan_queries,
    pods_query,
)
from inferop.cost.signals import Observation, QueryFailed, collect
from inferop.cost.state import CapacityPoint, Learned, LoadSample, LoadUnit, capacity_point
from inferop.cost.window import seconds, steady

#: A Prometheus range answer: the ``data.result`` matrix, or why the query failed.
RangeAnswer = list[dict[str, Any]] | QueryFailed
#: The instant signals a rebuild reads (the others are not range-queried).
REBUILT_SIGNALS: tuple[SignalName, ...] = ("token_rate", "request_rate", "slo_attainment")


@dataclass(frozen=True)
class RebuildFailed:
    """The learned state of a service could not be rebuilt; ``reason`` says which query failed."""

    reason: str


@dataclass(frozen=True)
class ReadyQueries:
    """The lowest and highest ready count over the rate window, per service, for one runtime family."""

    lowest: str
    highest: str
    namespace_label: str
    service_label: str


@dataclass(frozen=True)
class RebuildPlan:
    """The range queries of one rebuild, and how their answers map back to services."""

    #: The live tick's plan (its token-rate, request-rate and attainment routes are range-queried).
    instant: QueryPlan
    ready: Mapping[ServiceKey, ReadyQueries]
    units: Mapping[ServiceKey, LoadUnit]
    window_seconds: float
    #: Every PromQL text to run as a range query, deduplicated, in a stable order.
    queries: tuple[str, ...] = field(default_factory=tuple)


def plan_rebuild(services: Iterable[ServiceQuerySpec], *, window: str, labels: PromLabels | None = None) -> RebuildPlan:
    """The range queries that rebuild the learned state of ``services`` (see the module docstring)."""
    labels = labels or PromLabels()
    specs = list(services)
    instant = plan_queries(specs, window=window, labels=labels)
    texts: dict[str, None] = {}
    ready: dict[ServiceKey, ReadyQueries] = {}
    units: dict[ServiceKey, LoadUnit] = {}
    for spec in specs:
        units[spec.key] = spec.runtime.load_unit
        for signal in REBUILT_SIGNALS:
            route = instant.route(spec.key, signal)
            if isinstance(route, Query):
                texts.setdefault(route.promql, None)
        counter = spec.runtime.metrics.request_rate
        if counter is None:
            continue
        pods = pods_query(counter, labels)
        queries = ReadyQueries(
            lowest=f"min_over_time(({pods})[{window}:])",
            highest=f"max_over_time(({pods})[{window}:])",
            namespace_label=labels.namespace,
            service_label=labels.service,
        )
        texts.setdefault(queries.lowest, None)
        texts.setdefault(queries.highest, None)
        ready[spec.key] = queries
    return RebuildPlan(instant=instant, ready=ready, units=units, window_seconds=seconds(window), queries=tuple(texts))


def _key(t: float) -> float:
    """Step timestamps as dictionary keys (milliseconds, as Prometheus stores them)."""
    return round(t * 1000) / 1000


def _index(matrix: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], dict[float, str]]]:
    return [
        (series.get("metric") or {}, {_key(float(ts)): v for ts, v in series.get("values") or []}) for series in matrix
    ]


def _by_service(
    matrix: Sequence[Mapping[str, Any]], namespace_label: str, service_label: str
) -> dict[ServiceKey, dict[float, float]]:
    out: dict[ServiceKey, dict[float, float]] = {}
    for metric, values in _index(matrix):
        key = ServiceKey(str(metric.get(namespace_label, "")), str(metric.get(service_label, "")))
        series = out.setdefault(key, {})
        for t, raw in values.items():
            try:
                series[t] = float(raw)
            except (TypeError, ValueError):
                continue
    return out


def _usable(obs: Observation) -> float | None:
    if not obs.usable or obs.value is None or not math.isfinite(obs.value):
        return None
    return float(obs.value)


def rebuild(
    plan: RebuildPlan,
    answers: Mapping[str, RangeAnswer],
    times: Sequence[float],
    *,
    keep_seconds: float,
) -> dict[ServiceKey, Learned | RebuildFailed]:
    """Per service of ``plan``, its learned state from the range ``answers`` (keyed by PromQL text) at
    ``times`` (the range's step grid), bounded by ``keep_seconds`` like ``Learned.add``."""
    failed = {text: a.message for text, a in answers.items() if isinstance(a, QueryFailed)}
    missing = [text for text in plan.queries if text not in answers]
    indexed = {text: _index(a) for text, a in answers.items() if not isinstance(a, QueryFailed)}
    ready_series: dict[str, dict[ServiceKey, dict[float, float]]] = {}
    for pair in plan.ready.values():
        for text in (pair.lowest, pair.highest):
            answer = answers.get(text)
            if text not in ready_series and answer is not None and not isinstance(answer, QueryFailed):
                ready_series[text] = _by_service(answer, pair.namespace_label, pair.service_label)

    out: dict[ServiceKey, Learned | RebuildFailed] = {}
    needed: dict[ServiceKey, list[str]] = {}
    for key in plan.units:
        texts = [plan.instant.route(key, s) for s in REBUILT_SIGNALS]
        needed[key] = [r.promql for r in texts if isinstance(r, Query)]
        if key in plan.ready:
            needed[key] += [plan.ready[key].lowest, plan.ready[key].highest]
        bad = [t for t in needed[key] if t in failed or t in missing]
        if bad:
            reason = failed.get(bad[0], "not run")
            out[key] = RebuildFailed(f"range query failed: {reason}")
    points: dict[ServiceKey, list[CapacityPoint]] = {k: [] for k in plan.units if k not in out}
    load: dict[ServiceKey, list[LoadSample]] = {k: [] for k in points}
    queries = [q for q in plan.instant.queries if q.signal in REBUILT_SIGNALS]
    for t in times:
        k = _key(t)
        instant: dict[Query, Any] = {}
        for query in queries:
            if query.promql in indexed:
                series = indexed[query.promql]
                instant[query] = [{"metric": dict(m), "value": [t, v[k]]} for m, v in series if k in v]
        observed = collect(plan.instant, instant, now=t)
        for key in points:
            obs = observed[key]
            requests = _usable(obs.request_rate)
            total = _usable(obs.token_rate) if plan.units[key] == "tokens" else requests
            if total is None:
                continue
            load[key].append(LoadSample(time=t, load=total))
            ready = plan.ready.get(key)
            attainment = _usable(obs.slo_attainment)
            if ready is None or attainment is None:
                continue
            lowest = ready_series.get(ready.lowest, {}).get(key, {}).get(k)
            highest = ready_series.get(ready.highest, {}).get(key, {}).get(k)
            replicas = steady(lowest, highest)
            if replicas is None:
                continue
            weight = (requests or 0.0) * plan.window_seconds
            point = capacity_point(t, total, replicas, attainment, weight)
            if point is not None:
                points[key].append(point)
    cutoff = (times[-1] if times else 0.0) - keep_seconds
    for key in points:
        out[key] = Learned(
            unit=plan.units[key],
            points=tuple(p for p in points[key] if p.time >= cutoff),
            load=tuple(s for s in load[key] if s.time >= cutoff),
        )
    return out


def merge(rebuilt: Learned, live: Learned | None, *, keep_seconds: float) -> Learned:
    """The rebuilt state followed by what the live ticks learned since the operator started (a retried
    rebuild runs after some ticks): rebuilt entries older than the first live one, then the live ones."""
    if live is None or (not live.points and not live.load):
        return rebuilt
    first = min([p.time for p in live.points[:1]] + [s.time for s in live.load[:1]])
    state = Learned(
        unit=rebuilt.unit,
        points=tuple(p for p in rebuilt.points if p.time < first) + live.points,
        load=tuple(s for s in rebuilt.load if s.time < first) + live.load,
    )
    return state.add(keep_seconds=keep_seconds)


def grid(end: float, keep_seconds: float, step: float) -> list[float]:
    """The range's step grid: whole multiples of ``step`` from ``end - keep_seconds`` to ``end``."""
    if step <= 0:
        raise ValueError("step must be positive")
    first = math.ceil((end - keep_seconds) / step) * step
    count = int(math.floor((end - first) / step + 1e-9)) + 1
    return [first + i * step for i in range(max(0, count))]
