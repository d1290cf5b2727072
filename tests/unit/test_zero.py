"""Scale to zero: the API rules, the pure data path (render.zero), the idle and wake rules (cost.zero),
and the level-based reconcile step (reconcile.zero, reconcile.zerotick) against an in-memory API."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from pydantic import ValidationError

from inferop.api import parse_isvc
from inferop.api.activation import ACTIVATION_ANNOTATION, ENDPOINTSLICE_MANAGER, SERVICE_NAME_LABEL
from inferop.api.inferenceservice import MSG_S2Z_NAME, MSG_S2Z_NEEDS_ZERO, MSG_ZERO_NEEDS_S2Z, InferenceService
from inferop.cost import zero as rules
from inferop.cost.signals import NOT_OBSERVED, Observation, ObservationStatus
from inferop.reconcile import zero
from inferop.reconcile.kube import path, path_of
from inferop.reconcile.zerotick import ZeroTick
from inferop.render import render_all
from inferop.render import zero as render
from inferop.runtimes import get_profile


def body(name: str = "chat", s2z: dict[str, Any] | None = None, min_replicas: int = 0) -> dict[str, Any]:
    autoscaling: dict[str, Any] = {"minReplicas": min_replicas, "maxReplicas": 4}
    if s2z is not None:
        autoscaling["scaleToZero"] = s2z
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": "ns", "uid": "u-1", "generation": 1},
        "spec": {"model": {"uri": "hf://org/m"}, "autoscaling": autoscaling},
    }


def model(b: dict[str, Any]) -> InferenceService:
    return InferenceService.model_validate(b)


# --- API ----------------------------------------------------------------------------------------


def test_scale_to_zero_defaults_and_floor() -> None:
    isvc = model(body(s2z={}))
    s2z = isvc.spec.scale_to_zero
    assert s2z is not None
    assert (s2z.idle_seconds, s2z.max_held_requests, s2z.hold_timeout_seconds) == (300, 1000, 300)
    assert isvc.spec.autoscaling is not None and isvc.spec.autoscaling.floor == 1


@pytest.mark.parametrize(
    ("b", "message"),
    [
        (body(s2z=None, min_replicas=0), MSG_ZERO_NEEDS_S2Z),
        (body(s2z={}, min_replicas=1), MSG_S2Z_NEEDS_ZERO),
        (body(name="a" * 59, s2z={}), MSG_S2Z_NAME),
    ],
)
def test_invalid_combinations_are_refused(b: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.split(":")[0][:40]):
        model(b)


@pytest.mark.parametrize("field", ["idleSeconds", "maxHeldRequests", "holdTimeoutSeconds"])
def test_values_must_be_positive(field: str) -> None:
    with pytest.raises(ValidationError):
        model(body(s2z={field: 0}))


def test_name_of_58_is_fine_and_long_names_without_scale_to_zero_too() -> None:
    model(body(name="a" * 58, s2z={}))
    model(body(name="a" * 63, s2z=None, min_replicas=1))


def test_crd_carries_the_rules_both_ways() -> None:
    from inferop.api.crdgen import CRDS, build_crd

    crd = build_crd(CRDS[0])
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    auto = schema["properties"]["spec"]["properties"]["autoscaling"]
    rules_text = [r["rule"] for r in auto["x-kubernetes-validations"]]
    assert "self.minReplicas != 0 || has(self.scaleToZero)" in rules_text
    assert "!has(self.scaleToZero) || self.minReplicas == 0" in rules_text
    assert auto["properties"]["minReplicas"]["minimum"] == 0
    s2z = auto["properties"]["scaleToZero"]["properties"]
    assert {k: s2z[k]["default"] for k in s2z} == {
        "idleSeconds": 300, "maxHeldRequests": 1000, "holdTimeoutSeconds": 300
    }
    assert all(s2z[k]["minimum"] == 1 for k in s2z)
    assert any("size(self.metadata.name) <= 58" in r["rule"] for r in schema["x-kubernetes-validations"])
    status = schema["properties"]["status"]["properties"]["autoscaling"]["properties"]
    assert {"scaledToZero", "scaledToZeroAt", "lastRequestTime"} <= set(status)


# --- render ---------------------------------------------------------------------------------------


def test_services_without_scale_to_zero_are_unchanged() -> None:
    objects = render_all(model(body(s2z=None, min_replicas=1)), {})
    services = [o for o in objects if o["kind"] == "Service"]
    assert [s["metadata"]["name"] for s in services] == ["chat"]
    assert services[0]["spec"]["selector"] == {"inferop.dev/inferenceservice": "chat"}
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 1


def test_scale_to_zero_service_is_selectorless_with_a_headless_pods_service() -> None:
    objects = render_all(model(body(s2z={})), {})
    main = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "chat")
    pods = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "chat-pods")
    assert "selector" not in main["spec"]
    assert pods["spec"]["clusterIP"] == "None"
    assert pods["spec"]["selector"] == {"inferop.dev/inferenceservice": "chat"}
    assert pods["spec"]["ports"][0]["name"] == "http"
    assert pods["metadata"]["labels"]["inferop.dev/inferenceservice"] == "chat"
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 1  # an HPA cannot hold 0: the operator owns the way to zero
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert "replicas" not in deployment["spec"]


def slice_of(addresses: list[tuple[str, bool | None, bool]], ports: list[tuple[str, int]]) -> dict[str, Any]:
    endpoints = []
    for address, ready, terminating in addresses:
        conditions: dict[str, Any] = {"terminating": terminating}
        if ready is not None:
            conditions["ready"] = ready
        endpoints.append({"addresses": [address], "conditions": conditions})
    return {"addressType": "IPv4", "endpoints": endpoints, "ports": [{"name": n, "port": p} for n, p in ports]}


def test_ready_endpoints_skip_unready_and_terminating() -> None:
    slices = [slice_of([("10.0.0.2", True, False), ("10.0.0.3", False, False), ("10.0.0.4", True, True),
                        ("10.0.0.1", None, False)], [("http", 8000)])]
    assert [e.address for e in render.ready_endpoints(slices)] == ["10.0.0.1", "10.0.0.2"]
    assert render.ready_endpoints([{**slices[0], "addressType": "FQDN"}]) == []


def test_endpointslice_for_pods_and_for_the_activator() -> None:
    isvc = model(body(s2z={}))
    profile = get_profile("vllm")
    pods = render.ready_endpoints([slice_of([("10.0.0.2", True, False)], [("http", 8000)])])
    eps = render.build_endpointslice(isvc, profile, render.TO_PODS, pods)
    assert eps["metadata"]["name"] == "chat-inferop"
    assert eps["metadata"]["labels"][SERVICE_NAME_LABEL] == "chat"
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == ENDPOINTSLICE_MANAGER
    assert eps["endpoints"] == [
        {"addresses": ["10.0.0.2"], "conditions": {"ready": True, "serving": True, "terminating": False}}
    ]
    assert eps["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP"}]
    activator = render.ready_endpoints([slice_of([("10.1.0.9", True, False)], [("proxy", 8012), ("admin", 9090)])])
    eps = render.build_endpointslice(isvc, profile, render.TO_ACTIVATOR, activator)
    assert eps["ports"] == [{"name": "http", "port": 8012, "protocol": "TCP"}]
    assert [e["addresses"] for e in eps["endpoints"]] == [["10.1.0.9"]]


def test_choose_target_is_level_based() -> None:
    pod = [render.Endpoint("10.0.0.2", (("http", 8000),))]
    assert render.choose_target(False, pod) == render.TO_PODS
    assert render.choose_target(False, []) == render.TO_ACTIVATOR
    assert render.choose_target(True, pod) == render.TO_ACTIVATOR


# --- idle and wake rules --------------------------------------------------------------------------

ZERO = Observation(ObservationStatus.OK, value=0.0)
SOME = Observation(ObservationStatus.OK, value=0.2)


@pytest.mark.parametrize(
    "rate",
    [NOT_OBSERVED, Observation(ObservationStatus.NAN), Observation(ObservationStatus.EMPTY), SOME],
)
def test_missing_nan_or_traffic_is_never_idle(rate: Observation) -> None:
    assert not rules.idle_verdict(rate, idle_since=0.0, now=10_000.0, idle_seconds=300).idle


def test_zero_rate_is_idle_only_after_idle_seconds() -> None:
    assert not rules.idle_verdict(ZERO, idle_since=1000.0, now=1299.0, idle_seconds=300).idle
    assert rules.idle_verdict(ZERO, idle_since=1000.0, now=1300.0, idle_seconds=300).idle
    assert not rules.idle_verdict(ZERO, idle_since=None, now=1300.0, idle_seconds=300).idle


def test_forecast_vetoes_and_none_does_not() -> None:
    args = {"idle_since": 0.0, "now": 1000.0, "idle_seconds": 300.0}
    assert rules.idle_verdict(ZERO, forecast=None, **args).idle
    assert rules.idle_verdict(ZERO, forecast={"load": 0.0, "upper": 0.0}, **args).idle
    assert not rules.idle_verdict(ZERO, forecast={"load": 0.0, "upper": 0.5}, **args).idle
    assert not rules.idle_verdict(ZERO, forecast={"load": math.nan}, **args).idle
    assert not rules.idle_verdict(ZERO, forecast={"unit": "rps"}, **args).idle  # a forecast without a load


def test_wake_needs_a_request_after_scale_down_with_skew() -> None:
    at = rules.parse_time("2026-12-02T10:00:00Z")
    assert rules.wake_wanted(rules.parse_time("2026-12-02T10:00:01.000Z"), at)
    assert rules.wake_wanted(rules.parse_time("2026-12-02T09:59:57.000Z"), at)  # within the skew
    assert not rules.wake_wanted(rules.parse_time("2026-12-02T09:59:50.000Z"), at)
    assert not rules.wake_wanted(None, at)
    assert rules.parse_time("yesterday") is None and rules.parse_time("2026-12-02T10:00:00") is None


# --- reconcile.zero against an in-memory API ------------------------------------------------------


class FakeKube:
    """get/list/apply/patch_merge over a dict of objects by API path; records writes."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, Any]] = []

    def put(self, obj: dict[str, Any]) -> None:
        self.objects[path_of(obj)] = copy.deepcopy(obj)

    def get(self, url: str) -> dict[str, Any] | None:
        obj = self.objects.get(url)
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, url: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        key, _, value = (label_selector or "").partition("=")
        return [
            copy.deepcopy(o) for p, o in self.objects.items()
            if p.startswith(url + "/") and (not key or (o["metadata"].get("labels") or {}).get(key) == value)
        ]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("apply", path_of(obj), obj))
        self.put(obj)
        return copy.deepcopy(obj)

    def patch_merge(self, url: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("patch", url, patch))
        if url.endswith("/scale"):
            dep = self.objects[url.removesuffix("/scale")]
            dep["spec"]["replicas"] = patch["spec"]["replicas"]
            return copy.deepcopy(dep)
        if url.endswith("/status"):
            obj = self.objects.setdefault(url.removesuffix("/status"), {"metadata": {}})
            status = obj.setdefault("status", {})
            for k, v in patch["status"].items():
                if isinstance(v, dict):
                    status.setdefault(k, {}).update({a: b for a, b in v.items()})
                    status[k] = {a: b for a, b in status[k].items() if b is not None}
                else:
                    status[k] = v
            return copy.deepcopy(obj)
        raise AssertionError(url)

    def post_event(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def delete(self, url: str) -> bool:
        self.writes.append(("delete", url, None))
        return self.objects.pop(url, None) is not None


def eps(service: str, namespace: str, addresses: list[str], ports: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-abc", "namespace": namespace, "labels": {SERVICE_NAME_LABEL: service}},
        **slice_of([(a, True, False) for a in addresses], ports),
    }


def deployment(replicas: int, ready: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "chat", "namespace": "ns",
            "ownerReferences": [{"controller": True, "uid": "u-1", "kind": "InferenceService", "name": "chat"}],
        },
        "spec": {"replicas": replicas}, "status": {"readyReplicas": ready},
    }


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    monkeypatch.setattr(zero, "ACTIVATOR_SERVICE", ("inferop-system", "inferop-activator"))
    kube = FakeKube()
    kube.put(eps("inferop-activator", "inferop-system", ["10.1.0.9"], [("proxy", 8012)]))
    kube.put(deployment(1, 1))
    kube.put({**body(s2z={"idleSeconds": 30}), "status": {}})
    return kube


