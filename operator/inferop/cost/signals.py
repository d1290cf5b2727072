"""Read Prometheus answers into per-service observations. Pure parsing.

What this module is for: turn the instant vectors returned for a :class:`~inferop.cost.queries.QueryPlan`
(the ``data.result`` list, ``[{"metric": {...}, "value": [<unix ts>, "<number>"]}, ...]``, exactly what
prometheus-api-client's ``custom_query`` returns) into one :class:`Observation` per service and
signal, with the sample's age (``now - ts``) and a status that says what is wrong with it.

Rules:

- Missing data is never zero. A service with no series in an answer is ``Empty``; a query that failed
  (timeout, connection error, HTTP error: the caller passes :class:`QueryFailed`) or was not run is
  ``QueryFailed``; a value of ``NaN`` is ``NaN``; ``+Inf``/``-Inf`` is ``Infinite``; a negative value
  (none of our signals can be negative) is ``Negative``; an answer that cannot be read is
  ``Malformed``. Only ``Ok`` carries a value.
- Two or more series for the same service are an error (``MultiSeries``), never summed or averaged:
  they mean the query or the labels are wrong (e.g. a per-service override that is not aggregated,
  or two scrape jobs for the same pods), and any number picked from them would be a guess.
- Series without the namespace or service label cannot be attributed and are ignored.
- The age is ``now - sample timestamp``, never negative. For an instant query the timestamp is the
  evaluation time; the queries bound staleness themselves (see ``queries``). ``decide()`` judges
  whether an age is too old, because that depends on the CostPolicy interval.
- A signal no query can answer (the runtime has no such series, the service has no GPU) is
  ``Unsupported`` with the reason.

Must not: do I/O, import a Prometheus client, read the clock (``now`` is passed in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from inferop.cost.queries import ATTAINMENT_STATISTIC, Query, QueryPlan, ServiceKey, SignalName, Unsupported


class ObservationStatus(StrEnum):
    OK = "Ok"
    EMPTY = "Empty"
    NAN = "NaN"
    INFINITE = "Infinite"
    NEGATIVE = "Negative"
    MULTI_SERIES = "MultiSeries"
    QUERY_FAILED = "QueryFailed"
    MALFORMED = "Malformed"
    UNSUPPORTED = "Unsupported"


_DESCRIPTIONS = {
    ObservationStatus.EMPTY: "no data",
    ObservationStatus.NAN: "NaN",
    ObservationStatus.INFINITE: "infinite",
    ObservationStatus.NEGATIVE: "negative",
    ObservationStatus.MULTI_SERIES: "several series for one service",
    ObservationStatus.QUERY_FAILED: "query failed",
    ObservationStatus.MALFORMED: "unreadable answer",
    ObservationStatus.UNSUPPORTED: "not available",
}


@dataclass(frozen=True)
class Observation:
    """One signal of one service: a value only when ``status`` is Ok."""

    status: ObservationStatus
    value: float | None = None
    #: Seconds between the sample's timestamp and ``now`` (None when no sample was read).
    age_seconds: float | None = None
    #: How many series the answer had for this service.
    series: int = 0
    #: How the value was aggregated ("p95", "mean", "avg", "sum", "override").
    statistic: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.status is ObservationStatus.OK) != (self.value is not None):
            raise ValueError("an Observation has a value exactly when its status is Ok")
        if self.value is not None and not (math.isfinite(self.value) and self.value >= 0):
            raise ValueError(f"an Ok observation needs a finite, non-negative value, got {self.value}")

    @classmethod
    def ok(cls, value: float, age_seconds: float = 0.0, statistic: str = "") -> Observation:
        return cls(ObservationStatus.OK, value=value, age_seconds=age_seconds, series=1, statistic=statistic)

    @classmethod
    def missing(cls, status: ObservationStatus = ObservationStatus.EMPTY, detail: str = "") -> Observation:
        return cls(status, detail=detail)

    @property
    def usable(self) -> bool:
        """Ok (finite, non-negative, one series). Staleness is judged by decide()."""
        return self.status is ObservationStatus.OK

    def describe(self) -> str:
        """What is wrong with it, for messages: "NaN", "no data (...)", ..."""
        if self.status is ObservationStatus.OK:
            return f"{self.value:g}"
        text = _DESCRIPTIONS[self.status]
        if self.status is ObservationStatus.MULTI_SERIES:
            text = f"{self.series} series for one service"
        return f"{text} ({self.detail})" if self.detail else text

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (no NaN or infinity: those are statuses, not values)."""
        out: dict[str, Any] = {"status": str(self.status)}
        if self.value is not None:
            out["value"] = self.value
        if self.age_seconds is not None:
            out["ageSeconds"] = self.age_seconds
        if self.statistic:
            out["statistic"] = self.statistic
        if self.series > 1:
            out["series"] = self.series
        if self.detail:
            out["detail"] = self.detail
        return out


