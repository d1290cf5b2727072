"""The metric source of the cost controller: Prometheus through ``prometheus-api-client``.

A source is a Protocol (STYLE 11): ``query(promql) -> list | QueryFailed``. Timeouts, connection
errors and error answers come back as ``QueryFailed`` (missing data, never zero). Blocking: the
control loop calls it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests import RequestException
from urllib3.util.retry import Retry

from inferop.cost.signals import QueryFailed


class MetricSource(Protocol):
    def query(self, promql: str) -> list[dict[str, Any]] | QueryFailed: ...


@runtime_checkable
class RangeSource(Protocol):
    """A source that also answers range queries (the rebuild of the planner's state needs them)."""

    def query(self, promql: str) -> list[dict[str, Any]] | QueryFailed: ...

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]] | QueryFailed: ...


#: Prometheus refuses a range query with more than 11,000 points per series; chunks stay below it.
MAX_RANGE_POINTS = 10_000


class Prometheus:
    """Instant queries against one Prometheus server, with a per-query timeout and no retries (the next
    tick is the retry)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.client = PrometheusConnect(url=url, disable_ssl=True, retry=Retry(total=0), timeout=int(max(1, timeout)))
        self.last_latency = 0.0

    def query(self, promql: str) -> list[dict[str, Any]] | QueryFailed:
        started = time.monotonic()
        try:
            result = self.client.custom_query(query=promql)
        except (PrometheusApiClientException, RequestException, OSError, ValueError) as err:
            return QueryFailed(f"Prometheus {self.url}: {type(err).__name__}: {str(err)[:300]}")
        finally:
            self.last_latency = time.monotonic() - started
        if not isinstance(result, list):
            return QueryFailed(f"Prometheus {self.url}: unexpected answer {type(result).__name__}")
        return result

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]] | QueryFailed:
        """A range query from ``start`` to ``end`` (unix seconds) every ``step`` seconds, as one matrix.

        Long ranges are split into chunks of at most ``MAX_RANGE_POINTS`` steps on the same step grid and
        the series' values joined, so the answer is the one Prometheus would give without the limit.
        The client sends whole seconds, so ``start`` and ``step`` should be whole seconds for the answer's
        timestamps to fall on ``start + k x step``.
        """
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        chunk = step * (MAX_RANGE_POINTS - 1)
        at = start
        while at <= end:
            until = min(end, at + chunk)
            try:
                result = self.client.custom_query_range(
                    query=promql,
                    start_time=datetime.fromtimestamp(at, tz=UTC),
                    end_time=datetime.fromtimestamp(until, tz=UTC),
                    step=f"{step:g}s",
                )
            except (PrometheusApiClientException, RequestException, OSError, ValueError) as err:
                return QueryFailed(f"Prometheus {self.url}: {type(err).__name__}: {str(err)[:300]}")
            if not isinstance(result, list):
                return QueryFailed(f"Prometheus {self.url}: unexpected answer {type(result).__name__}")
            for series in result:
                labels = tuple(sorted((series.get("metric") or {}).items()))
                entry = merged.setdefault(labels, {"metric": series.get("metric") or {}, "values": []})
                entry["values"].extend(series.get("values") or [])
            at = until + step
        return list(merged.values())