def live_slice(kube: FakeKube) -> dict[str, Any]:
    got = kube.get(path("discovery.k8s.io/v1", "EndpointSlice", "ns", "chat-inferop"))
    assert got is not None
    return got


def addresses(s: dict[str, Any]) -> list[str]:
    return [e["addresses"][0] for e in s["endpoints"]]


def run(kube: FakeKube, b: dict[str, Any]) -> zero.ZeroResult:
    return zero.reconcile_zero(kube, b, model(b), kube.get(path("apps/v1", "Deployment", "ns", "chat")))  # type: ignore[arg-type]


def test_no_ready_pod_points_at_the_activator_then_the_pods(api: FakeKube) -> None:
    b = body(s2z={"idleSeconds": 30})
    result = run(api, b)
    assert addresses(live_slice(api)) == ["10.1.0.9"]
    assert live_slice(api)["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert {c.type: c.reason for c in result.conditions}["ScaledToZero"] == "Activating"
    api.put(eps("chat-pods", "ns", ["10.0.0.5"], [("http", 8000)]))
    result = run(api, b)
    assert addresses(live_slice(api)) == ["10.0.0.5"]
    assert live_slice(api)["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP"}]
    assert {c.type: c.reason for c in result.conditions}["ScaledToZero"] == "Serving"
    # Level-based: the same state again writes nothing.
    api.writes.clear()
    assert run(api, b).applied == [] and api.writes == []


