"""The I/O side of the planner's state: rebuild ``History.learned`` from Prometheus, measure cold starts.

What this module is for: the cost tick (``reconcile.costtick``) calls :class:`PlannerInputs` once per
tick with the services due. It

- rebuilds the learned state (capacity points, load history) of every service it has not rebuilt yet
  (the operator just started, or the service is new) from range queries over the CostPolicy's history
  window (``cost.rebuild`` plans them, batched per runtime family, and reads the answers); a failed
  rebuild is retried after :data:`RETRY_SECONDS`, never replaced by an empty state;
- measures each service's cold start (``cost.coldstart``): one cluster-wide pod list when a service's
  ready replicas rose or every ``coldstart.REMEASURE_SECONDS``, the runtime profile's value until then.

Blocking I/O (Prometheus, the API server): called from the tick's worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from inferop import metrics
from inferop.cost import coldstart
from inferop.cost.queries import PromLabels, ServiceKey, ServiceQuerySpec
from inferop.cost.rebuild import RangeAnswer, RebuildFailed, grid, merge, plan_rebuild, rebuild
from inferop.cost.signals import QueryFailed
from inferop.cost.state import Learned
from inferop.reconcile.kube import Kube, KubeError, path
from inferop.reconcile.prometheus import MetricSource, RangeSource

log = logging.getLogger(__name__)
#: Seconds before a failed rebuild is tried again.
RETRY_SECONDS = 300.0


@dataclass(frozen=True)
class Due:
    """One service the tick decides for, with what its rebuild needs."""

    spec: ServiceQuerySpec
    #: The CostPolicy's history window and decision interval (the range and its step).
    history_seconds: float
    step_seconds: float
    ready: int


@dataclass
class _Service:
    rebuilt: bool = False
    retry_at: float = float("-inf")
    last_ready: int | None = None
    cold_start: float | None = None


@dataclass
class PlannerInputs:
    """Per service: whether its learned state was rebuilt, and its measured cold start."""

    kube: Kube | None
    enabled: bool = True
    services: dict[ServiceKey, _Service] = field(default_factory=dict)
    measured_at: float | None = None
    #: Range queries run by the last ``rebuild`` call (tests and the tick report read it).
    last_queries: int = 0

    def rebuild(
        self,
        due: Iterable[Due],
        learned: Mapping[ServiceKey, Learned],
        source: MetricSource | None,
        *,
        window: str,
        labels: PromLabels,
        now: float,
    ) -> dict[ServiceKey, Learned]:
        """The learned state of every due service that needs a rebuild, merged with what the live ticks
        learned meanwhile (``learned``); services not rebuilt (disabled, failed, not due) are absent."""
        self.last_queries = 0
        pending = [d for d in due if self._needs(d.spec.key, now)]
        if not pending:
            return {}
        if not self.enabled:
            for d in pending:
                self.services[d.spec.key].rebuilt = True
            return {}
        if not isinstance(source, RangeSource):
            self._failed(pending, now, "no Prometheus with range queries configured")
            return {}
        out: dict[ServiceKey, Learned] = {}
        groups: dict[tuple[float, float], list[Due]] = {}
        for d in pending:
            groups.setdefault((d.history_seconds, d.step_seconds), []).append(d)
        for (keep, step), group in groups.items():
            plan = plan_rebuild([d.spec for d in group], window=window, labels=labels)
            times = grid(now, keep, step)
            answers: dict[str, RangeAnswer] = {}
            for text in plan.queries:
                answers[text] = source.query_range(text, times[0], times[-1], step) if times else []
                self.last_queries += 1
                if isinstance(answers[text], QueryFailed):
                    break  # Prometheus is down or refuses: the others would fail the same way
            for key, result in rebuild(plan, answers, times, keep_seconds=keep).items():
                if isinstance(result, RebuildFailed):
                    metrics.REBUILDS.labels("failed").inc()
                    self._failed([d for d in group if d.spec.key == key], now, result.reason)
                    continue
                metrics.REBUILDS.labels("rebuilt").inc()
                self.services[key].rebuilt = True
                out[key] = merge(result, learned.get(key), keep_seconds=keep)
                log.info(
                    "Cost controller: %s: learned state rebuilt from Prometheus (%d capacity points, %d load samples)",
                    key,
                    len(out[key].points),
                    len(out[key].load),
                )
        return out

    def _needs(self, key: ServiceKey, now: float) -> bool:
        service = self.services.setdefault(key, _Service())
        return not service.rebuilt and now >= service.retry_at

    def _failed(self, due: Iterable[Due], now: float, reason: str) -> None:
        for d in due:
            self.services[d.spec.key].retry_at = now + RETRY_SECONDS
            log.warning(
                "Cost controller: %s: learned state not rebuilt (%s); retrying in %.0f s",
                d.spec.key,
                reason,
                RETRY_SECONDS,
            )

    def cold_starts(self, due: Iterable[Due], now: float) -> dict[ServiceKey, float]:
        """Each due service's cold start: measured from its pods, else its runtime profile's."""
        items = list(due)
        rose = False
        for d in items:
            service = self.services.setdefault(d.spec.key, _Service())
            rose = rose or (service.last_ready is not None and d.ready > service.last_ready)
            service.last_ready = d.ready
        unmeasured = any(self.services[d.spec.key].cold_start is None for d in items)
        if self.kube is not None and items and coldstart.due(now, self.measured_at, rose or unmeasured):
            defaults = {d.spec.key: d.spec.runtime.cold_start_seconds for d in items}
            try:
                pods = self.kube.list(path("v1", "Pod"), label_selector=coldstart.SERVICE_POD_LABEL)
            except KubeError as err:
                # Not every tick: again after REMEASURE_SECONDS (e.g. a namespaced install may not list pods).
                log.warning("Cost controller: cannot list pods to measure cold starts: %s", err)
                self.measured_at = now
                for d in items:
                    service = self.services[d.spec.key]
                    service.cold_start = service.cold_start or d.spec.runtime.cold_start_seconds
            else:
                for key, seconds in coldstart.measure(pods, defaults).items():
                    self.services[key].cold_start = seconds
                self.measured_at = now
        return {d.spec.key: self.services[d.spec.key].cold_start or d.spec.runtime.cold_start_seconds for d in items}
