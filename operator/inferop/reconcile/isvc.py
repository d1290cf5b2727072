"""Reconcile one InferenceService: apply its children where they drifted, then write honest status.

Level-based and idempotent: create, update, resume, the drift timer, child events and GPUClass
changes all call ``reconcile``. An unchanged spec with undrifted children causes reads only.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inferop.api import GPUClass, InvalidObject, parse_gpuclass, parse_isvc
from inferop.api.inferenceservice import InferenceService
from inferop.reconcile import plan
from inferop.reconcile.kube import Kube, KubeError, Transient, path, path_of
from inferop.render import RenderError, render_all
from inferop.render.labels import selector_string, service_url

log = logging.getLogger(__name__)
ISVC_API = "inferop.dev/v1alpha1"


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(obj: Any) -> Any:
    """Deep copy of a kopf Body/Spec (mapping views) into plain dicts and lists."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def gpuclasses_from(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, GPUClass]:
    """GPUClass models from name -> spec; an invalid class is left out (its own validation reports it)."""
    out: dict[str, GPUClass] = {}
    for name, spec in specs.items():
        try:
            out[name] = parse_gpuclass({"metadata": {"name": name}, "spec": plain(spec)})
        except InvalidObject:
            log.warning("GPUClass %s is invalid and is ignored", name)
    return out


@dataclass
class Result:
    status_patch: dict[str, Any]
    event: plan.Event | None
    applied: list[str]


def _child_url(isvc_body: Mapping[str, Any], api_version: str, kind: str) -> str:
    meta = isvc_body["metadata"]
    return path(api_version, kind, meta.get("namespace"), meta["name"])


def apply_children(
    kube: Kube, owner: Mapping[str, Any], objects: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Apply each object that is missing or drifted; return the live objects by kind and what was written."""
    live_by_kind: dict[str, dict[str, Any]] = {}
    applied: list[str] = []
    for desired in objects:
        obj = plan.with_owner(desired, owner)
        live = kube.get(path_of(obj))
        where = f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"
        if live is None or not plan.is_subset(obj, live):
            live = kube.apply(obj)
            applied.append(where)
            log.info("%s %s", "Updated" if live.get("metadata", {}).get("generation", 1) != 1 else "Applied", where)
        live_by_kind[obj["kind"]] = live
    return live_by_kind, applied


def delete_stale_hpa(kube: Kube, owner: Mapping[str, Any]) -> bool:
    """Remove our HPA when the service switched to fixed replicas."""
    url = _child_url(owner, "autoscaling/v2", "HorizontalPodAutoscaler")
    hpa = kube.get(url)
    if hpa is not None and plan.is_owned_by(hpa, owner["metadata"]["uid"]):
        kube.delete(url)
        log.info("Deleted HorizontalPodAutoscaler %s/%s", owner["metadata"]["namespace"], owner["metadata"]["name"])
        return True
    return False


def reconcile(kube: Kube, body: Mapping[str, Any], gpuclasses: Mapping[str, GPUClass]) -> Result:
    """Bring the children of ``body`` in line with its spec and compute its status patch."""
    body = plain(body)
    meta = body["metadata"]
    generation = int(meta.get("generation", 0) or 0)
    current = body.get("status") or {}
    error: plan.Cond | None = None
    isvc: InferenceService | None = None
    objects: list[dict[str, Any]] = []
    try:
        isvc = parse_isvc(body)
        objects = render_all(isvc, gpuclasses)
    except InvalidObject as err:
        error = plan.Cond(plan.READY, "False", "InvalidSpec", str(err))
    except RenderError as err:
        error = plan.Cond(plan.READY, "False", err.reason, str(err))

    applied: list[str] = []
    live: dict[str, dict[str, Any]] | None = None
    if error is None and isvc is not None:
        try:
            live, applied = apply_children(kube, body, objects)
            if isvc.spec.autoscaling is None and delete_stale_hpa(kube, body):
                applied.append("delete HorizontalPodAutoscaler")
        except Transient:
            raise
        except KubeError as err:
            # The API server refused a child (invalid, forbidden, quota): say so instead of failing silently.
            error = plan.Cond(plan.READY, "False", "ApplyFailed", f"the API server rejected a child object: {err}")
    if live is not None:
        deployment, hpa = live.get("Deployment"), live.get("HorizontalPodAutoscaler")
    else:
        # Leave existing children alone (the old version keeps serving); report what we see.
        deployment = kube.get(_child_url(body, "apps/v1", "Deployment"))
        hpa = kube.get(_child_url(body, "autoscaling/v2", "HorizontalPodAutoscaler"))

    parts = [plan.deployment_condition(deployment)]
    autoscaled = isvc.spec.autoscaling is not None if isvc else bool((body.get("spec") or {}).get("autoscaling"))
    if autoscaled:
        parts.append(plan.autoscaler_condition(hpa))
    ready = plan.ready_condition(parts, error)
    conditions = plan.merge_conditions(current.get("conditions") or [], [*parts, ready], generation, now_iso())
    dep_status = (deployment or {}).get("status") or {}
    desired: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": conditions,
        "replicas": int(dep_status.get("replicas", 0) or 0),
        "readyReplicas": int(dep_status.get("readyReplicas", 0) or 0),
    }
    if isvc is not None:
        desired["selector"] = selector_string(isvc)
        desired["url"] = service_url(isvc)
    patch = plan.status_patch(current, desired)
    event = plan.ready_transition_event(current.get("conditions") or [], ready)
    return Result(status_patch=patch, event=event, applied=applied)


def write_status(kube: Kube, body: Mapping[str, Any], patch: Mapping[str, Any]) -> None:
    """Patch the /status subresource; a no-op for an empty patch (steady state writes nothing)."""
    if patch:
        kube.patch_merge(
            path_of({"apiVersion": ISVC_API, "kind": "InferenceService", "metadata": body["metadata"]}, "status"),
            {"status": dict(patch)},
        )
