"""kopf handler registrations. Only decorators and delegation live here (STYLE 3).

- InferenceService create/update/resume, a drift timer, and events of the children we own all call
  ``inferop.reconcile.isvc.reconcile``, one at a time per service (``inferop.reconcile.serial``).
- Reconciles triggered by events read the children from kopf indexes (the watch streams we already
  have); the drift timer reads them from the API, so it also repairs what a lost watch event hid.
- GPUClass events re-reconcile the services that use that class (found through a kopf index).
- Bookkeeping (finalizer, progress and diff-base annotations) uses the ``inferop.dev/`` prefix.
- Index functions are ``async`` (pure and quick): kopf then runs them on its event loop instead of
  queueing them behind blocking handlers in the thread pool, so the indexes stay current under load.
- Settings come at startup, not at import: ``inferop.operator.run`` calls ``configure(settings)``
  before kopf starts; it also registers the drift timers, whose interval is a setting.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Mapping
from typing import Any, cast

import kopf

from inferop import metrics
from inferop.api.activation import ACTIVATION_ANNOTATION
from inferop.api.common import API_VERSION, GROUP, VERSION
from inferop.api.validation import plain
from inferop.cost import zero as zero_rules
from inferop.diffbase import DigestDiffBaseStorage
from inferop.reconcile import cache, children, costtick, zero
from inferop.reconcile import isvc as isvc_reconcile
from inferop.reconcile.costtick import CostController
from inferop.reconcile.kube import Kube, KubeError, Transient, load_config, path
from inferop.reconcile.serial import KeyedRunner
from inferop.reconcile.tenant import reconcile_tenant, remove_stale, write_tenant_status
from inferop.render.labels import ISVC_LABEL, MANAGED_BY
from inferop.render.quota import TENANT_LABEL
from inferop.settings import Settings

#: The operator's settings (``configure``); the defaults until then (tests call handlers directly).
_settings = Settings()
_timers_interval: int | None = None
_kube: Kube | None = None
#: One reconcile per InferenceService at a time, shared with the cost controller.
RUNNER = KeyedRunner()
OWNED = {"app.kubernetes.io/managed-by": MANAGED_BY}


def configure(settings: Settings) -> None:
    """Use ``settings`` from now on and register the drift timers with their interval. Call it once,
    before kopf starts (``inferop.operator.run`` does); kopf registers a timer's interval only once."""
    global _settings, _timers_interval
    if _timers_interval is not None and settings.drift_interval != _timers_interval:
        raise RuntimeError(
            f"the drift timers run every {_timers_interval} s already; cannot change it to {settings.drift_interval} s"
        )
    _settings = settings
    if _timers_interval is None:
        every = settings.drift_interval
        kopf.timer(GROUP, VERSION, "inferenceservices", interval=every, initial_delay=every)(repair_drift)
        kopf.timer(GROUP, VERSION, "tenants", interval=every, initial_delay=every)(tenant_drift)
        _timers_interval = every


def kube() -> Kube:
    global _kube
    if _kube is None:
        load_config(pool_size=_settings.workers + 4)  # every handler thread and the cost controller
        _kube = Kube()
    return _kube


def backoff(retry: int) -> float:
    """Seconds before retrying after a transient API failure: 1, 2, 4 ... capped at 60."""
    return float(min(60, 2 ** max(0, retry)))


