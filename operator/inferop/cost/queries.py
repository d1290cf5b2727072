"""Batched PromQL for the cost controller: a few queries per tick for all services. Pure.

What this module is for: given the services to watch (their runtime profile, SLO metric and
percentile), build the PromQL that answers every service at once, and say which query answers which
(service, signal). It never talks to Prometheus; the control loop runs ``QueryPlan.queries`` and
hands the answers to :func:`inferop.cost.signals.collect`.

Signals and units (every query returns one series per service, keyed by namespace and service):

- ``latency``: milliseconds. For a ``Histogram`` series,
  ``histogram_quantile(q, sum by (<ns>, <svc>, le) (rate(<name>_bucket[w])))`` times
  ``unit_seconds * 1000`` (vLLM and TGI histograms are in seconds, so ``* 1000``; a millisecond
  histogram needs no factor). For a ``MeanLatency`` pair (Triton, TorchServe counters in
  microseconds) ``rate(sum) / rate(count)`` times the factor: a mean, not a percentile, and the
  query's ``statistic`` says so (``"mean"``). At zero traffic both forms are NaN (0/0), which is
  normal and is read together with the request rate by ``decide()``.
- ``queue_depth``: requests waiting per replica, ``avg by (<ns>, <svc>) (sum by (<ns>, <svc>, <pod>)
  (avg_over_time(<gauge>[w])))``: summed per pod first (Triton reports one series per model), then
  averaged over the service's pods.
- ``request_rate``: requests per second, ``sum by (<ns>, <svc>) (rate(<counter>[w]))``.
- ``token_rate``: prompt plus generated tokens per second, ``sum by (<ns>, <svc>) (rate(<prompt>[w])) +
  sum by (<ns>, <svc>) (rate(<generated>[w]))`` from the runtime profile's token counters (vLLM and
  KServe: ``vllm:prompt_tokens_total`` and ``vllm:generation_tokens_total``; TGI: the ``_sum`` of
  ``tgi_request_input_length`` and ``tgi_request_generated_tokens``). Triton and TorchServe export
  none: the signal is Unsupported and the planner's load is the request rate. One query per runtime
  family, like every other signal.
- ``gpu_utilization``: percent, from dcgm-exporter. ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (a 0-1 ratio,
  ``* 100``) is preferred; ``or`` falls back, per service, to ``DCGM_FI_DEV_GPU_UTIL`` (already a
  percent) where the profiling metric is absent (GPUs or dcgm configurations without profiling
  metrics). Averaged over all GPUs of all pods of the service.

Gauges are read with ``avg_over_time(...[w])`` rather than as bare instant selectors: a bare selector
keeps returning a dead target's last sample for Prometheus' 5-minute lookback, while every ``[w]``
function here only sees samples from the last ``w``, so a series that stops being scraped disappears
(and is reported as missing) within one window instead of looking fresh.

Labels (which labels carry the service): runtime series are grouped by the namespace label and the
service label of :class:`PromLabels` (defaults ``namespace`` and ``inferenceservice``). Pods carry
the Kubernetes label ``inferop.dev/inferenceservice=<name>``; the scrape config is expected to copy it
into a target label named ``inferenceservice``, e.g. a PodMonitor with
``podTargetLabels: [inferop.dev/inferenceservice]`` plus a relabeling to ``inferenceservice`` or, in
a plain ``kubernetes_sd_configs`` job, ``source_labels:
[__meta_kubernetes_pod_label_inferop_dev_inferenceservice]``, ``target_label: inferenceservice``.
Series without that label are ignored (``{inferenceservice!=""}``).

When the scrape config has only ``namespace`` and ``pod`` (kube-prometheus-stack's defaults), set the
service label to ``""``: the service is then derived from the pod name. inferop names each
Deployment after its InferenceService, and Kubernetes names a Deployment's pods
``<deployment>-<pod-template-hash>-<5 random chars>``, both suffixes drawn from the alphabet
``bcdfghjklmnpqrstvwxz2456789`` (the hash is 1-10 characters). :data:`POD_NAME_REGEX` strips them
with ``label_replace``. Kubernetes truncates generated names to 58 characters before the random
suffix, so this works for InferenceService names of up to 46 characters.

GPU series always map pods to services by pod name, because dcgm-exporter labels a GPU with the pod
using it (``pod``/``namespace`` in its Kubernetes mode) and with nothing else of ours. When dcgm is
scraped through a ServiceMonitor without ``honorLabels``, those labels collide with the exporter's
own target labels and arrive as ``exported_pod``/``exported_namespace``: the query coalesces them
with ``label_replace(..., "pod", "$1", "exported_pod", "(.+)")`` (a no-op when ``exported_pod`` is
absent or empty). The alternative, a join with kube-state-metrics' ``kube_pod_labels``, needs
``--metric-labels-allowlist=pods=[inferop.dev/inferenceservice]``, which default installs do not set;
pod names are what every installation has.

Queries per tick: one per distinct query text. Services of different runtimes that expose the same
series (vLLM and KServe's vLLM backend) share a query; the count depends only on the distinct
(runtime series, SLO metric, percentile) combinations (plus one GPU query), never on the number of
services. Services that ask for the same thing share one query.

Per-service overrides: a :class:`QueryOverrides` on a service replaces the batched query for that
service and signal with the user's PromQL, run as its own query. Its answer must be one series in the
signal's unit (ms, waiting requests per replica, requests/s, percent); ``{namespace}``, ``{name}``
and ``{window}`` are substituted. Overrides are the only way to add queries per service, and only
for the services that have them.

Must not: do I/O, import a Prometheus or Kubernetes client, read the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import InferenceService
from inferop.runtimes import dcgm
from inferop.runtimes.profile import Histogram, MeanLatency, RuntimeProfile, UnsupportedByRuntime
from inferop.runtimes.profiles import get_profile

SignalName = Literal["latency", "queue_depth", "request_rate", "gpu_utilization", "slo_attainment", "token_rate"]
SIGNALS: tuple[SignalName, ...] = (
    "latency",
    "queue_depth",
    "request_rate",
    "gpu_utilization",
    "slo_attainment",
    "token_rate",
)

#: The ``statistic`` of the SLO attainment (the fraction of the window's requests within the target).
ATTAINMENT_STATISTIC = "fraction within SLO"

#: The target label the scrape config copies the pod label ``inferop.dev/inferenceservice`` into.
SERVICE_LABEL = "inferenceservice"
#: Characters of a pod-template-hash and of a generated name suffix (k8s.io/apimachinery rand).
POD_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
#: ``<deployment>-<pod-template-hash>-<random>``: group 1 is the Deployment (= InferenceService) name.
POD_NAME_REGEX = f"(.+)-[{POD_SUFFIX_CHARS}]{{1,10}}-[{POD_SUFFIX_CHARS}]{{5}}"

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True, order=True)
class ServiceKey:
    """One InferenceService, as Prometheus answers are keyed."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PromLabels:
    """Which Prometheus labels carry the namespace, the pod and the InferenceService.

    ``inferenceservice=""`` derives the service from the pod name (see the module docstring).
    """

    namespace: str = "namespace"
    pod: str = "pod"
    inferenceservice: str = SERVICE_LABEL
    #: Only this service's runtime series (``inferop backtest`` asks for one service over a long range;
    #: the control loop asks for all). GPU series are not narrowed: their pod labels vary by setup.
    only: ServiceKey | None = None

    def __post_init__(self) -> None:
        for value in (self.namespace, self.pod, self.inferenceservice or SERVICE_LABEL):
            if not _LABEL_NAME.match(value):
                raise ValueError(f"not a Prometheus label name: {value!r}")

    @classmethod
    def from_policy(cls, policy: CostPolicySpec, inferenceservice: str = SERVICE_LABEL) -> PromLabels:
        """The CostPolicy's label mapping (``prometheus.labels``) plus the service label."""
        mapping = policy.prometheus.labels
        return cls(namespace=mapping.namespace, pod=mapping.pod, inferenceservice=inferenceservice)

    @property
    def from_pod_name(self) -> bool:
        return not self.inferenceservice

    @property
    def service(self) -> str:
        """The label the answers carry the service name in."""
        return self.inferenceservice or SERVICE_LABEL