def test_at_zero_slice_first_then_replicas_zero_and_a_restart_writes_nothing(api: FakeKube) -> None:
    api.put(eps("chat-pods", "ns", ["10.0.0.5"], [("http", 8000)]))
    b = {**body(s2z={"idleSeconds": 30}), "status": {"autoscaling": {"scaledToZero": True,
                                                                     "scaledToZeroAt": "2026-12-02T10:00:00Z"}}}
    result = run(api, b)
    kinds = [(w[0], w[1].rsplit("/", 2)[-2:]) for w in api.writes]
    assert kinds == [("apply", ["endpointslices", "chat-inferop"]), ("patch", ["chat", "scale"])]
    assert addresses(live_slice(api)) == ["10.1.0.9"]
    assert api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] == 0
    assert {c.type: c.status for c in result.conditions}["ScaledToZero"] == "True"
    # An operator restart at zero (the same level again): no write at all.
    api.writes.clear()
    run(api, b)
    assert api.writes == []


def test_activation_after_scale_down_wakes_to_the_floor(api: FakeKube) -> None:
    api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] = 0
    b = body(s2z={"idleSeconds": 30})
    b["status"] = {"autoscaling": {"scaledToZero": True, "scaledToZeroAt": "2026-12-02T10:00:00Z"}}
    b["metadata"]["annotations"] = {ACTIVATION_ANNOTATION: "2026-12-02T09:00:00.000Z"}  # older: ignored
    assert not zero.wake_requested(b)
    run(api, b)
    assert api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] == 0
    b["metadata"]["annotations"] = {ACTIVATION_ANNOTATION: "2026-12-02T10:05:00.123Z"}
    assert zero.wake_requested(b)
    result = run(api, b)
    assert api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] == 1
    assert result.autoscaling == {"scaledToZero": False, "lastRequestTime": "2026-12-02T10:05:00Z"}
    assert addresses(live_slice(api)) == ["10.1.0.9"]  # no ready pod yet: still the activator