NOT_OBSERVED = Observation(ObservationStatus.EMPTY, detail="not observed")


@dataclass(frozen=True)
class Observations:
    """Everything observed about one service in one tick, in the units decide() uses."""

    latency_milliseconds: Observation = NOT_OBSERVED
    queue_depth_per_replica: Observation = NOT_OBSERVED
    request_rate: Observation = NOT_OBSERVED
    gpu_utilization_percent: Observation = NOT_OBSERVED
    #: The fraction (0-1) of the requests of the rate window that finished within the SLO target.
    slo_attainment: Observation = NOT_OBSERVED
    #: Prompt plus generated tokens per second, summed over the service's pods over the rate window
    #: (NOT_OBSERVED when the runtime exports no token counters: the load is then requests/s).
    token_rate: Observation = NOT_OBSERVED

    def by_signal(self) -> dict[SignalName, Observation]:
        return {
            "latency": self.latency_milliseconds,
            "queue_depth": self.queue_depth_per_replica,
            "request_rate": self.request_rate,
            "gpu_utilization": self.gpu_utilization_percent,
            "slo_attainment": self.slo_attainment,
            "token_rate": self.token_rate,
        }


@dataclass(frozen=True)
class QueryFailed:
    """Passed instead of an answer when a query could not be run (timeout, connection or HTTP error)."""

    message: str


Answer = Sequence[Mapping[str, Any]] | QueryFailed


def _sample(item: Mapping[str, Any], now: float, statistic: str) -> Observation:
    try:
        ts_raw, value_raw = item["value"]
        ts, value = float(ts_raw), float(value_raw)
    except (KeyError, TypeError, ValueError) as error:
        return Observation(ObservationStatus.MALFORMED, series=1, detail=f"cannot read sample: {error}")
    if not math.isfinite(ts):
        return Observation(ObservationStatus.MALFORMED, series=1, detail=f"sample timestamp {ts_raw!r}")
    age = max(0.0, now - ts)
    if math.isnan(value):
        return Observation(ObservationStatus.NAN, age_seconds=age, series=1, statistic=statistic)
    if math.isinf(value):
        return Observation(ObservationStatus.INFINITE, age_seconds=age, series=1, statistic=statistic)
    if value < 0:
        return Observation(
            ObservationStatus.NEGATIVE, age_seconds=age, series=1, statistic=statistic, detail=f"{value:g}"
        )
    return Observation.ok(value, age, statistic)


def _labels(item: Mapping[str, Any]) -> Mapping[str, Any]:
    metric = item.get("metric", {})
    if not isinstance(metric, Mapping):
        raise ValueError("a sample's metric is not an object")
    return metric


def _check_vector(result: object) -> Sequence[Mapping[str, Any]]:
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        raise ValueError(f"not an instant vector: {type(result).__name__}")
    for item in result:
        if not isinstance(item, Mapping):
            raise ValueError(f"not an instant vector: element of type {type(item).__name__}")
    return result


def _multi(labelsets: list[Mapping[str, Any]], statistic: str) -> Observation:
    shown = "; ".join(",".join(f"{k}={v}" for k, v in sorted(ls.items())) for ls in labelsets[:3])
    return Observation(ObservationStatus.MULTI_SERIES, series=len(labelsets), statistic=statistic, detail=shown)


