"""kopf handler registrations. Only decorators and delegation live here (STYLE 3).

- InferenceService create/update/resume, a drift timer, and events of the children we own all call
  ``inferop.reconcile.isvc.reconcile``.
- GPUClass events re-reconcile the services that use that class (found through a kopf index).
- Bookkeeping (finalizer, progress and diff-base annotations) uses the ``inferop.dev/`` prefix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

import kopf

from inferop import metrics
from inferop.api.common import GROUP, VERSION
from inferop.api.validation import plain
from inferop.cost import controller as cost_controller
from inferop.cost.controller import CostController
from inferop.reconcile import context
from inferop.reconcile import isvc as isvc_reconcile
from inferop.reconcile.kube import Kube, KubeError, Transient, load_config, path
from inferop.render.labels import ISVC_LABEL, MANAGED_BY
from inferop.settings import Settings
from inferop.tenancy.reconcile import reconcile_tenant, write_tenant_status

SETTINGS = Settings.from_env()
_kube: Kube | None = None


def kube() -> Kube:
    global _kube
    if _kube is None:
        load_config()
        _kube = Kube()
    return _kube


def backoff(retry: int) -> float:
    """Seconds before retrying after a transient API failure: 1, 2, 4 ... capped at 60."""
    return float(min(60, 2 ** max(0, retry)))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Handler successes are logged, not posted as Events: steady state must write nothing.
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = SETTINGS.workers
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    kube()


@kopf.on.startup()
async def start_cost_controller(memo: kopf.Memo, **kwargs: Any) -> None:
    """One cost-control loop for all services; kopf's indexes (live views) feed it."""
    metrics.serve(SETTINGS.metrics_port)
    controller = CostController(kube(), SETTINGS.prometheus_url, SETTINGS.rate_window)
    memo["cost_stop"] = stop = asyncio.Event()
    memo["cost_task"] = asyncio.create_task(cost_controller.run(controller, kwargs, stop))


@kopf.on.cleanup()
async def stop_cost_controller(memo: kopf.Memo, **_: Any) -> None:
    stop: asyncio.Event | None = memo.get("cost_stop")
    task: asyncio.Task[None] | None = memo.get("cost_task")
    if stop is not None and task is not None:
        stop.set()
        await asyncio.wait([task], timeout=10)


ServiceIndex = kopf.Index[str, tuple[str, str]]


@kopf.index(GROUP, VERSION, "gpuclasses")
def gpuclass_specs(name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: plain(spec)}


