"""The cost controller's PromQL and how its answers are read (inferop.cost.queries, inferop.cost.signals).

Covers: the exact query text per runtime (vLLM, KServe, TGI, Triton, TorchServe) for percentiles 50 to
99 and the three SLO metrics, conversion to milliseconds from second, millisecond and microsecond
series, mean latency for counter-only runtimes, queue depth per replica, request rate, GPU
utilization from dcgm-exporter (engine activity preferred, GPU_UTIL fallback, ``exported_pod``
coalesced), services found by label or derived from pod names, the number of queries being
independent of the number of services, per-service overrides, and parsing of empty, NaN, infinite,
negative, malformed, multi-series and failed answers into observations that are never zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from inferop.api.inferenceservice import InferenceService
from inferop.cost.queries import (
    POD_NAME_REGEX,
    PromLabels,
    Query,
    QueryOverrides,
    ServiceKey,
    ServiceQuerySpec,
    Unsupported,
    gpu_utilization_query,
    latency_query,
    plan_queries,
    queue_depth_query,
    rate_window,
    request_rate_query,
    service_query_spec,
)
from inferop.cost.signals import (
    Answer,
    Observation,
    ObservationStatus,
    QueryFailed,
    collect,
    parse_single,
    parse_vector,
)
from inferop.runtimes import PROFILES, Histogram, MeanLatency

NOW = 1_700_000_000.0
LABELS = PromLabels()
BY_POD = PromLabels(inferenceservice="")


def spec(name: str, runtime: str, metric: str = "e2e", percentile: int = 95, **kw: object) -> ServiceQuerySpec:
    return ServiceQuerySpec(ServiceKey("team-a", name), PROFILES[runtime], metric, percentile, **kw)  # type: ignore[arg-type]


def latency_of(runtime: str, metric: str = "e2e", percentile: int = 95, labels: PromLabels = LABELS) -> Query:
    plan = plan_queries([spec("svc", runtime, metric, percentile)], window="2m", labels=labels)
    route = plan.route(ServiceKey("team-a", "svc"), "latency")
    assert isinstance(route, Query)
    return route


# -- query text ----------------------------------------------------------------------------------


def test_vllm_p95_e2e_is_one_histogram_quantile_over_all_services_in_ms() -> None:
    query = latency_of("vllm")
    assert query.promql == (
        "histogram_quantile(0.95, sum by (namespace, inferenceservice, le) "
        '(rate(vllm:e2e_request_latency_seconds_bucket{inferenceservice!=""}[2m]))) * 1000'
    )
    assert query.statistic == "p95"
    assert (query.namespace_label, query.service_label) == ("namespace", "inferenceservice")


@pytest.mark.parametrize(
    ("metric", "series"),
    [
        ("e2e", "vllm:e2e_request_latency_seconds_bucket"),
        ("ttft", "vllm:time_to_first_token_seconds_bucket"),
        ("itl", "vllm:inter_token_latency_seconds_bucket"),
    ],
)
@pytest.mark.parametrize(("percentile", "q"), [(50, "0.5"), (90, "0.9"), (95, "0.95"), (99, "0.99")])
def test_vllm_metric_and_percentile_pick_the_series_and_quantile(
    metric: str, series: str, percentile: int, q: str
) -> None:
    promql = latency_of("vllm", metric, percentile).promql
    assert promql.startswith(f"histogram_quantile({q}, ")
    assert f"rate({series}{{" in promql


def test_kserve_reads_its_vllm_backend_series_and_shares_the_vllm_query() -> None:
    plan = plan_queries([spec("a", "vllm"), spec("b", "kserve")], window="2m")
    a, b = plan.route(ServiceKey("team-a", "a"), "latency"), plan.route(ServiceKey("team-a", "b"), "latency")
    assert a == b
    assert "vllm:e2e_request_latency_seconds_bucket" in latency_of("kserve").promql
    assert len([q for q in plan.queries if q.signal == "latency"]) == 1


def test_tgi_p99_reads_tgi_request_duration_in_seconds() -> None:
    assert latency_of("tgi", "e2e", 99).promql == (
        "histogram_quantile(0.99, sum by (namespace, inferenceservice, le) "
        '(rate(tgi_request_duration_bucket{inferenceservice!=""}[2m]))) * 1000'
    )


def test_tgi_has_no_ttft_series_so_latency_is_unsupported_with_a_hint() -> None:
    plan = plan_queries([spec("svc", "tgi", "ttft")], window="2m")
    route = plan.route(ServiceKey("team-a", "svc"), "latency")
    assert isinstance(route, Unsupported)
    assert "ttft" in route.reason and "override" in route.reason


def test_triton_latency_is_a_mean_of_microsecond_counters_in_ms() -> None:
    query = latency_of("triton")
    assert query.promql == (
        'sum by (namespace, inferenceservice) (rate(nv_inference_request_duration_us{inferenceservice!=""}[2m])) '
        '/ sum by (namespace, inferenceservice) (rate(nv_inference_request_success{inferenceservice!=""}[2m])) '
        "* 0.001"
    )
    assert query.statistic == "mean"


def test_torchserve_latency_is_a_mean_too() -> None:
    query = latency_of("torchserve")
    assert "rate(ts_inference_latency_microseconds{" in query.promql
    assert "rate(ts_inference_requests_total{" in query.promql
    assert query.promql.endswith(" * 0.001")
    assert query.statistic == "mean"


@pytest.mark.parametrize(
    ("unit_seconds", "suffix"), [(1.0, " * 1000"), (0.001, ""), (1e-6, " * 0.001"), (0.1, " * 100")]
)
def test_latency_is_converted_to_milliseconds_from_the_series_unit(unit_seconds: float, suffix: str) -> None:
    promql = latency_query(Histogram("x_latency", unit_seconds=unit_seconds), 95, "2m", LABELS)
    assert promql == (
        'histogram_quantile(0.95, sum by (namespace, inferenceservice, le) (rate(x_latency_bucket{inferenceservice!=""}'
        "[2m])))" + suffix
    )
    mean = latency_query(MeanLatency("s", "c", unit_seconds), 95, "2m", LABELS)
    assert mean.endswith(")" + suffix)


def test_queue_depth_is_summed_per_pod_then_averaged_over_the_service() -> None:
    assert queue_depth_query("vllm:num_requests_waiting", "2m", LABELS) == (
        "avg by (namespace, inferenceservice) (sum by (namespace, inferenceservice, pod) "
        '(avg_over_time(vllm:num_requests_waiting{inferenceservice!=""}[2m])))'
    )


def test_request_rate_is_a_sum_of_rates_per_service() -> None:
    assert request_rate_query("tgi_request_success", "5m", LABELS) == (
        'sum by (namespace, inferenceservice) (rate(tgi_request_success{inferenceservice!=""}[5m]))'
    )


def test_gpu_utilization_prefers_engine_activity_and_falls_back_to_gpu_util() -> None:
    promql = gpu_utilization_query("2m", LABELS)
    preferred, fallback = promql.split(" or ")
    assert "avg_over_time(DCGM_FI_PROF_GR_ENGINE_ACTIVE[2m])" in preferred and preferred.endswith(" * 100)")
    assert "avg_over_time(DCGM_FI_DEV_GPU_UTIL[2m])" in fallback and "* 100" not in fallback
    for part in (preferred, fallback):
        # exported_* (ServiceMonitor without honorLabels) is copied over pod/namespace when present.
        assert "label_replace(avg_over_time(" in part
        assert '"pod", "$1", "exported_pod", "(.+)"' in part
        assert '"namespace", "$1", "exported_namespace", "(.+)"' in part
        # Pods map to services by name, the one thing dcgm-exporter labels GPUs with.
        assert f'"inferenceservice", "$1", "pod", "{POD_NAME_REGEX}"' in part
        assert "avg by (namespace, inferenceservice)" in part


def test_gpu_utilization_is_only_asked_for_services_with_gpus() -> None:
    plan = plan_queries([spec("cpu", "kserve", gpu=False)], window="2m")
    route = plan.route(ServiceKey("team-a", "cpu"), "gpu_utilization")
    assert isinstance(route, Unsupported)
    assert not [q for q in plan.queries if q.signal == "gpu_utilization"]


def test_services_can_be_derived_from_pod_names() -> None:
    promql = latency_of("vllm", labels=BY_POD).promql
    assert promql == (
        "histogram_quantile(0.95, sum by (namespace, inferenceservice, le) (label_replace("
        f'rate(vllm:e2e_request_latency_seconds_bucket{{pod=~"{POD_NAME_REGEX}"}}[2m]), '
        f'"inferenceservice", "$1", "pod", "{POD_NAME_REGEX}"))) * 1000'
    )


@pytest.mark.parametrize(
    ("pod", "service"),
    [
        ("chat-7d9f8b6c5d-x2k4p", "chat"),
        ("llama-3-8b-5c6d7f8b9-qz2wv", "llama-3-8b"),
        ("a-b-c-6f-bcdfg", "a-b-c"),
        ("db-0", None),  # StatefulSet pod
        ("nvidia-dcgm-exporter-x7k2p", None),  # DaemonSet pod: one suffix only
        ("chat-7d9f8b6c5d-x2k4", None),  # random suffix is always 5 characters
        ("chat-7d9f8b6c5d-xak4p", None),  # vowels never appear in generated suffixes
    ],
)
def test_pod_name_regex_recovers_the_deployment_name(pod: str, service: str | None) -> None:
    # RE2 (Prometheus) anchors label_replace and =~ regexes; fullmatch is the same here.
    match = re.fullmatch(POD_NAME_REGEX, pod)
    assert (match.group(1) if match else None) == service


def test_custom_label_names_from_the_cost_policy_are_used() -> None:
    from inferop.api.costpolicy import CostPolicySpec

    policy = CostPolicySpec.model_validate({"prometheus": {"labels": {"namespace": "k8s_ns", "pod": "k8s_pod"}}})
    labels = PromLabels.from_policy(policy, inferenceservice="app")
    assert request_rate_query("c", "2m", labels) == 'sum by (k8s_ns, app) (rate(c{app!=""}[2m]))'
    assert "sum by (k8s_ns, app, k8s_pod)" in queue_depth_query("g", "2m", labels)
    query = latency_of("vllm", labels=labels)
    assert (query.namespace_label, query.service_label) == ("k8s_ns", "app")


def test_invalid_label_names_and_windows_are_rejected() -> None:
    with pytest.raises(ValueError, match="label name"):
        PromLabels(namespace="kubernetes.io/ns")
    with pytest.raises(ValueError, match="duration"):
        request_rate_query("c", "2 minutes", LABELS)
    with pytest.raises(ValueError, match="duration"):
        plan_queries([], window="")


def test_rate_window_covers_four_scrapes_two_minutes_and_one_interval() -> None:
    assert rate_window(30) == "2m"
    assert rate_window(30, scrape_interval_seconds=60) == "4m"
    assert rate_window(150) == "150s"
    assert rate_window(600) == "10m"


# -- planning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 10, 500])
def test_number_of_queries_does_not_depend_on_the_number_of_services(count: int) -> None:
    services = [spec(f"svc-{i}", ("vllm", "tgi", "triton", "kserve")[i % 4]) for i in range(count)]
    plan = plan_queries(services, window="2m")
    # vllm=kserve, tgi, triton: 3 x 3 signals, + 1 token rate for vllm=kserve and for tgi, + 1 GPU
    expected = {1: 5, 10: 12, 500: 12}[count]
    assert len(plan.queries) == expected
    assert len(plan.routes) == count


def test_each_distinct_metric_and_percentile_adds_one_latency_query() -> None:
    services = [spec(f"p95-{i}", "vllm") for i in range(20)]
    services += [spec(f"p99-{i}", "vllm", percentile=99) for i in range(20)]
    services += [spec(f"ttft-{i}", "vllm", "ttft") for i in range(20)]
    plan = plan_queries(services, window="2m")
    latency = [q for q in plan.queries if q.signal == "latency"]
    assert len(latency) == 3
    route = plan.route(ServiceKey("team-a", "p99-7"), "latency")
    assert isinstance(route, Query) and route.promql.startswith("histogram_quantile(0.99,")


def test_per_service_override_replaces_one_signal_for_one_service() -> None:
    override = QueryOverrides(latency_milliseconds='my_p95_ms{namespace="{namespace}",app="{name}"}[{window}]')
    services = [spec("a", "vllm"), spec("b", "vllm", overrides=override), spec("c", "vllm")]
    plan = plan_queries(services, window="3m")
    route = plan.route(ServiceKey("team-a", "b"), "latency")
    assert isinstance(route, Query)
    assert route.promql == 'my_p95_ms{namespace="team-a",app="b"}[3m]'
    assert route.service == ServiceKey("team-a", "b")
    assert plan.route(ServiceKey("team-a", "b"), "queue_depth") == plan.route(ServiceKey("team-a", "a"), "queue_depth")
    assert len(plan.queries) == 5 + 1


def test_custom_runtime_needs_overrides() -> None:
    plan = plan_queries([spec("x", "custom", gpu=False)], window="2m")
    assert plan.queries == ()
    assert all(isinstance(plan.route(ServiceKey("team-a", "x"), s), Unsupported) for s in ("latency", "request_rate"))
    with_overrides = plan_queries(
        [spec("x", "custom", gpu=False, overrides=QueryOverrides(request_rate="sum(rate(hits[{window}]))"))],
        window="2m",
    )
    assert [q.promql for q in with_overrides.queries] == ["sum(rate(hits[2m]))"]


def test_a_service_listed_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        plan_queries([spec("a", "vllm"), spec("a", "tgi")], window="2m")


def test_service_query_spec_reads_runtime_slo_and_gpu_from_the_inferenceservice(
    make_isvc: Callable[..., InferenceService],
) -> None:
    isvc = make_isvc(
        {
            "runtime": {"name": "tgi"},
            "resources": {"gpu": {"class": "l4"}},
            "autoscaling": {
                "maxReplicas": 3,
                "slo": {"latency": {"metric": "itl", "percentile": 99, "targetMilliseconds": 80}},
            },
        },
        name="gen",
    )
    got = service_query_spec(isvc)
    assert got.key == ServiceKey("team-a", "gen")
    assert (got.runtime.name, got.slo_metric, got.percentile, got.gpu) == ("tgi", "itl", 99, True)
    fixed = service_query_spec(make_isvc({"replicas": 2}))
    assert (fixed.slo_metric, fixed.percentile, fixed.gpu) == ("e2e", 95, False)


# -- parsing -------------------------------------------------------------------------------------


def sample(service: str, value: str, ts: float = NOW - 4, namespace: str = "team-a", **labels: str) -> dict[str, Any]:
    return {"metric": {"namespace": namespace, "inferenceservice": service, **labels}, "value": [ts, value]}


def test_parse_vector_keys_values_by_service_with_their_age() -> None:
    got = parse_vector([sample("a", "6200.5"), sample("b", "0", ts=NOW - 10)], now=NOW, statistic="p95")
    assert got[ServiceKey("team-a", "a")] == Observation.ok(6200.5, 4.0, "p95")
    assert got[ServiceKey("team-a", "b")].value == 0.0
    assert got[ServiceKey("team-a", "b")].age_seconds == 10.0


def test_same_name_in_two_namespaces_are_two_services() -> None:
    got = parse_vector([sample("a", "1"), sample("a", "2", namespace="team-b")], now=NOW)
    assert got[ServiceKey("team-a", "a")].value == 1.0
    assert got[ServiceKey("team-b", "a")].value == 2.0


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("NaN", ObservationStatus.NAN),
        ("+Inf", ObservationStatus.INFINITE),
        ("-Inf", ObservationStatus.INFINITE),
        ("-1", ObservationStatus.NEGATIVE),
        ("not-a-number", ObservationStatus.MALFORMED),
    ],
)
def test_nan_infinite_negative_and_garbage_are_flagged_not_values(text: str, status: ObservationStatus) -> None:
    got = parse_vector([sample("a", text)], now=NOW)[ServiceKey("team-a", "a")]
    assert got.status is status
    assert got.value is None and not got.usable


def test_two_series_for_one_service_are_an_error_not_a_sum() -> None:
    got = parse_vector([sample("a", "1", pod="p1"), sample("a", "2", pod="p2")], now=NOW)[ServiceKey("team-a", "a")]
    assert got.status is ObservationStatus.MULTI_SERIES
    assert got.value is None and got.series == 2
    assert "pod=p1" in got.detail and "pod=p2" in got.detail
    assert "2 series" in got.describe()


def test_series_without_service_labels_are_ignored() -> None:
    got = parse_vector(
        [sample("a", "1"), {"metric": {"namespace": "gpu-operator"}, "value": [NOW, "0"]}, sample("", "5")], now=NOW
    )
    assert list(got) == [ServiceKey("team-a", "a")]


def test_age_is_never_negative_when_prometheus_clock_is_ahead() -> None:
    got = parse_vector([sample("a", "1", ts=NOW + 3)], now=NOW)[ServiceKey("team-a", "a")]
    assert got.age_seconds == 0.0


def test_unreadable_answers_raise() -> None:
    with pytest.raises(ValueError):
        parse_vector("oops", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_vector([1, 2], now=NOW)  # type: ignore[list-item]


def test_parse_single_for_overrides() -> None:
    assert parse_single([], now=NOW).status is ObservationStatus.EMPTY
    assert parse_single([{"metric": {}, "value": [NOW - 1, "12"]}], now=NOW) == Observation.ok(12.0, 1.0)
    multi = parse_single(
        [{"metric": {"a": "1"}, "value": [NOW, "1"]}, {"metric": {"a": "2"}, "value": [NOW, "1"]}], now=NOW
    )
    assert multi.status is ObservationStatus.MULTI_SERIES
    assert parse_single([NOW - 2, "3.5"], now=NOW) == Observation.ok(3.5, 2.0)  # a scalar answer
    assert parse_single({"bad": 1}, now=NOW).status is ObservationStatus.MALFORMED


def test_observation_refuses_a_value_that_is_not_ok() -> None:
    with pytest.raises(ValueError):
        Observation(ObservationStatus.OK, value=float("nan"))
    with pytest.raises(ValueError):
        Observation(ObservationStatus.NAN, value=1.0)
    with pytest.raises(ValueError):
        Observation(ObservationStatus.OK)


def test_collect_routes_answers_to_services_and_never_invents_zero() -> None:
    services = [spec("a", "vllm"), spec("b", "vllm"), spec("x", "custom", gpu=False)]
    plan = plan_queries(services, window="2m")
    a, b, x = ServiceKey("team-a", "a"), ServiceKey("team-a", "b"), ServiceKey("team-a", "x")
    latency, queue, rate, gpu = (
        plan.route(a, s) for s in ("latency", "queue_depth", "request_rate", "gpu_utilization")
    )
    assert isinstance(latency, Query) and isinstance(queue, Query) and isinstance(rate, Query)
    assert isinstance(gpu, Query)
    answers: dict[Query, Answer] = {
        latency: [sample("a", "6200"), sample("b", "NaN")],
        queue: [],  # Prometheus answered, with nothing: empty, not zero
        rate: QueryFailed("timeout after 10 s"),
        # gpu: not run at all
    }
    got = collect(plan, answers, now=NOW)
    assert got[a].latency_milliseconds == Observation.ok(6200.0, 4.0, "p95")
    assert got[b].latency_milliseconds.status is ObservationStatus.NAN
    assert got[a].queue_depth_per_replica.status is ObservationStatus.EMPTY
    assert "inferenceservice='a'" in got[a].queue_depth_per_replica.detail
    assert got[a].request_rate.status is ObservationStatus.QUERY_FAILED
    assert got[a].request_rate.detail == "timeout after 10 s"
    assert got[b].gpu_utilization_percent.status is ObservationStatus.QUERY_FAILED
    assert got[b].gpu_utilization_percent.detail == "not run"
    assert got[x].latency_milliseconds.status is ObservationStatus.UNSUPPORTED
    assert "override" in got[x].latency_milliseconds.detail


def test_collect_reports_a_malformed_batched_answer_for_every_service() -> None:
    plan = plan_queries([spec("a", "vllm"), spec("b", "vllm")], window="2m")
    latency = plan.route(ServiceKey("team-a", "a"), "latency")
    assert isinstance(latency, Query)
    got = collect(plan, {latency: [{"metric": {}, "value": [NOW, "1"]}, "garbage"]}, now=NOW)  # type: ignore[list-item]
    for key in got:
        assert got[key].latency_milliseconds.status is ObservationStatus.MALFORMED


def test_collect_reads_override_answers_as_one_series() -> None:
    override = QueryOverrides(queue_depth_per_replica="q{name}")
    plan = plan_queries([spec("a", "vllm", overrides=override)], window="2m")
    key = ServiceKey("team-a", "a")
    queue = plan.route(key, "queue_depth")
    assert isinstance(queue, Query)
    two = [{"metric": {"pod": "p1"}, "value": [NOW, "1"]}, {"metric": {"pod": "p2"}, "value": [NOW, "3"]}]
    assert collect(plan, {queue: two}, now=NOW)[key].queue_depth_per_replica.status is ObservationStatus.MULTI_SERIES
    one = [{"metric": {}, "value": [NOW, "2"]}]
    assert collect(plan, {queue: one}, now=NOW)[key].queue_depth_per_replica.value == 2.0


def test_spec_query_overrides_reach_the_plan() -> None:
    """spec.autoscaling.queries replaces the batched query for that service only, with placeholders filled."""
    from inferop.api.inferenceservice import InferenceService
    from inferop.cost.queries import plan_queries, service_query_spec

    def svc(name: str, queries: dict[str, str] | None) -> InferenceService:
        autoscaling: dict[str, object] = {"maxReplicas": 3, "slo": {"latency": {"targetMilliseconds": 500}}}
        if queries:
            autoscaling["queries"] = queries
        return InferenceService.model_validate({
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"model": {"uri": "hf://o/m"}, "runtime": {"name": "custom", "image": "me/server:1"},
                     "autoscaling": autoscaling},
        })

    custom = svc("mine", {"latencyMilliseconds": 'my_p95_ms{namespace="{namespace}",svc="{name}"}'})
    plan = plan_queries([service_query_spec(custom)], window="2m")
    texts = [q.promql for q in plan.queries]
    assert 'my_p95_ms{namespace="ns",svc="mine"}' in texts


# -- SLO attainment: the fraction of requests within the SLO, from the histogram's buckets -----------


def test_fraction_within_reads_buckets_like_histogram_quantile_inverted() -> None:
    from inferop.cost.signals import fraction_within

    inf = float("inf")
    buckets = [(0.5, 10.0), (1.0, 60.0), (2.5, 90.0), (5.0, 96.0), (inf, 100.0)]
    assert fraction_within(buckets, 5.0) == pytest.approx(0.96)  # exact at a bound
    assert fraction_within(buckets, 1.0) == pytest.approx(0.60)
    assert fraction_within(buckets, 1.75) == pytest.approx(0.75)  # halfway through (1, 2.5]: 60 + 15
    assert fraction_within(buckets, 0.25) == pytest.approx(0.05)  # the first bucket starts at 0
    assert fraction_within(buckets, 60.0) == pytest.approx(0.96)  # above the last finite bound
    assert fraction_within(list(reversed(buckets)), 5.0) == pytest.approx(0.96)  # order does not matter
    # rate() of counters scraped at slightly different times can dip: made monotonic, as Prometheus does
    assert fraction_within([(1.0, 50.0), (2.5, 49.0), (inf, 100.0)], 2.5) == pytest.approx(0.50)
    assert math.isnan(fraction_within([(1.0, 0.0), (inf, 0.0)], 1.0))  # no requests: undefined, not 1
    assert math.isnan(fraction_within([(1.0, math.nan), (inf, 10.0)], 1.0))  # never a guess
    with pytest.raises(ValueError, match=r"\+Inf"):
        fraction_within([(1.0, 5.0), (2.5, 9.0)], 1.0)


def slo_spec(name: str, runtime: str = "vllm", target_ms: float = 5000, **kw: object) -> ServiceQuerySpec:
    return spec(name, runtime, slo_target_ms=target_ms, **kw)


def test_attainment_is_one_bucket_query_per_histogram_for_all_services_and_targets() -> None:
    services = [slo_spec(f"svc-{i}", target_ms=(1500, 5000, 1234)[i % 3]) for i in range(300)]
    plan = plan_queries(services, window="2m")
    attainment = [q for q in plan.queries if q.signal == "slo_attainment"]
    assert len(attainment) == 1 and len(plan.queries) == 6  # latency, queue, rate, tokens, GPU, buckets
    assert attainment[0].promql == (
        "sum by (namespace, inferenceservice, le) "
        '(rate(vllm:e2e_request_latency_seconds_bucket{inferenceservice!=""}[2m]))'
    )
    # each service's own target, in the histogram's unit (seconds for vLLM)
    assert plan.thresholds[ServiceKey("team-a", "svc-0")] == 1.5
    assert plan.thresholds[ServiceKey("team-a", "svc-2")] == pytest.approx(1.234)


def test_attainment_is_unsupported_without_slo_histogram_or_with_a_latency_override() -> None:
    override = QueryOverrides(latency_milliseconds="my_p95_ms")
    plan = plan_queries(
        [spec("no-slo", "vllm"), slo_spec("triton", "triton"), slo_spec("mine", overrides=override)], window="2m"
    )
    reasons = {key.name: plan.route(key, "slo_attainment") for key in plan.routes}
    assert all(isinstance(r, Unsupported) for r in reasons.values())
    assert "no latency SLO" in reasons["no-slo"].reason  # type: ignore[union-attr]
    assert "mean latency" in reasons["triton"].reason  # type: ignore[union-attr]
    assert "override" in reasons["mine"].reason  # type: ignore[union-attr]


def bucket(service: str, le: str, value: str, ts: float = NOW - 4) -> dict[str, Any]:
    return sample(service, value, ts, le=le)


def test_collect_reads_each_services_attainment_at_its_own_target() -> None:
    plan = plan_queries([slo_spec("a", target_ms=1000), slo_spec("b", target_ms=2500), slo_spec("idle")], window="2m")
    a, b, idle = ServiceKey("team-a", "a"), ServiceKey("team-a", "b"), ServiceKey("team-a", "idle")
    query = plan.route(a, "slo_attainment")
    assert isinstance(query, Query)
    rows = [("0.5", "1"), ("1.0", "6"), ("2.5", "9"), ("+Inf", "10")]
    answer = [bucket(s, le, v) for s in ("a", "b") for le, v in rows] + [bucket("idle", "+Inf", "0")]
    got = collect(plan, {query: answer}, now=NOW)
    assert got[a].slo_attainment == Observation.ok(0.6, 4.0, "fraction within SLO")
    assert got[b].slo_attainment.value == pytest.approx(0.9)
    assert got[idle].slo_attainment.status is ObservationStatus.NAN  # no requests: undefined
    failed = collect(plan, {query: QueryFailed("timeout")}, now=NOW)
    assert failed[a].slo_attainment.status is ObservationStatus.QUERY_FAILED
    broken = collect(plan, {query: [bucket("a", "1.0", "6")]}, now=NOW)  # no +Inf bucket
    assert broken[a].slo_attainment.status is ObservationStatus.MALFORMED
    assert collect(plan, {query: []}, now=NOW)[a].slo_attainment.status is ObservationStatus.EMPTY
    twice = collect(plan, {query: [*answer, bucket("a", "1.0", "7")]}, now=NOW)  # two scrape jobs
    assert twice[a].slo_attainment.status is ObservationStatus.MULTI_SERIES


def test_one_service_can_be_asked_for_alone() -> None:
    """``inferop backtest`` reads one service over a long range: its selectors name it (both label modes)."""
    only = ServiceKey("team-a", "chat.v2")
    plan = plan_queries([spec("chat.v2", "vllm")], window="2m", labels=PromLabels(only=only))
    latency = next(q for q in plan.queries if q.signal == "latency")
    assert 'vllm:e2e_request_latency_seconds_bucket{namespace="team-a",inferenceservice="chat.v2"}' in latency.promql
    assert '!=""' not in " ".join(q.promql for q in plan.queries if q.signal != "gpu_utilization")
    by_pod = plan_queries([spec("chat.v2", "vllm")], window="2m", labels=PromLabels(inferenceservice="", only=only))
    rate = next(q for q in by_pod.queries if q.signal == "request_rate")
    selector = re.search(r'vllm:request_success_total\{namespace="team-a",pod=~"([^"]+)"\}', rate.promql)
    assert selector is not None, rate.promql
    pattern = selector.group(1).replace("\\\\", "\\")
    assert re.fullmatch(pattern, "chat.v2-7d9c5b6f4-x2x4z")
    assert not re.fullmatch(pattern, "chatxv2-7d9c5b6f4-x2x4z")  # the dot is literal
    assert not re.fullmatch(pattern, "other-7d9c5b6f4-x2x4z")
    assert len(plan.queries) == len(plan_queries([spec("chat.v2", "vllm")], window="2m").queries)


# -- token rate ----------------------------------------------------------------------------------


def test_token_rate_is_two_summed_rates_added_one_query_per_runtime_family() -> None:
    services = [spec(f"v-{i}", ("vllm", "kserve")[i % 2]) for i in range(50)]
    services += [spec(f"t-{i}", "tgi") for i in range(50)]
    plan = plan_queries(services, window="2m")
    tokens = [q for q in plan.queries if q.signal == "token_rate"]
    assert len(tokens) == 2  # vllm = kserve, tgi
    vllm = plan.route(ServiceKey("team-a", "v-1"), "token_rate")
    assert isinstance(vllm, Query) and vllm == plan.route(ServiceKey("team-a", "v-0"), "token_rate")
    assert vllm.promql == (
        'sum by (namespace, inferenceservice) (rate(vllm:prompt_tokens_total{inferenceservice!=""}[2m])) + '
        'sum by (namespace, inferenceservice) (rate(vllm:generation_tokens_total{inferenceservice!=""}[2m]))'
    )
    tgi = plan.route(ServiceKey("team-a", "t-3"), "token_rate")
    assert isinstance(tgi, Query) and "tgi_request_input_length_sum" in tgi.promql
    assert "tgi_request_generated_tokens_sum" in tgi.promql
    assert "__name__" not in vllm.promql + tgi.promql  # a regex over both names is HTTP 422 on Prometheus 2.42


@pytest.mark.parametrize("runtime", ["triton", "torchserve"])
def test_token_rate_is_unsupported_without_token_counters(runtime: str) -> None:
    plan = plan_queries([spec("x", runtime)], window="2m")
    route = plan.route(ServiceKey("team-a", "x"), "token_rate")
    assert isinstance(route, Unsupported) and "requests/s" in route.reason
    assert not [q for q in plan.queries if q.signal == "token_rate"]


def test_token_rate_from_pod_names_labels_each_summand() -> None:
    labels = PromLabels(inferenceservice="")
    plan = plan_queries([spec("chat", "vllm")], window="2m", labels=labels)
    route = plan.route(ServiceKey("team-a", "chat"), "token_rate")
    assert isinstance(route, Query)
    assert route.promql.count("label_replace(") == 2 and route.promql.count(" + ") == 1


def test_token_rate_answer_fills_observations() -> None:
    plan = plan_queries([spec("chat", "vllm"), spec("other", "triton")], window="2m")
    route = plan.route(ServiceKey("team-a", "chat"), "token_rate")
    assert isinstance(route, Query)
    answer = [{"metric": {"namespace": "team-a", "inferenceservice": "chat"}, "value": [100.0, "4200.5"]}]
    observed = collect(plan, {route: answer}, now=100.0)
    assert observed[ServiceKey("team-a", "chat")].token_rate.value == pytest.approx(4200.5)
    assert observed[ServiceKey("team-a", "other")].token_rate.status is ObservationStatus.UNSUPPORTED