@dataclass(frozen=True)
class QueryOverrides:
    """Per-service PromQL replacing the batched query, each returning one series in the signal's unit.

    ``{namespace}``, ``{name}`` and ``{window}`` are substituted before the query runs.
    """

    latency_milliseconds: str | None = None
    queue_depth_per_replica: str | None = None
    request_rate: str | None = None
    gpu_utilization_percent: str | None = None

    def for_signal(self, signal: SignalName) -> str | None:
        return {
            "latency": self.latency_milliseconds,
            "queue_depth": self.queue_depth_per_replica,
            "request_rate": self.request_rate,
            "gpu_utilization": self.gpu_utilization_percent,
            "slo_attainment": None,
            "token_rate": None,
        }[signal]


@dataclass(frozen=True)
class ServiceQuerySpec:
    """What the planner needs to know about one service."""

    key: ServiceKey
    runtime: RuntimeProfile
    #: The SLO's latency metric (e2e, ttft, itl) and percentile; e2e p95 when the service has no SLO
    #: (the latency is still shown in its status).
    slo_metric: str = "e2e"
    percentile: int = 95
    #: Whether the service requests GPUs (no GPU utilization otherwise).
    gpu: bool = True
    #: The SLO's latency target in milliseconds (None: no SLO, so no attainment to measure).
    slo_target_ms: float | None = None
    overrides: QueryOverrides = field(default_factory=QueryOverrides)


