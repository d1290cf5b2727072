"""The operator's own metrics on ``/metrics`` (prometheus_client). The names are a contract: the chart's
PrometheusRule and dashboards use them."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

SERVICE = ("namespace", "inferenceservice")

DECISIONS = Counter("inferop_decisions_total", "Cost-controller decisions by reason", [*SERVICE, "reason"])
DESIRED_REPLICAS = Gauge("inferop_desired_replicas", "Replicas the cost controller decided", SERVICE)
REPLICAS = Gauge("inferop_replicas", "Replicas that exist", SERVICE)
HOURLY_COST = Gauge("inferop_hourly_cost_dollars", "What the service costs per hour now", SERVICE)
METRICS_AVAILABLE = Gauge("inferop_metrics_available", "1 when the service's signals were usable", SERVICE)
SLO_BREACH = Gauge("inferop_slo_breach", "1 while the cost controller judges the SLO breached", SERVICE)
QUERY_ERRORS = Counter("inferop_prometheus_query_errors_total", "Prometheus queries that failed")
QUERY_SECONDS = Histogram("inferop_prometheus_query_seconds", "Prometheus query latency")
QUERIES_PER_TICK = Gauge("inferop_prometheus_queries_per_tick", "Prometheus queries in the last cost tick")
LEARNED_POINTS = Gauge("inferop_learned_capacity_points", "Capacity points the planner holds for the service", SERVICE)
LEARNED_LOAD = Gauge("inferop_learned_load_samples", "Load samples the planner holds for the service", SERVICE)
#: The learned state's time span: newest minus oldest load sample (a rebuilt state spans the history).
LEARNED_SPAN = Gauge("inferop_learned_load_span_seconds", "Time the planner's load history spans", SERVICE)
REBUILDS = Counter("inferop_state_rebuilds_total", "Rebuilds of the planner's state from Prometheus", ["result"])
RECONCILE_SECONDS = Histogram("inferop_reconcile_seconds", "Duration of one reconcile", ["kind"])


def serve(port: int) -> None:
    """Expose the metrics on ``0.0.0.0:port`` (0 disables). A taken port is logged, not fatal."""
    if port:
        try:
            start_http_server(port)
        except OSError as err:
            logging.getLogger(__name__).error("Cannot serve /metrics on port %d: %s", port, err)
