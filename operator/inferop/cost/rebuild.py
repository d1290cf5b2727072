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

:func:`rebuild` indexes each answer by service once, then steps through the range's grid and, per
step and service, reads the values as the live tick would (usable only when finite and not negative,
one series per service; the attainment by the same ``signals.fraction_within``), appends a
``LoadSample`` where the load is usable, and a capacity point by the one rule
(``state.capacity_point``) where the interval was steady and the attainment usable. (Not
``signals.collect`` per step: it builds every signal's Observation and is ~6x slower over two days
of steps for a hundred services.) A service whose queries failed gets a :class:`RebuildFailed`, not an
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
from inferop.cost.signals import QueryFailed, fraction_within
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


def _number(raw: object) -> float:
    """A sample value as the live tick reads it: usable only when finite and not negative (else NaN)."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) and value >= 0 else math.nan


def _owner(metric: Mapping[str, Any], namespace_label: str, service_label: str, only: ServiceKey | None) -> ServiceKey:
    if only is not None:  # a per-service override: the whole answer is that service's
        return only
    return ServiceKey(str(metric.get(namespace_label, "")), str(metric.get(service_label, "")))


def _vectors(
    matrix: Sequence[Mapping[str, Any]], namespace_label: str, service_label: str, only: ServiceKey | None = None
) -> dict[ServiceKey, dict[float, float]]:
    """Per service and step, the one value the answer holds (NaN where a service has two series: the
    live tick reads that as ``MultiSeries``, not usable)."""
    out: dict[ServiceKey, dict[float, float]] = {}
    for series in matrix:
        values = out.setdefault(_owner(series.get("metric") or {}, namespace_label, service_label, only), {})
        for ts, raw in series.get("values") or []:
            k = _key(float(ts))
            values[k] = math.nan if k in values else _number(raw)
    return out


def _attainments(
    matrix: Sequence[Mapping[str, Any]], query: Query, thresholds: Mapping[ServiceKey, float]
) -> dict[ServiceKey, dict[float, float]]:
    """Per service and step, the fraction of the window's requests within the SLO target, read from the
    bucket rates by the live tick's rule (``signals.fraction_within``); missing where it is not usable."""
    rows: dict[ServiceKey, dict[float, list[tuple[float, float]]]] = {}
    for series in matrix:
        metric = series.get("metric") or {}
        key = _owner(metric, query.namespace_label, query.service_label, None)
        try:
            le = float(metric.get("le", "nan"))
        except (TypeError, ValueError):
            continue
        steps = rows.setdefault(key, {})
        for ts, raw in series.get("values") or []:
            steps.setdefault(_key(float(ts)), []).append((le, _number(raw)))
    out: dict[ServiceKey, dict[float, float]] = {}
    for key, steps in rows.items():
        if key not in thresholds:
            continue
        fractions = out.setdefault(key, {})
        for k, buckets in steps.items():
            if len({le for le, _ in buckets}) != len(buckets):
                continue  # duplicate le bounds: not usable, as in the live tick
            try:
                fraction = fraction_within(buckets, thresholds[key])
            except ValueError:
                continue
            if not math.isnan(fraction):
                fractions[k] = min(1.0, max(0.0, fraction))
    return out


def _series(
    plan: RebuildPlan,
    answers: Mapping[str, RangeAnswer],
    key: ServiceKey,
    signal: SignalName,
    parsed: dict[str, dict[ServiceKey, dict[float, float]]],
) -> tuple[dict[float, float], str | None]:
    """The service's values of one signal by step, and why not when its query failed or was not run
    (each answer is parsed once, into ``parsed``, for all the services it answers)."""
    route = plan.instant.route(key, signal)
    if not isinstance(route, Query):
        return {}, None  # Unsupported: the signal is not part of the rebuild for this service
    answer = answers.get(route.promql)
    if answer is None:
        return {}, "not run"
    if isinstance(answer, QueryFailed):
        return {}, answer.message
    if route.promql not in parsed:
        if signal == "slo_attainment":
            parsed[route.promql] = _attainments(answer, route, plan.instant.thresholds)
        else:
            parsed[route.promql] = _vectors(answer, route.namespace_label, route.service_label, route.service)
    return parsed[route.promql].get(key, {}), None


def rebuild(
    plan: RebuildPlan,
    answers: Mapping[str, RangeAnswer],
    times: Sequence[float],
    *,
    keep_seconds: float,
) -> dict[ServiceKey, Learned | RebuildFailed]:
    """Per service of ``plan``, its learned state from the range ``answers`` (keyed by PromQL text) at
    ``times`` (the range's step grid), bounded by ``keep_seconds`` like ``Learned.add``."""
    parsed: dict[str, dict[ServiceKey, dict[float, float]]] = {}

    def ready(text: str, pair: ReadyQueries) -> tuple[dict[ServiceKey, dict[float, float]], str | None]:
        answer = answers.get(text)
        if answer is None:
            return {}, "not run"
        if isinstance(answer, QueryFailed):
            return {}, answer.message
        if text not in parsed:
            parsed[text] = _vectors(answer, pair.namespace_label, pair.service_label)
        return parsed[text], None

    cutoff = (times[-1] if times else 0.0) - keep_seconds
    out: dict[ServiceKey, Learned | RebuildFailed] = {}
    for key, unit in plan.units.items():
        tokens, tokens_failed = _series(plan, answers, key, "token_rate", parsed)
        requests, requests_failed = _series(plan, answers, key, "request_rate", parsed)
        attainment, attainment_failed = _series(plan, answers, key, "slo_attainment", parsed)
        lowest: dict[float, float] = {}
        highest: dict[float, float] = {}
        ready_failed = None
        pair = plan.ready.get(key)
        if pair is not None:
            low_all, low_failed = ready(pair.lowest, pair)
            high_all, high_failed = ready(pair.highest, pair)
            lowest, highest = low_all.get(key, {}), high_all.get(key, {})
            ready_failed = low_failed or high_failed
        failed = tokens_failed or requests_failed or attainment_failed or ready_failed
        if failed is not None:
            out[key] = RebuildFailed(f"range query failed: {failed}")
            continue
        load_by_step = tokens if unit == "tokens" else requests
        points: list[CapacityPoint] = []
        load: list[LoadSample] = []
        for t in times:
            if t < cutoff:
                continue
            k = _key(t)
            total = load_by_step.get(k, math.nan)
            if math.isnan(total):
                continue
            load.append(LoadSample(time=t, load=total))
            within = attainment.get(k)
            replicas = steady(lowest.get(k), highest.get(k))
            if within is None or replicas is None:
                continue
            rate = requests.get(k, math.nan)
            weight = 0.0 if math.isnan(rate) else rate * plan.window_seconds
            point = capacity_point(t, total, replicas, within, weight)
            if point is not None:
                points.append(point)
        out[key] = Learned(unit=unit, points=tuple(points), load=tuple(load))
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