def parse_vector(
    result: Sequence[Mapping[str, Any]],
    *,
    now: float,
    namespace_label: str = "namespace",
    service_label: str = "inferenceservice",
    statistic: str = "",
) -> dict[ServiceKey, Observation]:
    """A batched answer, one observation per service found in it. Raises ValueError if unreadable.

    Services absent from the answer are absent from the dict (the caller reports them ``Empty``).
    """
    grouped: dict[ServiceKey, list[Mapping[str, Any]]] = {}
    for item in _check_vector(result):
        labels = _labels(item)
        namespace, service = labels.get(namespace_label), labels.get(service_label)
        if not namespace or not service:
            continue
        grouped.setdefault(ServiceKey(str(namespace), str(service)), []).append(item)
    out: dict[ServiceKey, Observation] = {}
    for key, items in grouped.items():
        if len(items) > 1:
            out[key] = _multi([_labels(i) for i in items], statistic)
        else:
            out[key] = _sample(items[0], now, statistic)
    return out


def parse_single(result: object, *, now: float, statistic: str = "") -> Observation:
    """An answer that belongs to one service (a per-service override): exactly one series, or a scalar."""
    if isinstance(result, Sequence) and len(result) == 2 and not isinstance(result[0], Mapping):
        # A scalar result: [ts, "value"].
        return _sample({"value": result}, now, statistic)
    try:
        vector = _check_vector(result)
    except ValueError as error:
        return Observation(ObservationStatus.MALFORMED, statistic=statistic, detail=str(error))
    if not vector:
        return Observation(ObservationStatus.EMPTY, statistic=statistic)
    if len(vector) > 1:
        return _multi([_labels(i) for i in vector], statistic)
    return _sample(vector[0], now, statistic)


def fraction_within(buckets: Sequence[tuple[float, float]], threshold: float) -> float:
    """The fraction of observations at or below ``threshold`` from cumulative ``(le, count)`` buckets.

    Read the way ``histogram_quantile`` reads a histogram, inverted: counts are made monotonic, the
    first bucket's lower bound is 0, and within a bucket observations are spread linearly. Exact when
    ``threshold`` is a bucket bound. Above the largest finite bound, the fraction of that bound (the
    most a histogram can vouch for). NaN when the total (the ``+Inf`` bucket) is 0 or a count is NaN.
    """
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("no +Inf bucket")
    if any(math.isnan(count) for _, count in ordered):
        return math.nan
    monotonic: list[tuple[float, float]] = []
    highest = 0.0
    for le, count in ordered:
        highest = max(highest, count)
        monotonic.append((le, highest))
    total = monotonic[-1][1]
    if total <= 0:
        return math.nan
    below_le, below_count = 0.0, 0.0
    for le, count in monotonic:
        if math.isinf(le):
            return below_count / total
        if threshold <= le:
            if le <= below_le:
                return count / total
            share = (threshold - below_le) / (le - below_le)
            return (below_count + max(0.0, share) * (count - below_count)) / total
        below_le, below_count = le, count
    return below_count / total


def parse_attainment(
    result: Sequence[Mapping[str, Any]],
    *,
    now: float,
    thresholds: Mapping[ServiceKey, float],
    namespace_label: str = "namespace",
    service_label: str = "inferenceservice",
) -> dict[ServiceKey, Observation]:
    """A batched answer of bucket rates (``sum by (<ns>, <svc>, le)``), one SLO attainment per service
    with a threshold (in the histogram's unit). Raises ValueError if unreadable (a sample without a
    numeric ``le`` or value). Services absent from the answer are absent from the dict."""
    grouped: dict[ServiceKey, list[tuple[float, float, float]]] = {}
    for item in _check_vector(result):
        labels = _labels(item)
        namespace, service = labels.get(namespace_label), labels.get(service_label)
        if not namespace or not service:
            continue
        try:
            le = float(str(labels["le"]))
            ts_raw, value_raw = item["value"]
            ts, value = float(ts_raw), float(value_raw)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"cannot read a bucket sample: {error}") from error
        grouped.setdefault(ServiceKey(str(namespace), str(service)), []).append((le, value, ts))
    return {key: _attainment(rows, thresholds[key], now) for key, rows in grouped.items() if key in thresholds}