@kopf.on.startup()
def configure_kopf(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    # A digest, not kopf's copy of spec and annotations: an object of any admitted size stays
    # writable for kopf's bookkeeping, so our finalizer can always be removed (inferop.diffbase).
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    # Handler successes are logged, not posted as Events: steady state must write nothing.
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = _settings.workers
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    cache.OPERATOR_NAMESPACE = _settings.operator_namespace
    children.REFUSED_RETRY_SECONDS = float(_settings.refused_retry)
    try:
        zero.ACTIVATOR_SERVICE = zero.parse_service_ref(_settings.activator_service)
    except ValueError as err:
        raise SystemExit(f"error: INFEROP_ACTIVATOR_SERVICE: {err}") from None
    kube()


@kopf.on.startup()
async def start_cost_controller(memo: kopf.Memo, **kwargs: Any) -> None:
    """One cost-control loop for all services; kopf's indexes (live views) feed it."""
    metrics.serve(_settings.metrics_port)
    controller = CostController(
        kube(), _settings.prometheus_url, _settings.rate_window, runner=RUNNER, rebuild_state=_settings.rebuild_state
    )
    memo["cost_stop"] = stop = asyncio.Event()
    memo["cost_task"] = asyncio.create_task(costtick.run(controller, kwargs, stop))


@kopf.on.cleanup()
async def stop_cost_controller(memo: kopf.Memo, **_: Any) -> None:
    stop: asyncio.Event | None = memo.get("cost_stop")
    task: asyncio.Task[None] | None = memo.get("cost_task")
    if stop is not None and task is not None:
        stop.set()
        await asyncio.wait([task], timeout=10)


ServiceIndex = kopf.Index[str, tuple[str, str]]


@kopf.index(GROUP, VERSION, "gpuclasses")
async def gpuclass_specs(name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: plain(spec)}


@kopf.index(GROUP, VERSION, "inferenceservices")
async def services_by_gpuclass(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str, tuple[str | None, str]] | None:
    gpu = (spec.get("resources") or {}).get("gpu") or {}
    return {gpu["class"]: (namespace, name)} if gpu.get("class") else None


@kopf.index(GROUP, VERSION, "costpolicies")
async def cost_policies(name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: plain(spec)}


@kopf.index(GROUP, VERSION, "tenants")
async def tenants_by_namespace(
    name: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[str, tuple[str, dict[str, Any], str]]:
    """Every Tenant listing a namespace, with its creationTimestamp (the claim rule's tie-breaker)."""
    shared = plain(spec)  # one object for every namespace: context caches the parsed Tenant by identity
    created = str(meta.get("creationTimestamp") or "")
    return {ns: (name, shared, created) for ns in spec.get("namespaces") or []}


@kopf.index("v1", "namespaces", labels={TENANT_LABEL: kopf.PRESENT})
async def namespace_tenants(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
    """The Tenant that holds each namespace now (its ``inferop.dev/tenant`` label): the claim rule keeps it."""
    return {name: str(labels[TENANT_LABEL])}


@kopf.index(GROUP, VERSION, "inferenceservices")
async def services_by_namespace(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str | None, dict[str, Any]]:
    """Every InferenceService's spec, status and identifying metadata, for the tenant headroom
    arithmetic and the cost controller."""
    return {namespace: cache.slim_service(body)}


# Our children by API path (``cache.IndexReader``), fed by the watch streams ``child_changed`` uses.
@kopf.index("apps", "v1", "deployments", labels=OWNED)
async def child_deployments(name: str, namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {path("apps/v1", "Deployment", namespace, name): cache.slim_child(body)}


@kopf.index("v1", "services", labels=OWNED)
async def child_services(name: str, namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {path("v1", "Service", namespace, name): cache.slim_child(body)}


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers", labels=OWNED)
async def child_hpas(name: str, namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {path("autoscaling/v2", "HorizontalPodAutoscaler", namespace, name): cache.slim_child(body)}


def _key(meta: Mapping[str, Any]) -> tuple[str, str]:
    return (str(meta.get("namespace") or ""), str(meta["name"]))


def _current(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body``, or the InferenceService as stored now if ``body`` predates a status we wrote (kopf's
    copy comes from the watch stream, a moment behind our own writes)."""
    meta = body["metadata"]
    if RUNNER.is_current(_key(meta), body):
        return body
    fresh = kube().get(path(API_VERSION, "InferenceService", meta.get("namespace"), meta["name"]))
    return fresh if fresh is not None else body


def _run(
    body: Mapping[str, Any], kwargs: Mapping[str, Any], retry: int, from_api: bool = False
) -> isvc_reconcile.Result:
    """One reconcile; children come from kopf's indexes unless ``from_api`` (or no index was passed)."""
    reader = None if from_api else cache.child_reader(kwargs)
    try:
        gpuclasses = cache.gpuclasses(kwargs)
        tenancy = cache.tenancy(body["metadata"].get("namespace"), gpuclasses, kwargs)
        result = isvc_reconcile.reconcile(kube(), body, gpuclasses, tenancy, reader)
        written = isvc_reconcile.write_status(kube(), body, result.status_patch)
        RUNNER.wrote(_key(body["metadata"]), written)
    except Transient as err:
        raise kopf.TemporaryError(f"API server unavailable, retrying: {err}", delay=backoff(retry)) from err
    event_body = body if isinstance(body, kopf.Body) else kopf.Body(cast(kopf.RawBody, dict(body)))
    for event in result.events:
        if event != result.warning:  # the Ready warning is posted level-based, below
            kopf.event(event_body, type=event.type, reason=event.reason, message=event.message)
    isvc_reconcile.post_ready_warning(kube(), body, result.warning)
    return result


@kopf.on.resume(GROUP, VERSION, "inferenceservices")
@kopf.on.create(GROUP, VERSION, "inferenceservices")
@kopf.on.update(GROUP, VERSION, "inferenceservices")
def reconcile(body: kopf.Body, retry: int, **kwargs: Any) -> None:
    result = RUNNER.exclusive(_key(body.metadata), lambda _: _run(_current(body), kwargs, retry))
    ready = next((c for c in (result.status_patch.get("conditions") or []) if c["type"] == "Ready"), None)
    if ready is not None and ready["reason"] == "InvalidSpec":
        raise kopf.PermanentError(ready["message"])


# Registered by ``configure`` (the interval is a setting), every ``drift_interval`` seconds.
def repair_drift(body: kopf.Body, **kwargs: Any) -> None:
    """The backstop: children read from the API, not the cache (one GET each per interval)."""
    RUNNER.exclusive(_key(body.metadata), lambda _: _run(_current(body), kwargs, retry=0, from_api=True))


def _reconcile_by_name(namespace: str, name: str, kwargs: Mapping[str, Any], logger: kopf.Logger) -> None:
    """Reconcile the InferenceService as stored now; once more after the current run if one is going on."""

    def run() -> None:
        body = kube().get(path(API_VERSION, "InferenceService", namespace, name))
        if body is None or body["metadata"].get("deletionTimestamp"):
            RUNNER.forget((namespace, name))
            if body is not None:
                isvc_reconcile.forget_ready_warning(str(body["metadata"].get("uid") or ""))
            return
        try:
            _run(body, kwargs, 0)
        except (kopf.TemporaryError, KubeError) as err:
            logger.warning("Reconcile of %s/%s failed, the drift timer will retry: %s", namespace, name, err)

    RUNNER.trigger((namespace, name), run)


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("v1", "services", labels=OWNED)
@kopf.on.event("discovery.k8s.io", "v1", "endpointslices", labels=OWNED)  # <name>-pods' and ours (scale to zero)
@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=OWNED)
def child_changed(body: kopf.Body, type: str | None, logger: kopf.Logger, **kwargs: Any) -> None:
    """A child changed or vanished: refresh status, repair what drifted (reads only when nothing did)."""
    meta = body.get("metadata", {})
    if type == "DELETED" and body.get("apiVersion") and body.get("kind"):
        cache.forget_write(path(body["apiVersion"], body["kind"], meta.get("namespace"), meta.get("name")))
    owner = (meta.get("labels") or {}).get(ISVC_LABEL)
    if owner and meta.get("namespace"):
        _reconcile_by_name(meta["namespace"], owner, kwargs, logger)


#: Activation annotation values already reported as unreadable (one Warning each).
_bad_activations: set[tuple[str, str, str]] = set()


@kopf.on.event(GROUP, VERSION, "inferenceservices", annotations={ACTIVATION_ANNOTATION: kopf.PRESENT})
def activation_requested(body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    """The activator holds a request of a service at zero: reconcile it now (``reconcile.zero`` scales it
    back to its floor). kopf's update handlers never see annotation changes (``diffbase``); the drift
    timer reads the annotation too (level-based). The annotation is never written here: its one writer
    is the activator."""
    meta = body.get("metadata", {})
    value = str((meta.get("annotations") or {}).get(ACTIVATION_ANNOTATION))
    if zero_rules.parse_time(value) is None:
        seen = (str(meta.get("namespace")), str(meta.get("name")), value)
        if seen not in _bad_activations:
            _bad_activations.add(seen)
            kopf.warn(body, reason="BadActivationAnnotation",
                      message=f"{ACTIVATION_ANNOTATION}={value!r} is not an RFC 3339 time: ignored")
        return
    if zero.wake_requested(body) and meta.get("namespace"):
        _reconcile_by_name(meta["namespace"], meta["name"], kwargs, logger)


@kopf.on.event(GROUP, VERSION, "gpuclasses")
def gpuclass_changed(name: str, logger: kopf.Logger, **kwargs: Any) -> None:
    """Re-reconcile every InferenceService that uses this class (it may heal GPUClassNotFound)."""
    index: ServiceIndex = kwargs["services_by_gpuclass"]
    for namespace, service in list(index.get(name, [])):
        _reconcile_by_name(namespace, service, kwargs, logger)


#: One Tenant reconcile at a time per Tenant (kopf's handlers and the recheck timers below).
_tenant_locks: dict[str, threading.Lock] = {}
#: A pending recheck per Tenant (a quota the kube-controller-manager is counting, or a limit to add back).
_tenant_rechecks: dict[str, threading.Timer] = {}
_tenant_guard = threading.Lock()


def _reconcile_tenant(body: Mapping[str, Any], kwargs: Mapping[str, Any], retry: int) -> None:
    name = body["metadata"]["name"]
    namespaces = list((body.get("spec") or {}).get("namespaces") or [])
    with _tenant_guard:
        lock = _tenant_locks.setdefault(name, threading.Lock())
    with lock:
        try:
            result = reconcile_tenant(
                kube(),
                body,
                cache.gpuclasses(kwargs),
                cache.services_in(namespaces, kwargs),
                owners=cache.tenant_claims(namespaces, kwargs),
                operator_namespace=_settings.operator_namespace,
            )
            write_tenant_status(kube(), body, result.status_patch)
        except Transient as err:
            raise kopf.TemporaryError(f"API server unavailable, retrying: {err}", delay=backoff(retry)) from err
    event_body = body if isinstance(body, kopf.Body) else kopf.Body(cast(kopf.RawBody, dict(body)))
    for event in result.events:
        kopf.event(event_body, type=event.type, reason=event.reason, message=event.message)
    if result.recheck_after is not None:
        _schedule_recheck(name, result.recheck_after, kwargs)


def _schedule_recheck(name: str, delay: float, kwargs: Mapping[str, Any]) -> None:
    """Reconcile the Tenant again in ``delay`` seconds (not a kopf retry: nothing failed, and kopf would
    log and post an error for it), reading it from the API then."""

    def run() -> None:
        with _tenant_guard:
            _tenant_rechecks.pop(name, None)
        try:
            body = kube().get(path(API_VERSION, "Tenant", None, name))
            if body is not None and not body["metadata"].get("deletionTimestamp"):
                _reconcile_tenant(body, kwargs, 0)
        except (kopf.TemporaryError, KubeError) as err:
            logging.getLogger(__name__).warning("Recheck of Tenant %s failed, the drift timer retries: %s", name, err)

    with _tenant_guard:
        if name in _tenant_rechecks:
            return
        ctx = contextvars.copy_context()  # kopf's settings and event queue, for kopf.event in the timer
        timer = threading.Timer(delay, ctx.run, args=(run,))
        timer.daemon = True
        _tenant_rechecks[name] = timer
    timer.start()


@kopf.on.resume(GROUP, VERSION, "tenants")
@kopf.on.create(GROUP, VERSION, "tenants")
@kopf.on.update(GROUP, VERSION, "tenants")
def reconcile_tenant_handler(body: kopf.Body, retry: int, logger: kopf.Logger, **kwargs: Any) -> None:
    _reconcile_tenant(body, kwargs, retry)
    # The headroom of every service in the tenant's namespaces may have changed.
    for svc in cache.services_in(list(body.spec.get("namespaces") or []), kwargs):
        _reconcile_by_name(svc["metadata"]["namespace"], svc["metadata"]["name"], kwargs, logger)


# Registered by ``configure``, like ``repair_drift``.
def tenant_drift(body: kopf.Body, **kwargs: Any) -> None:
    """Repair quota drift and refresh usage (writes only when something changed)."""
    _reconcile_tenant(body, kwargs, retry=0)


@kopf.on.delete(GROUP, VERSION, "tenants", optional=True)
def tenant_deleted(name: str, uid: str, **_: Any) -> None:
    """Remove the labels the Tenant set on its namespaces (its quotas go with it by garbage collection).
    Tenants carry kopf's finalizer (for the drift timer), so a Tenant deleted while the operator is down
    waits for it; one whose finalizer was removed by hand is cleaned up by ``tenant_namespace``."""
    try:
        remove_stale(kube(), name, set(), uid)
    except Transient as err:
        raise kopf.TemporaryError(f"API server unavailable, retrying: {err}", delay=10) from err


@kopf.on.event("v1", "namespaces", labels={TENANT_LABEL: kopf.PRESENT})
def tenant_namespace(name: str, labels: kopf.Labels, logger: kopf.Logger, **kwargs: Any) -> None:
    """A namespace labelled for a Tenant that no longer exists (deleted while the operator was down, or a
    label left by an older version): remove what that Tenant set. Also called for every labelled
    namespace when the operator starts; reads only, unless the Tenant is gone."""
    tenant = str(labels.get(TENANT_LABEL) or "")
    listed = {entry[0] for entry in kwargs["tenants_by_namespace"].get(name, [])}
    if not tenant or tenant in listed:
        return
    try:
        if kube().get(path(API_VERSION, "Tenant", None, tenant)) is None:
            logger.info("Namespace %s carries the labels of Tenant %s, which is gone: removing them", name, tenant)
            # The Tenant's uid is gone with it: its quotas are the garbage collector's, only labels remain.
            remove_stale(kube(), tenant, set(), owner_uid="")
    except Transient as err:
        raise kopf.TemporaryError(f"API server unavailable, retrying: {err}", delay=10) from err
