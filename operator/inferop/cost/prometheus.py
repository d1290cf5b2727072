"""The metric source of the cost controller: Prometheus through ``prometheus-api-client``.

A source is a Protocol (STYLE 11): ``query(promql) -> list | QueryFailed``. Timeouts, connection
errors and error answers come back as ``QueryFailed`` (missing data, never zero). Blocking: the
control loop calls it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests import RequestException
from urllib3.util.retry import Retry

from inferop.cost.signals import QueryFailed


class MetricSource(Protocol):
    def query(self, promql: str) -> list[dict[str, Any]] | QueryFailed: ...


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