def test_bad_annotation_is_reported_and_ignored(api: FakeKube) -> None:
    b = body(s2z={})
    b["status"] = {"autoscaling": {"scaledToZero": True, "scaledToZeroAt": "2026-12-02T10:00:00Z"}}
    b["metadata"]["annotations"] = {ACTIVATION_ANNOTATION: "soon"}
    api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] = 0
    result = run(api, b)
    assert result.bad_annotation == "soon" and "scaledToZero" not in result.autoscaling


def test_readiness_condition(api: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    isvc = model(body(s2z={"holdTimeoutSeconds": 60}))
    assert zero.readiness(isvc, [render.Endpoint("10.1.0.9", ())]).reason == "HoldTimeoutShorterThanColdStart"
    isvc = model(body(s2z={}))
    assert zero.readiness(isvc, [render.Endpoint("10.1.0.9", ())]).status == "True"
    assert zero.readiness(isvc, []).reason == "ActivatorNotReady"
    assert zero.readiness(isvc, None).reason == "NoActivator"


def test_parse_service_ref() -> None:
    assert zero.parse_service_ref("inferop-system/inferop-activator") == ("inferop-system", "inferop-activator")
    assert zero.parse_service_ref("") is None
    with pytest.raises(ValueError):
        zero.parse_service_ref("just-a-name")


# --- the way down (zerotick) ----------------------------------------------------------------------


def test_zerotick_goes_to_zero_after_idle_seconds_status_first(api: FakeKube) -> None:
    tick = ZeroTick(api)  # type: ignore[arg-type]
    b = api.get(path("inferop.dev/v1alpha1", "InferenceService", "ns", "chat"))
    assert b is not None
    isvc = parse_isvc(b)
    reconciled: list[dict[str, Any]] = []

    def reconcile(fresh: Any) -> None:
        reconciled.append(fresh)
        run(api, fresh)

    assert not tick.observe(b, isvc, ZERO, None, 1000.0, reconcile)
    assert not tick.observe(b, isvc, NOT_OBSERVED, None, 1020.0, reconcile)  # missing: the clock restarts
    assert not tick.observe(b, isvc, ZERO, None, 1040.0, reconcile)
    assert not tick.observe(b, isvc, ZERO, None, 1069.0, reconcile)
    assert api.writes == []
    assert tick.observe(b, isvc, ZERO, None, 1070.0, reconcile)
    first = api.writes[0]
    assert first[0] == "patch" and first[1].endswith("/status")
    assert first[2]["status"]["autoscaling"]["scaledToZero"] is True
    assert reconciled and reconciled[0]["status"]["autoscaling"]["scaledToZero"] is True
    assert api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] == 0
    assert addresses(live_slice(api)) == ["10.1.0.9"]