@kopf.index(GROUP, VERSION, "inferenceservices")
def services_by_gpuclass(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[str, tuple[str | None, str]] | None:
    gpu = (spec.get("resources") or {}).get("gpu") or {}
    return {gpu["class"]: (namespace, name)} if gpu.get("class") else None


@kopf.index(GROUP, VERSION, "costpolicies")
def cost_policies(name: str, spec: kopf.Spec, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: plain(spec)}


@kopf.index(GROUP, VERSION, "tenants")
def tenants_by_namespace(name: str, spec: kopf.Spec, **_: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    return {ns: (name, plain(spec)) for ns in spec.get("namespaces") or []}


@kopf.index(GROUP, VERSION, "inferenceservices")
def services_by_namespace(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str | None, dict[str, Any]]:
    """Every InferenceService's metadata, spec and status, for the tenant headroom arithmetic."""
    return {namespace: {k: plain(body.get(k) or {}) for k in ("metadata", "spec", "status")}}


def _run(body: Mapping[str, Any], kwargs: Mapping[str, Any], retry: int) -> isvc_reconcile.Result:
    try:
        gpuclasses = context.gpuclasses(kwargs)
        tenancy = context.tenancy(body["metadata"].get("namespace"), gpuclasses, kwargs)
        result = isvc_reconcile.reconcile(kube(), body, gpuclasses, tenancy)
        isvc_reconcile.write_status(kube(), body, result.status_patch)
    except Transient as err:
        raise kopf.TemporaryError(f"API server unavailable, retrying: {err}", delay=backoff(retry)) from err
    event_body = body if isinstance(body, kopf.Body) else kopf.Body(cast(kopf.RawBody, dict(body)))
    for event in result.events:
        kopf.event(event_body, type=event.type, reason=event.reason, message=event.message)
    return result


@kopf.on.resume(GROUP, VERSION, "inferenceservices")
@kopf.on.create(GROUP, VERSION, "inferenceservices")
@kopf.on.update(GROUP, VERSION, "inferenceservices")
def reconcile(body: kopf.Body, retry: int, **kwargs: Any) -> None:
    result = _run(body, kwargs, retry)
    ready = next((c for c in (result.status_patch.get("conditions") or []) if c["type"] == "Ready"), None)
    if ready is not None and ready["reason"] == "InvalidSpec":
        raise kopf.PermanentError(ready["message"])


@kopf.timer(
    GROUP, VERSION, "inferenceservices", interval=SETTINGS.drift_interval, initial_delay=SETTINGS.drift_interval
)
def repair_drift(body: kopf.Body, **kwargs: Any) -> None:
    _run(body, kwargs, retry=0)


def _reconcile_by_name(namespace: str, name: str, kwargs: Mapping[str, Any], logger: kopf.Logger) -> None:
    body = kube().get(path(f"{GROUP}/{VERSION}", "InferenceService", namespace, name))
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    try:
        _run(body, kwargs, 0)
    except (kopf.TemporaryError, KubeError) as err:
        logger.warning("Reconcile of %s/%s failed, the drift timer will retry: %s", namespace, name, err)


@kopf.on.event("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
@kopf.on.event("v1", "services", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
def child_changed(body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    """A child changed or vanished: refresh status, repair what drifted (reads only when nothing did)."""
    meta = body.get("metadata", {})
    owner = (meta.get("labels") or {}).get(ISVC_LABEL)
    if owner and meta.get("namespace"):
        _reconcile_by_name(meta["namespace"], owner, kwargs, logger)


@kopf.on.event(GROUP, VERSION, "gpuclasses")
def gpuclass_changed(name: str, logger: kopf.Logger, **kwargs: Any) -> None:
    """Re-reconcile every InferenceService that uses this class (it may heal GPUClassNotFound)."""
    index: ServiceIndex = kwargs["services_by_gpuclass"]
    for namespace, service in list(index.get(name, [])):
        _reconcile_by_name(namespace, service, kwargs, logger)


def _reconcile_tenant(body: Mapping[str, Any], kwargs: Mapping[str, Any], retry: int) -> None:
    namespaces = list((body.get("spec") or {}).get("namespaces") or [])
    try:
        result = reconcile_tenant(kube(), body, context.gpuclasses(kwargs), context.services_in(namespaces, kwargs))
        write_tenant_status(kube(), body, result.status_patch)
    except Transient as err:
        raise kopf.TemporaryError(f"API server unavailable, retrying: {err}", delay=backoff(retry)) from err


@kopf.on.resume(GROUP, VERSION, "tenants")
@kopf.on.create(GROUP, VERSION, "tenants")
@kopf.on.update(GROUP, VERSION, "tenants")
def reconcile_tenant_handler(body: kopf.Body, retry: int, logger: kopf.Logger, **kwargs: Any) -> None:
    _reconcile_tenant(body, kwargs, retry)
    # The headroom of every service in the tenant's namespaces may have changed.
    for svc in context.services_in(list(body.spec.get("namespaces") or []), kwargs):
        _reconcile_by_name(svc["metadata"]["namespace"], svc["metadata"]["name"], kwargs, logger)


@kopf.timer(GROUP, VERSION, "tenants", interval=SETTINGS.drift_interval, initial_delay=SETTINGS.drift_interval)
def tenant_drift(body: kopf.Body, **kwargs: Any) -> None:
    """Repair quota drift and refresh usage (writes only when something changed)."""
    _reconcile_tenant(body, kwargs, retry=0)
