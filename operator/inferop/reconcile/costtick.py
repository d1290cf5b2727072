"""The cost controller: one loop for every autoscaled InferenceService (not a timer per object).

Each tick: the services whose CostPolicy interval has elapsed are planned into a few batched PromQL
queries (``queries.plan_queries``: the count depends on the runtimes in use, not on the number of
services), the answers become Observations (``signals.collect``), and the pure ``decide()`` chooses
replicas per service with the tenant's headroom. Then, per service:

- explain: ``status.autoscaling`` (desiredReplicas, limitedBy, lastDecision, recentDecisions),
  ``status.signals`` (printer columns P95, GPU%), ``MetricsAvailable``, an Event when the decision
  changes, and operator metrics;
- act (Enforce mode only): the decision goes into ``status.autoscaling.desiredReplicas`` and the
  service is reconciled, which renders it as the HPA's bounds (``reconcile.isvc.plan_scale``), so
  the reconcile loop stays the one writer of the HPA. Recommend mode records and changes nothing.

Writes only on change: a decision that repeats, or signals that moved little, write nothing.
I/O (Prometheus, API) is blocking: ``run`` calls ``tick`` in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from inferop import metrics
from inferop.api import InvalidObject
from inferop.api.common import API_VERSION
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import InferenceService
from inferop.api.times import iso_at, now_iso
from inferop.cost.decide import Decision, History, decide
from inferop.cost.queries import PromLabels, ServiceKey, plan_queries, rate_window, service_query_spec
from inferop.cost.signals import Observations, QueryFailed, collect
from inferop.cost.window import history_seconds, seconds
from inferop.reconcile import cache, coststatus, status
from inferop.reconcile.isvc import post_ready_warning, reconcile, write_status
from inferop.reconcile.kube import Kube, KubeError, path
from inferop.reconcile.prometheus import MetricSource, Prometheus
from inferop.reconcile.rebuild import Due, PlannerInputs
from inferop.reconcile.serial import KeyedRunner
from inferop.reconcile.zerotick import ZeroTick, at_zero
from inferop.tenancy.headroom import Tenancy
from inferop.tenancy.usage import Allowance, allowance

log = logging.getLogger(__name__)
METRICS_AVAILABLE = "MetricsAvailable"
#: Whether the service's ``spec.autoscaling.policy`` names an existing CostPolicy.
POLICY_RESOLVED = "PolicyResolved"
RECENT_DECISIONS = 5


@dataclass
class ServiceState:
    history: History = field(default_factory=History)
    last_run: float = -math.inf
    #: The time a new replica takes to serve (``reconcile.rebuild.PlannerInputs.cold_starts``).
    cold_start_seconds: float | None = None


@dataclass
class TickReport:
    decided: int = 0
    queries: int = 0
    #: Range queries run to rebuild learned state this tick (0 on most ticks).
    rebuild_queries: int = 0
    acted: list[str] = field(default_factory=list)


def _signals(obs: Observations) -> dict[str, int | float | None]:
    def num(o: Any) -> int | None:
        return round(o.value) if o.usable and o.value is not None else None

    attainment = obs.slo_attainment.value if obs.slo_attainment.usable else None
    return {
        "latencyMilliseconds": num(obs.latency_milliseconds),
        "gpuUtilizationPercent": num(obs.gpu_utilization_percent),
        "queueDepth": num(obs.queue_depth_per_replica),
        "sloAttainmentPercent": round(attainment * 100, 1) if attainment is not None else None,
    }


def signals_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the printed signals moved enough to be worth a write (10% latency, 5 points GPU, 1 queue,
    0.5 points of SLO attainment)."""
    keys = ("latencyMilliseconds", "gpuUtilizationPercent", "queueDepth", "sloAttainmentPercent")
    for key in keys:
        tolerance = 0.10 if key == "latencyMilliseconds" else None
        a, b = old.get(key), new.get(key)
        if (a is None) != (b is None):
            return True
        if a is None or b is None:
            continue
        if tolerance is not None and abs(a - b) > tolerance * max(abs(a), 1):
            return True
        if key == "gpuUtilizationPercent" and abs(a - b) >= 5:
            return True
        if key == "queueDepth" and a != b:
            return True
        if key == "sloAttainmentPercent" and abs(a - b) >= 0.5:
            return True
    return False