def test_zerotick_never_goes_to_zero_without_an_activator(api: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zero, "ACTIVATOR_SERVICE", None)
    tick = ZeroTick(api)  # type: ignore[arg-type]
    b = body(s2z={"idleSeconds": 1})
    isvc = parse_isvc(b)
    tick.observe(b, isvc, ZERO, None, 1000.0, lambda _: None)
    assert not tick.observe(b, isvc, ZERO, None, 2000.0, lambda _: None)
    assert api.writes == []


def test_zerotick_traffic_records_last_request_coarsely(api: FakeKube) -> None:
    tick = ZeroTick(api)  # type: ignore[arg-type]
    b = body(s2z={"idleSeconds": 30})
    isvc = parse_isvc(b)
    tick.observe(b, isvc, SOME, None, 1000.0, lambda _: None)
    assert len(api.writes) == 1
    b["status"] = {"autoscaling": {"lastRequestTime": "1970-01-01T00:16:40Z"}}
    tick.observe(b, isvc, SOME, None, 1030.0, lambda _: None)
    assert len(api.writes) == 1  # within a minute: no write
    # the idle clock counts from the last request: 0 rate at 1031 but last request 1000 -> zero at 1031+30
    assert not tick.observe(b, isvc, ZERO, None, 1031.0, lambda _: None)
    assert not tick.observe(b, isvc, ZERO, None, 1060.0, lambda _: None)


