"""The cost controller's pure core: which PromQL to ask, how to read the answers, what to decide.

- ``queries``: batched PromQL builders. The number of queries per tick depends on the distinct
  (runtime series, SLO metric, percentile) combinations, never on the number of services.
- ``signals``: parse Prometheus instant vectors into per-service ``Observation``s. Missing data is
  never zero: empty, NaN, infinite, negative and multi-series answers are flagged, not summed.
- ``decide``: ``decide()``, a pure and deterministic function from observations, spec, CostPolicy,
  tenant headroom (``inferop.tenancy.headroom.Headroom``) and history to a ``Decision`` that explains
  itself; a pipeline of steps, each in its own module: ``reading``, ``plan``, ``capacity``,
  ``forecast``, ``guard``, ``stabilize`` and ``bounds``, ``explain`` (``history``: what it remembers,
  ``reasons``: the names of its reasons and bounds, ``tuning``: its constants).
- ``backtest``: the arithmetic of ``inferop backtest`` (replaying ``decide()`` over recorded series).

Nothing here does I/O: no Kubernetes client, no kopf, no Prometheus client, no clock (``now`` is
passed in). The cost tick that runs the queries, calls ``decide()`` and acts is
``inferop.reconcile.costtick``; the Prometheus client is ``inferop.reconcile.prometheus``.
"""

from inferop.cost.decide import Decision, History, LimitedBy, Reason, decide
from inferop.cost.queries import (
    PromLabels,
    Query,
    QueryOverrides,
    QueryPlan,
    ServiceKey,
    ServiceQuerySpec,
    plan_queries,
    rate_window,
    service_query_spec,
)
from inferop.cost.signals import (
    Observation,
    Observations,
    ObservationStatus,
    QueryFailed,
    collect,
    parse_single,
    parse_vector,
)

__all__ = [
    "Decision",
    "History",
    "LimitedBy",
    "Observation",
    "ObservationStatus",
    "Observations",
    "PromLabels",
    "Query",
    "QueryFailed",
    "QueryOverrides",
    "QueryPlan",
    "Reason",
    "ServiceKey",
    "ServiceQuerySpec",
    "collect",
    "decide",
    "parse_single",
    "parse_vector",
    "plan_queries",
    "rate_window",
    "service_query_spec",
]