@dataclass(frozen=True)
class Query:
    """One PromQL instant query and how to read its answer."""

    promql: str
    signal: SignalName
    #: How the value was aggregated, for messages: "p95", "mean", "avg", "sum", "override".
    statistic: str
    #: Labels that key a batched answer by service.
    namespace_label: str = "namespace"
    service_label: str = SERVICE_LABEL
    #: Set for a per-service override: the whole answer belongs to this service.
    service: ServiceKey | None = None


@dataclass(frozen=True)
class Unsupported:
    """No query can answer this signal for this service; ``reason`` says why and what to do."""

    reason: str


Route = Query | Unsupported


@dataclass(frozen=True)
class QueryPlan:
    """The queries of one tick, and which query answers which (service, signal)."""

    queries: tuple[Query, ...]
    routes: Mapping[ServiceKey, Mapping[SignalName, Route]]
    #: Per service, the SLO target in the unit of its latency histogram's ``le`` bounds (for the
    #: ``slo_attainment`` signal, read from the bucket rates by ``signals``).
    thresholds: Mapping[ServiceKey, float] = field(default_factory=dict)

    def route(self, key: ServiceKey, signal: SignalName) -> Route:
        try:
            return self.routes[key][signal]
        except KeyError:
            return Unsupported(f"{key} is not in this query plan")


# -- PromQL text ---------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A PromQL number literal without float noise (1000, 0.001, 0.95)."""
    return f"{round(value, 12):.12g}"


def quantile(percentile: int) -> str:
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be between 0 and 100, got {percentile}")
    return _number(percentile / 100)


def _check_window(window: str) -> str:
    if not _DURATION.match(window):
        raise ValueError(f"not a PromQL duration: {window!r} (e.g. 2m, 90s)")
    return window


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _selector(metric: str, labels: PromLabels) -> str:
    """The metric restricted to series attributable to a service (or to ``labels.only``)."""
    only = labels.only
    if labels.from_pod_name:
        if only is None:
            return f"{metric}{{{labels.pod}=~{_string(POD_NAME_REGEX)}}}"
        pods = POD_NAME_REGEX.replace("(.+)", re.escape(only.name), 1)
        return f"{metric}{{{labels.namespace}={_string(only.namespace)},{labels.pod}=~{_string(pods)}}}"
    if only is None:
        return f'{metric}{{{labels.inferenceservice}!=""}}'
    return (
        f"{metric}{{{labels.namespace}={_string(only.namespace)},"
        f"{labels.inferenceservice}={_string(only.name)}}}"
    )


def _attributed(expr: str, labels: PromLabels) -> str:
    """Add the service label derived from the pod name, when that is how services are found."""
    if not labels.from_pod_name:
        return expr
    return f'label_replace({expr}, "{labels.service}", "$1", "{labels.pod}", {_string(POD_NAME_REGEX)})'


def _by(labels: PromLabels, *extra: str) -> str:
    return "by (" + ", ".join((labels.namespace, labels.service, *extra)) + ")"


def _unit_factor(unit_seconds: float) -> str:
    factor = unit_seconds * 1000
    return "" if round(factor, 12) == 1 else f" * {_number(factor)}"


def latency_query(series: Histogram | MeanLatency, percentile: int, window: str, labels: PromLabels) -> str:
    """Latency in milliseconds for every service exposing ``series``, keyed by namespace and service."""
    _check_window(window)
    if isinstance(series, Histogram):
        buckets = bucket_rates_query(series, window, labels)
        return f"histogram_quantile({quantile(percentile)}, {buckets})" + _unit_factor(series.unit_seconds)
    total = _attributed(f"rate({_selector(series.sum_counter, labels)}[{window}])", labels)
    count = _attributed(f"rate({_selector(series.count_counter, labels)}[{window}])", labels)
    return f"sum {_by(labels)} ({total}) / sum {_by(labels)} ({count})" + _unit_factor(series.unit_seconds)