# --- the activation handler -----------------------------------------------------------------------


def test_activation_handler_wakes_only_at_zero_and_warns_once_on_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    import kopf

    from inferop import handlers

    woken: list[tuple[str, str]] = []
    warned: list[str] = []
    monkeypatch.setattr(handlers, "_reconcile_by_name", lambda ns, name, kwargs, logger: woken.append((ns, name)))
    monkeypatch.setattr(kopf, "warn", lambda body, reason, message: warned.append(reason))
    monkeypatch.setattr(handlers, "_bad_activations", set())

    def call(annotation: str, at_zero: bool) -> None:
        b = body(s2z={})
        b["metadata"]["annotations"] = {ACTIVATION_ANNOTATION: annotation}
        b["status"] = {"autoscaling": {"scaledToZero": at_zero, "scaledToZeroAt": "2026-12-02T10:00:00Z"}}
        handlers.activation_requested(kopf.Body(b), logger=None)  # type: ignore[arg-type]

    call("2026-12-02T10:01:00.000Z", at_zero=False)
    assert woken == []
    call("2026-12-02T10:01:00.000Z", at_zero=True)
    assert woken == [("ns", "chat")]
    call("not-a-time", at_zero=True)
    call("not-a-time", at_zero=True)
    assert warned == ["BadActivationAnnotation"] and woken == [("ns", "chat")]


def test_removing_scale_to_zero_deletes_the_leftovers_and_restores_the_floor(api: FakeKube) -> None:
    b = body(s2z={})
    run(api, b)  # the slice exists now
    owner = [{"controller": True, "uid": "u-1", "kind": "InferenceService", "name": "chat"}]
    api.put({"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "chat-pods", "namespace": "ns", "ownerReferences": owner}})
    api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] = 0
    plain = body(s2z=None, min_replicas=1)
    plain["status"] = {"autoscaling": {"scaledToZero": True, "scaledToZeroAt": "2026-12-02T10:00:00Z"}}
    api.writes.clear()
    dep = api.get(path("apps/v1", "Deployment", "ns", "chat"))
    result = zero.cleanup(api, plain, model(plain), dep)  # type: ignore[arg-type]
    assert sorted(w[1].rsplit("/", 1)[-1] for w in api.writes if w[0] == "delete") == ["chat-inferop", "chat-pods"]
    assert api.objects[path("apps/v1", "Deployment", "ns", "chat")]["spec"]["replicas"] == 1
    assert result.autoscaling == {"scaledToZero": None, "scaledToZeroAt": None}
    # A service that never had scaleToZero: nothing read, nothing written.
    api.writes.clear()
    never = body(s2z=None, min_replicas=1)
    assert zero.cleanup(api, never, model(never), dep).applied == []  # type: ignore[arg-type]
    assert api.writes == []


def test_scale_to_zero_records_its_marker_once(api: FakeKube) -> None:
    b = body(s2z={})
    assert run(api, b).autoscaling == {"scaledToZero": False}
    b["status"] = {"autoscaling": {"scaledToZero": False}}
    assert run(api, b).autoscaling == {}


def test_both_processes_read_a_slice_the_same_way() -> None:
    from inferop.api.activation import serving_addresses

    eps = {
        "endpoints": [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
            {"addresses": ["10.0.0.2"]},  # no condition: ready, as discovery.k8s.io/v1 says
            {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}},
            {"addresses": []},
        ]
    }
    assert serving_addresses(eps) == ["10.0.0.1", "10.0.0.2"]
    assert serving_addresses({}) == []