def status_plan(
    body: Mapping[str, Any], decision: Decision, obs: Observations, now: float, policy: status.Cond | None = None
) -> dict[str, Any]:
    """The status merge patch for one decision (pure); empty when nothing a reader cares about changed.
    ``policy``: the ``PolicyResolved`` condition (``resolve_policy``), written when it changes."""
    current_status = body.get("status") or {}
    auto = current_status.get("autoscaling") or {}
    last = auto.get("lastDecision") or {}
    patch: dict[str, Any] = {}
    autoscaling: dict[str, Any] = {}
    if auto.get("desiredReplicas") != decision.desired_replicas:
        autoscaling["desiredReplicas"] = decision.desired_replicas
    if auto.get("limitedBy") != decision.limited_by:
        autoscaling["limitedBy"] = decision.limited_by
    if (last.get("to"), last.get("reason")) != (decision.desired_replicas, str(decision.reason)):
        record = {"time": iso_at(now), **decision.to_json()}
        autoscaling["lastDecision"] = record
        autoscaling["recentDecisions"] = [record, *(auto.get("recentDecisions") or [])][:RECENT_DECISIONS]
    autoscaling.update(coststatus.planner_status(auto, decision.capacity, decision.forecast))
    if autoscaling:
        patch["autoscaling"] = autoscaling
    new_signals = _signals(obs)
    if signals_changed(current_status.get("signals") or {}, new_signals):
        patch["signals"] = new_signals
    cond = status.Cond(
        METRICS_AVAILABLE,
        "True" if decision.metrics_available else "False",
        "SignalsObserved" if decision.metrics_available else "MetricsUnavailable",
        decision.metrics_message or ("all signals observed" if decision.metrics_available else "no usable signals"),
    )
    conditions = current_status.get("conditions") or []
    changed = []
    old = next((c for c in conditions if c.get("type") == METRICS_AVAILABLE), None)
    if old is None or old.get("status") != cond.status:
        changed.append(cond)
    if policy is not None:
        before = next((c for c in conditions if c.get("type") == POLICY_RESOLVED), None)
        if before is None or (before.get("status"), before.get("message")) != (policy.status, policy.message):
            changed.append(policy)
    if changed:
        generation = int(body["metadata"].get("generation", 0) or 0)
        patch["conditions"] = status.merge_conditions(conditions, changed, generation, now_iso())
    return patch


def resolve_policy(name: str, policies: Mapping[str, CostPolicySpec]) -> tuple[CostPolicySpec, status.Cond]:
    """The CostPolicy a service names, or what the controller uses instead (pure), and the
    ``PolicyResolved`` condition that says which: a misspelt name must not silently mean the defaults."""
    if name in policies:
        return policies[name], status.Cond(POLICY_RESOLVED, "True", "PolicyFound", f'using CostPolicy "{name}"')
    if name == "default":  # the field's default: without a CostPolicy "default" the built-in defaults apply
        message = 'no CostPolicy "default": using the built-in defaults'
        return CostPolicySpec(), status.Cond(POLICY_RESOLVED, "True", "BuiltInDefaults", message)
    if "default" in policies:
        instead = 'CostPolicy "default" instead'
        fallback = policies["default"]
    else:
        instead = "the built-in defaults instead (there is no CostPolicy \"default\" either)"
        fallback = CostPolicySpec()
    message = f'CostPolicy "{name}" (spec.autoscaling.policy) not found; using {instead}'
    return fallback, status.Cond(POLICY_RESOLVED, "False", "PolicyNotFound", message)


def policy_event(old_status: Mapping[str, Any], patch: Mapping[str, Any]) -> status.Event | None:
    """A Warning when the patch turns PolicyResolved False (or changes why), Normal when it heals."""
    new = next((c for c in patch.get("conditions") or [] if c.get("type") == POLICY_RESOLVED), None)
    if new is None:
        return None
    before = next((c for c in old_status.get("conditions") or [] if c.get("type") == POLICY_RESOLVED), None)
    if new["status"] == "False":
        if before is not None and (before.get("status"), before.get("message")) == ("False", new["message"]):
            return None
        return status.Event("Warning", str(new["reason"]), str(new["message"]))
    if before is not None and before.get("status") == "False":
        return status.Event("Normal", str(new["reason"]), str(new["message"]))
    return None