def bucket_rates_query(series: Histogram, window: str, labels: PromLabels) -> str:
    """The rate of every bucket of ``series`` per service and ``le`` (the SLO attainment's input)."""
    rate = _attributed(f"rate({_selector(series.name + '_bucket', labels)}[{_check_window(window)}])", labels)
    return f"sum {_by(labels, 'le')} ({rate})"


def queue_depth_query(gauge: str, window: str, labels: PromLabels) -> str:
    """Requests waiting per replica: summed per pod, averaged over the service's pods."""
    inner = _attributed(f"avg_over_time({_selector(gauge, labels)}[{_check_window(window)}])", labels)
    return f"avg {_by(labels)} (sum {_by(labels, labels.pod)} ({inner}))"


def request_rate_query(counter: str, window: str, labels: PromLabels) -> str:
    """Requests per second per service."""
    inner = _attributed(f"rate({_selector(counter, labels)}[{_check_window(window)}])", labels)
    return f"sum {_by(labels)} ({inner})"


def pods_query(counter: str, labels: PromLabels) -> str:
    """How many pods of each service export ``counter`` now (the rebuild's ready replicas: a pod's
    runtime series are scraped once it serves; a pod that is gone leaves a staleness marker)."""
    inner = _attributed(_selector(counter, labels), labels)
    return f"count {_by(labels)} ({inner})"


def token_rate_query(counters: tuple[str, str], window: str, labels: PromLabels) -> str:
    """Prompt plus generated tokens per second per service: each counter's rate summed per service,
    then the two added (``sum by (...) (rate(a[w])) + sum by (...) (rate(b[w]))``). One selector over
    both names (``{__name__=~"a|b"}``) would be one rate, but Prometheus 2.42 answers HTTP 422 to it
    (checked), and ``+`` of two sums matches on the grouping labels only, as wanted."""
    return " + ".join(request_rate_query(counter, window, labels) for counter in counters)


def _gpu_by_service(metric: str, window: str, labels: PromLabels) -> str:
    expr = f"avg_over_time({metric}[{window}])"
    expr = f'label_replace({expr}, "{dcgm.POD}", "$1", "{dcgm.EXPORTED_POD}", "(.+)")'
    expr = f'label_replace({expr}, "{dcgm.NAMESPACE}", "$1", "{dcgm.EXPORTED_NAMESPACE}", "(.+)")'
    expr = f'label_replace({expr}, "{labels.service}", "$1", "{dcgm.POD}", {_string(POD_NAME_REGEX)})'
    return f"avg by ({dcgm.NAMESPACE}, {labels.service}) ({expr})"


def gpu_utilization_query(window: str, labels: PromLabels) -> str:
    """GPU utilization in percent per service, from dcgm-exporter (see the module docstring)."""
    _check_window(window)
    preferred = _gpu_by_service(dcgm.ENGINE_ACTIVE, window, labels)
    fallback = _gpu_by_service(dcgm.GPU_UTIL, window, labels)
    return f"({preferred} * 100) or {fallback}"


def rate_window(interval_seconds: int, scrape_interval_seconds: int = 30) -> str:
    """The ``[w]`` of rate() and *_over_time(): at least 2 minutes, 4 scrapes and one decision interval.

    Four scrapes keep rate() defined when one scrape is lost; the decision interval makes consecutive
    ticks see overlapping, not disjoint, windows.
    """
    seconds = max(120, 4 * scrape_interval_seconds, interval_seconds)
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


# -- planning ------------------------------------------------------------------------------------


def service_query_spec(isvc: InferenceService, overrides: QueryOverrides | None = None) -> ServiceQuerySpec:
    """The planner's view of an InferenceService (its runtime profile, SLO metric and percentile)."""
    autoscaling = isvc.spec.autoscaling
    slo = autoscaling.slo.latency if autoscaling is not None and autoscaling.slo is not None else None
    return ServiceQuerySpec(
        key=ServiceKey(isvc.namespace, isvc.name),
        runtime=get_profile(isvc.spec.runtime.name),
        slo_metric=slo.metric if slo is not None else "e2e",
        percentile=slo.percentile if slo is not None else 95,
        gpu=isvc.spec.resources.gpu is not None,
        slo_target_ms=float(slo.target_milliseconds) if slo is not None else None,
        overrides=overrides or _spec_overrides(isvc),
    )