def _attainment(rows: list[tuple[float, float, float]], threshold: float, now: float) -> Observation:
    statistic = ATTAINMENT_STATISTIC
    age = max(0.0, now - min(t for _, _, t in rows))
    bounds = {le for le, _, _ in rows}
    if len(bounds) != len(rows):
        detail = f"{len(rows) - len(bounds)} duplicate le bounds"
        return Observation(ObservationStatus.MULTI_SERIES, series=len(rows), statistic=statistic, detail=detail)
    try:
        fraction = fraction_within([(le, value) for le, value, _ in rows], threshold)
    except ValueError as error:
        return Observation(ObservationStatus.MALFORMED, series=1, statistic=statistic, detail=str(error))
    if math.isnan(fraction):  # no requests in the window, or a NaN bucket
        return Observation(ObservationStatus.NAN, age_seconds=age, series=1, statistic=statistic)
    return Observation.ok(min(1.0, max(0.0, fraction)), age, statistic)


def _observe(
    query: Query,
    answer: Answer | None,
    key: ServiceKey,
    now: float,
    cache: dict[Query, Any],
    thresholds: Mapping[ServiceKey, float],
) -> Observation:
    if answer is None:
        return Observation(ObservationStatus.QUERY_FAILED, statistic=query.statistic, detail="not run")
    if isinstance(answer, QueryFailed):
        return Observation(ObservationStatus.QUERY_FAILED, statistic=query.statistic, detail=answer.message)
    if query.service is not None:
        return parse_single(answer, now=now, statistic=query.statistic)
    if query not in cache:
        try:
            if query.signal == "slo_attainment":
                cache[query] = parse_attainment(
                    answer,
                    now=now,
                    thresholds=thresholds,
                    namespace_label=query.namespace_label,
                    service_label=query.service_label,
                )
            else:
                cache[query] = parse_vector(
                    answer,
                    now=now,
                    namespace_label=query.namespace_label,
                    service_label=query.service_label,
                    statistic=query.statistic,
                )
        except ValueError as error:
            cache[query] = error
    parsed = cache[query]
    if isinstance(parsed, ValueError):
        return Observation(ObservationStatus.MALFORMED, statistic=query.statistic, detail=str(parsed))
    found: Observation | None = parsed.get(key)
    if found is None:
        detail = f"no series with {query.namespace_label}={key.namespace!r}, {query.service_label}={key.name!r}"
        return Observation(ObservationStatus.EMPTY, statistic=query.statistic, detail=detail)
    return found


def collect(plan: QueryPlan, answers: Mapping[Query, Answer], *, now: float) -> dict[ServiceKey, Observations]:
    """Observations for every service of ``plan`` from the answers to its queries.

    ``answers`` maps each query to its ``data.result`` list, or to :class:`QueryFailed`; a query
    missing from ``answers`` counts as failed ("not run").
    """
    cache: dict[Query, Any] = {}
    out: dict[ServiceKey, Observations] = {}
    for key, routes in plan.routes.items():
        observed: dict[SignalName, Observation] = {}
        for signal, route in routes.items():
            if isinstance(route, Unsupported):
                observed[signal] = Observation(ObservationStatus.UNSUPPORTED, detail=route.reason)
            else:
                observed[signal] = _observe(route, answers.get(route), key, now, cache, plan.thresholds)
        out[key] = Observations(
            latency_milliseconds=observed.get("latency", NOT_OBSERVED),
            queue_depth_per_replica=observed.get("queue_depth", NOT_OBSERVED),
            request_rate=observed.get("request_rate", NOT_OBSERVED),
            gpu_utilization_percent=observed.get("gpu_utilization", NOT_OBSERVED),
            slo_attainment=observed.get("slo_attainment", NOT_OBSERVED),
            token_rate=observed.get("token_rate", NOT_OBSERVED),
        )
    return out