def record_metrics(
    labels: tuple[str, str], decision: Decision, current: int, current_status: Mapping[str, Any]
) -> None:
    """The operator's gauges for one decision. ``inferop_slo_breach`` is decide()'s own verdict
    (``Decision.slo_breached``), so the gauge never contradicts the decision beside it."""
    metrics.DESIRED_REPLICAS.labels(*labels).set(decision.desired_replicas)
    metrics.REPLICAS.labels(*labels).set(current)
    metrics.METRICS_AVAILABLE.labels(*labels).set(1 if decision.metrics_available else 0)
    metrics.SLO_BREACH.labels(*labels).set(1 if decision.slo_breached else 0)
    learned = decision.history.learned
    metrics.LEARNED_POINTS.labels(*labels).set(len(learned.points))
    metrics.LEARNED_LOAD.labels(*labels).set(len(learned.load))
    metrics.LEARNED_SPAN.labels(*labels).set(learned.load[-1].time - learned.load[0].time if learned.load else 0)
    try:
        hourly = (current_status.get("cost") or {}).get("hourly")
        # Unknown (the GPUClass is gone) is NaN, not 0.
        metrics.HOURLY_COST.labels(*labels).set(float(hourly) if hourly is not None else math.nan)
    except ValueError:
        pass


class CostController:
    def __init__(
        self,
        kube: Kube,
        prometheus_url: str | None,
        rate_window_override: str | None = None,
        source_factory: Callable[[str], MetricSource] = Prometheus,
        clock: Callable[[], float] = time.time,
        runner: KeyedRunner | None = None,
        rebuild_state: bool = True,
    ) -> None:
        self.kube = kube
        #: Shared with the kopf handlers: one writer of a service's status and children at a time.
        self.runner = runner
        self.default_url = prometheus_url
        self.rate_window_override = rate_window_override
        self.source_factory = source_factory
        self.sources: dict[str, MetricSource] = {}
        self.clock = clock
        self.state: dict[ServiceKey, ServiceState] = {}
        #: Rebuilds ``History.learned`` from Prometheus for services not seen yet, measures cold starts.
        self.planner_inputs = PlannerInputs(kube, enabled=rebuild_state)
        #: Scale to zero: the way down (reconcile.zerotick); the activator's annotation wakes services.
        self.zero = ZeroTick(kube)

    def _source(self, url: str | None) -> MetricSource | None:
        if not url:
            return None
        if url not in self.sources:
            self.sources[url] = self.source_factory(url)
        return self.sources[url]

    def interval(self, indexes: cache.Indexes) -> float:
        policies = cache.cost_policies(indexes)
        return float(min([p.interval_seconds for p in policies.values()] or [CostPolicySpec().interval_seconds]))

    def tick(self, indexes: cache.Indexes) -> TickReport:
        now = self.clock()
        report = TickReport()
        policies = cache.cost_policies(indexes)
        default = policies.get("default", CostPolicySpec())
        classes = cache.gpuclasses(indexes)
        due: list[tuple[dict[str, Any], InferenceService, CostPolicySpec, status.Cond]] = []
        for body in cache.all_services(indexes):
            if body["metadata"].get("deletionTimestamp"):
                continue
            try:
                isvc = cache.service_model(body)
            except InvalidObject:
                continue
            if isvc.spec.autoscaling is None or at_zero(body):  # at zero: the activator wakes it
                continue
            policy, resolved = resolve_policy(isvc.spec.autoscaling.policy, policies)
            state = self.state.setdefault(ServiceKey(isvc.namespace, isvc.name), ServiceState())
            if now - state.last_run >= policy.interval_seconds - 0.5:
                due.append((body, isvc, policy, resolved))
        if not due:
            return report
        window = self.rate_window_override or rate_window(min(p.interval_seconds for _, _, p, _ in due))
        labels = PromLabels.from_policy(default)
        query_plan = plan_queries([service_query_spec(i) for _, i, _, _ in due], window=window, labels=labels)
        source = self._source(default.prometheus.url or self.default_url)
        report.rebuild_queries = self._planner_state(due, source, window, labels, now)
        answers: dict[Any, Any] = {}
        for query in query_plan.queries:
            if source is None:
                answers[query] = QueryFailed(
                    "no Prometheus configured: set INFEROP_PROMETHEUS_URL, "
                    "inferop run --prometheus-url, or the CostPolicy's spec.prometheus.url"
                )
                continue
            with metrics.QUERY_SECONDS.time():
                answers[query] = source.query(query.promql)
            if isinstance(answers[query], QueryFailed):
                metrics.QUERY_ERRORS.inc()
        report.queries = len(query_plan.queries) if source is not None else 0
        metrics.QUERIES_PER_TICK.set(report.queries)
        observed = collect(query_plan, answers, now=now)
        for body, isvc, policy, resolved in due:
            key = ServiceKey(isvc.namespace, isvc.name)
            try:
                self._decide_one(
                    body, isvc, policy, observed[key], now, classes, indexes, report, resolved, seconds(window)
                )
            except KubeError as err:
                log.warning("Cost controller: %s: %s (retrying next tick)", key, err)
            report.decided += 1
        return report

    def _planner_state(
        self,
        due: list[tuple[dict[str, Any], InferenceService, CostPolicySpec, status.Cond]],
        source: MetricSource | None,
        window: str,
        labels: PromLabels,
        now: float,
    ) -> int:
        """Rebuild the learned state of services not rebuilt yet and measure cold starts (reconcile.rebuild);
        returns the number of range queries run."""
        inputs = [
            Due(
                spec=service_query_spec(isvc),
                history_seconds=history_seconds(policy),
                step_seconds=float(policy.interval_seconds),
                ready=int((body.get("status") or {}).get("readyReplicas") or 0),
            )
            for body, isvc, policy, _ in due
        ]
        live = {key: s.history.learned for key, s in self.state.items()}
        rebuilt = self.planner_inputs.rebuild(inputs, live, source, window=window, labels=labels, now=now)
        for key, learned in rebuilt.items():
            self.state[key].history = replace(self.state[key].history, learned=learned)
        for key, cold in self.planner_inputs.cold_starts(inputs, now).items():
            self.state[key].cold_start_seconds = cold
        return self.planner_inputs.last_queries

    def _decide_one(
        self,
        body: dict[str, Any],
        isvc: InferenceService,
        policy: CostPolicySpec,
        obs: Observations,
        now: float,
        classes: Mapping[str, Any],
        indexes: cache.Indexes,
        report: TickReport,
        resolved: status.Cond | None = None,
        window_seconds: float | None = None,
    ) -> None:
        assert isvc.spec.autoscaling is not None
        key = ServiceKey(isvc.namespace, isvc.name)
        state = self.state[key]
        current_status = body.get("status") or {}
        tenancy = cache.tenancy(isvc.namespace, classes, indexes)
        # The price, the clamp and the headroom, once: decide() is bounded by it, the reconcile renders it.
        allowed = allowance(isvc, classes, tenancy)
        current = int(current_status.get("replicas") or 0)
        decision = decide(
            obs,
            current_replicas=current,
            ready_replicas=int(current_status.get("readyReplicas") or 0),
            autoscaling=isvc.spec.autoscaling.model_copy(update={"min_replicas": isvc.spec.autoscaling.floor}),
            policy=policy,
            now=now,
            headroom=allowed.headroom,
            history=state.history,
            window_seconds=window_seconds,
            cold_start_seconds=state.cold_start_seconds,
        )
        state.history = decision.history
        state.last_run = now
        labels = (isvc.namespace, isvc.name)
        metrics.DESIRED_REPLICAS.labels(*labels).set(decision.desired_replicas)
        metrics.REPLICAS.labels(*labels).set(current)
        metrics.METRICS_AVAILABLE.labels(*labels).set(1 if decision.metrics_available else 0)
        record_metrics(labels, decision, current, current_status)
        if isvc.spec.scale_to_zero is not None and self._to_zero(body, isvc, obs, decision, now, classes, indexes):
            return
        if self.runner is None:
            self._act(body, isvc, decision, obs, now, current, classes, tenancy, allowed, indexes, report, resolved)
        else:
            runner = self.runner
            runner.exclusive(
                labels,
                lambda _: self._act(
                    body, isvc, decision, obs, now, current, classes, tenancy, allowed, indexes, report, resolved
                ),
                reconciles=False,  # it reconciles only when the decision changed
            )

    def _to_zero(
        self,
        body: dict[str, Any],
        isvc: InferenceService,
        obs: Observations,
        decision: Decision,
        now: float,
        classes: Mapping[str, Any],
        indexes: cache.Indexes,
    ) -> bool:
        """Scale to zero when idle (``reconcile.zerotick``), one writer at a time; True when it went."""
        labels = (isvc.namespace, isvc.name)

        def step(_: bool) -> bool:
            current = body
            if self.runner is not None and not self.runner.is_current(labels, body):
                current = self.kube.get(path(API_VERSION, "InferenceService", *labels)) or body

            def apply(fresh: Mapping[str, Any]) -> None:
                tenancy = cache.tenancy(isvc.namespace, classes, indexes)
                result = reconcile(self.kube, fresh, classes, tenancy, None)
                written = write_status(self.kube, fresh, result.status_patch)
                if self.runner is not None:
                    self.runner.wrote(labels, written or dict(fresh))

            return self.zero.observe(current, isvc, obs.request_rate, decision.forecast, now, apply)

        if self.runner is None:
            return step(False)
        return self.runner.exclusive(labels, step, reconciles=False)

    def _act(
        self,
        body: Mapping[str, Any],
        isvc: InferenceService,
        decision: Decision,
        obs: Observations,
        now: float,
        current: int,
        classes: Mapping[str, Any],
        tenancy: Tenancy | None,
        allowed: Allowance,
        indexes: cache.Indexes,
        report: TickReport,
        resolved: status.Cond | None = None,
    ) -> None:
        """Write the decision's status (and, in Enforce mode, reconcile it into the HPA's bounds)."""
        assert isvc.spec.autoscaling is not None
        key = ServiceKey(isvc.namespace, isvc.name)
        labels = (isvc.namespace, isvc.name)
        url = path(API_VERSION, "InferenceService", isvc.namespace, isvc.name)
        planned_generation = body["metadata"].get("generation")  # of the spec ``isvc`` and ``allowed`` are
        if self.runner is not None and not self.runner.is_current(labels, body):
            # The index's copy predates a status written since (by a reconcile): plan against the stored one.
            stored = self.kube.get(url)
            if stored is None:
                return
            body = stored
        patch = status_plan(body, decision, obs, now, resolved)
        if not patch:
            return
        about_policy = policy_event(body.get("status") or {}, patch)
        changed = "autoscaling" in patch and "lastDecision" in patch["autoscaling"]
        if changed:
            metrics.DECISIONS.labels(*labels, str(decision.reason)).inc()
        written = write_status(self.kube, body, patch)
        if self.runner is not None:
            self.runner.wrote(labels, written)
        if about_policy is not None:
            self.kube.post_event(
                {"apiVersion": API_VERSION, "kind": "InferenceService", **body},
                about_policy.type,
                about_policy.reason,
                about_policy.message,
            )
        if changed:
            enforce = isvc.spec.autoscaling.mode == "Enforce"
            verb = "Scaling" if enforce else "Recommending"
            if decision.desired_replicas != current or not enforce:
                self.kube.post_event(
                    {"apiVersion": API_VERSION, "kind": "InferenceService", **body},
                    "Normal",
                    str(decision.reason),
                    f"{verb} {current} -> {decision.desired_replicas}: {decision.message}",
                )
        if isvc.spec.autoscaling.mode == "Enforce" and "desiredReplicas" in patch.get("autoscaling", {}):
            # The patch's response is the service as stored now (no need to read it again).
            fresh = written if written is not None else self.kube.get(url)
            if fresh is not None:
                # The allowance decide() used, unless the spec changed since (then the reconcile computes it).
                planned = allowed if fresh["metadata"].get("generation") == planned_generation else None
                result = reconcile(self.kube, fresh, classes, tenancy, cache.child_reader(indexes), planned)
                written = write_status(self.kube, fresh, result.status_patch)
                post_ready_warning(self.kube, fresh, result.warning)
                if self.runner is not None:
                    self.runner.wrote(labels, written)
                report.acted.append(str(key))


async def run(controller: CostController, indexes: cache.Indexes, stop: asyncio.Event) -> None:
    """Tick forever (until ``stop``), each tick in a worker thread; a failed tick is logged, not fatal."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            report = await asyncio.to_thread(controller.tick, indexes)
            if report.decided:
                log.debug(
                    "Cost tick: %d services, %d queries, acted on %s", report.decided, report.queries, report.acted
                )
        except Exception:  # noqa: BLE001 - the loop must survive any one bad tick
            log.exception("Cost controller tick failed")
        metrics.RECONCILE_SECONDS.labels("cost-tick").observe(time.monotonic() - started)
        interval = min(5.0, controller.interval(indexes))
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