def _spec_overrides(isvc: InferenceService) -> QueryOverrides:
    """The overrides a user wrote in ``spec.autoscaling.queries``."""
    autoscaling = isvc.spec.autoscaling
    q = autoscaling.queries if autoscaling is not None else None
    if q is None:
        return QueryOverrides()
    return QueryOverrides(
        latency_milliseconds=q.latency_milliseconds,
        queue_depth_per_replica=q.queue_depth_per_replica,
        request_rate=q.request_rate,
        gpu_utilization_percent=q.gpu_utilization_percent,
    )


def _override(spec: ServiceQuerySpec, signal: SignalName, text: str, window: str) -> Query:
    promql = (
        text.replace("{namespace}", spec.key.namespace).replace("{name}", spec.key.name).replace("{window}", window)
    )
    return Query(promql=promql, signal=signal, statistic="override", service=spec.key)


def _slo_histogram(spec: ServiceQuerySpec) -> Histogram | Unsupported:
    """The histogram whose buckets give the service's SLO attainment, or why there is none."""
    if spec.slo_target_ms is None:
        return Unsupported("the service has no latency SLO")
    if spec.overrides.latency_milliseconds:
        return Unsupported("the latency comes from a per-service override; the SLO is judged by it alone")
    try:
        histogram = spec.runtime.latency_series(spec.slo_metric)
    except UnsupportedByRuntime as error:
        return Unsupported(str(error))
    if not isinstance(histogram, Histogram):
        return Unsupported(f"runtime {spec.runtime.name} exposes a mean latency, not a histogram")
    return histogram


def _batched(spec: ServiceQuerySpec, signal: SignalName, window: str, labels: PromLabels) -> Route:
    ns, svc = labels.namespace, labels.service
    series = spec.runtime.metrics
    hint = "set a per-service query override"
    if signal == "latency":
        try:
            latency = spec.runtime.latency_series(spec.slo_metric)
        except UnsupportedByRuntime as error:
            return Unsupported(str(error))
        statistic = f"p{spec.percentile}" if isinstance(latency, Histogram) else "mean"
        return Query(latency_query(latency, spec.percentile, window, labels), signal, statistic, ns, svc)
    if signal == "slo_attainment":
        histogram = _slo_histogram(spec)
        if isinstance(histogram, Unsupported):
            return histogram
        return Query(bucket_rates_query(histogram, window, labels), signal, ATTAINMENT_STATISTIC, ns, svc)
    if signal == "queue_depth":
        if series.queue_depth is None:
            return Unsupported(f"runtime {spec.runtime.name} exposes no queue-depth series; {hint}")
        return Query(queue_depth_query(series.queue_depth, window, labels), signal, "avg", ns, svc)
    if signal == "request_rate":
        if series.request_rate is None:
            return Unsupported(f"runtime {spec.runtime.name} exposes no request counter; {hint}")
        return Query(request_rate_query(series.request_rate, window, labels), signal, "sum", ns, svc)
    if signal == "token_rate":
        counters = series.token_counters
        if counters is None:
            return Unsupported(
                f"runtime {spec.runtime.name} exports no token counters; the load is measured in requests/s"
            )
        return Query(token_rate_query(counters, window, labels), signal, "sum", ns, svc)
    if not spec.gpu:
        return Unsupported("the service requests no GPU (spec.resources.gpu)")
    return Query(
        gpu_utilization_query(window, labels),
        signal,
        "avg",
        namespace_label=dcgm.NAMESPACE,
        service_label=labels.service,
    )


def plan_queries(services: Iterable[ServiceQuerySpec], *, window: str, labels: PromLabels | None = None) -> QueryPlan:
    """The queries of one tick for all ``services``, deduplicated by query text, in a stable order."""
    labels = labels or PromLabels()
    _check_window(window)
    queries: dict[Query, None] = {}  # insertion-ordered set
    routes: dict[ServiceKey, dict[SignalName, Route]] = {}
    thresholds: dict[ServiceKey, float] = {}
    for spec in services:
        if spec.key in routes:
            raise ValueError(f"service {spec.key} is listed twice")
        service_routes: dict[SignalName, Route] = {}
        for signal in SIGNALS:
            text = spec.overrides.for_signal(signal)
            route = _override(spec, signal, text, window) if text else _batched(spec, signal, window, labels)
            if isinstance(route, Query):
                queries.setdefault(route, None)
            service_routes[signal] = route
        routes[spec.key] = service_routes
        histogram = _slo_histogram(spec)
        if isinstance(histogram, Histogram) and spec.slo_target_ms is not None:
            thresholds[spec.key] = spec.slo_target_ms / 1000 / histogram.unit_seconds
    return QueryPlan(queries=tuple(queries), routes=routes, thresholds=thresholds)
