"""Scale to zero, the level-based part of every reconcile of a scale-to-zero InferenceService. I/O.

Called by ``reconcile.isvc.reconcile`` after the children are applied (so also by the drift timer,
child events, the activation handler and the zero tick). From what is stored now it:

1. wakes the service when the activator's annotation (``inferop.dev/activation-requested``) is later
   than ``status.autoscaling.scaledToZeroAt`` (a few seconds of clock skew allowed): replicas back to
   the floor through the Deployment's ``/scale``, ``scaledToZero`` false, ``lastRequestTime`` = the
   annotation;
2. writes the Service's EndpointSlice ``<name>-inferop``: the activator's ready endpoints while at zero
   or with no ready pod, else the ready pods' (from the ``<name>-pods`` slices);
3. keeps replicas at 0 while at zero (the operator is the one writer of replicas at zero and back to
   the floor; the HPA above it: with the Deployment at 0 replicas the HPA does not scale it), and puts
   back the floor when a Deployment is found at 0 while the service is not at zero;
4. reports ``ScaledToZero`` and ``ScaleToZeroReady`` (no activator endpoint: never taken to zero; a
   hold timeout shorter than the runtime's cold start: held requests would time out).

Going to zero is the zero tick's decision (``reconcile.zerotick``): it records ``scaledToZero`` in
status first and then reconciles, which flips the slice and then sets replicas 0, in that order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inferop.api.activation import ACTIVATION_ANNOTATION, PROXY_PORT_NAME, SERVICE_NAME_LABEL
from inferop.api.inferenceservice import InferenceService
from inferop.cost import zero as rules
from inferop.reconcile import status
from inferop.reconcile.children import Reader, ensure_objects, remember_delete
from inferop.reconcile.drift import is_owned_by, with_owner
from inferop.reconcile.kube import Kube, path
from inferop.render import zero as render
from inferop.runtimes import get_profile

log = logging.getLogger(__name__)

SCALED_TO_ZERO = "ScaledToZero"
SCALE_TO_ZERO_READY = "ScaleToZeroReady"
CONDITIONS = (SCALED_TO_ZERO, SCALE_TO_ZERO_READY)
#: Where the activator's Service is (``namespace``, ``name``); ``INFEROP_ACTIVATOR_SERVICE``, set at
#: startup (``handlers.configure_kopf``). None: no activator, so no service is taken to zero.
ACTIVATOR_SERVICE: tuple[str, str] | None = None


def parse_service_ref(value: str | None) -> tuple[str, str] | None:
    """``<namespace>/<name>`` -> (namespace, name); None for an empty value. Raises ValueError otherwise."""
    if not value:
        return None
    namespace, sep, name = value.strip().partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"{value!r} is not <namespace>/<name>")
    return namespace, name


@dataclass
class ZeroResult:
    #: What was written (the EndpointSlice, /scale).
    applied: list[str] = field(default_factory=list)
    #: ``status.autoscaling`` fields to merge (scaledToZero, scaledToZeroAt, lastRequestTime).
    autoscaling: dict[str, Any] = field(default_factory=dict)
    conditions: list[status.Cond] = field(default_factory=list)
    #: A ready activator endpoint exists (the zero tick may take the service to zero).
    activator_ready: bool = False
    #: An annotation value that is not an RFC 3339 time (a Warning Event, then ignored).
    bad_annotation: str | None = None


def activator_endpoints(kube: Kube) -> list[render.Endpoint] | None:
    """The activator's ready endpoints (its proxy port), or None when no activator is configured."""
    if ACTIVATOR_SERVICE is None:
        return None
    namespace, name = ACTIVATOR_SERVICE
    slices = kube.list(
        path("discovery.k8s.io/v1", "EndpointSlice", namespace), label_selector=f"{SERVICE_NAME_LABEL}={name}"
    )
    ready = render.ready_endpoints(slices)
    return [e for e in ready if any(n == PROXY_PORT_NAME for n, _ in e.ports)]


def pod_endpoints(kube: Kube, isvc: InferenceService) -> list[render.Endpoint]:
    slices = kube.list(
        path("discovery.k8s.io/v1", "EndpointSlice", isvc.namespace),
        label_selector=f"{SERVICE_NAME_LABEL}={render.pods_service_name(isvc.name)}",
    )
    return render.ready_endpoints(slices)


def scale_url(isvc: InferenceService) -> str:
    return path("apps/v1", "Deployment", isvc.namespace, isvc.name, "scale")


def set_replicas(kube: Kube, isvc: InferenceService, replicas: int) -> str:
    kube.patch_merge(scale_url(isvc), {"spec": {"replicas": replicas}})
    log.info("Scaled Deployment %s/%s to %d replicas (scale to zero)", isvc.namespace, isvc.name, replicas)
    return f"Deployment {isvc.namespace}/{isvc.name} /scale replicas={replicas}"


def reconcile_zero(
    kube: Kube,
    body: Mapping[str, Any],
    isvc: InferenceService,
    deployment: Mapping[str, Any] | None,
    reader: Reader | None = None,
) -> ZeroResult:
    """The scale-to-zero part of a reconcile (see the module docstring); ``deployment`` is ours, live."""
    s2z = isvc.spec.scale_to_zero
    assert s2z is not None and isvc.spec.autoscaling is not None
    out = ZeroResult()
    auto = (body.get("status") or {}).get("autoscaling") or {}
    at_zero = auto.get("scaledToZero") is True
    raw = ((body.get("metadata") or {}).get("annotations") or {}).get(ACTIVATION_ANNOTATION)
    requested = rules.parse_time(raw)
    if raw is not None and requested is None:
        out.bad_annotation = str(raw)
    floor = isvc.spec.autoscaling.floor
    if "scaledToZero" not in auto:  # the marker ``cleanup`` reads when scaleToZero is removed
        out.autoscaling["scaledToZero"] = False
    if at_zero and rules.wake_wanted(requested, rules.parse_time(auto.get("scaledToZeroAt"))):
        at_zero = False
        out.autoscaling["scaledToZero"] = False
        out.autoscaling["lastRequestTime"] = rules.later_iso(auto.get("lastRequestTime"), requested)
        log.info("Waking %s/%s: the activator holds a request (%s)", isvc.namespace, isvc.name, raw)

    # The slice first (the activator before replicas go to 0), then replicas.
    activator = activator_endpoints(kube)
    out.activator_ready = bool(activator)
    pods = [] if at_zero else pod_endpoints(kube, isvc)
    target = render.choose_target(at_zero, pods)
    profile = get_profile(isvc.spec.runtime.name)
    endpoints = pods if target == render.TO_PODS else (activator or [])
    want = with_owner(render.build_endpointslice(isvc, profile, target, endpoints), body)
    _, applied = ensure_objects(kube, [want], reader)
    out.applied.extend(applied)

    if deployment is not None:
        replicas = int((deployment.get("spec") or {}).get("replicas", 1))
        if at_zero and replicas != 0:
            out.applied.append(set_replicas(kube, isvc, 0))
        elif not at_zero and replicas == 0:
            out.applied.append(set_replicas(kube, isvc, floor))

    if at_zero:
        out.conditions.append(status.Cond(SCALED_TO_ZERO, "True", "Idle",
                                          f"no request for {s2z.idle_seconds} s: at zero, requests wait in the "
                                          "activator for the first replica"))
    else:
        ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
        reason, message = ("Serving", f"endpoints point at {len(pods)} ready pod(s)") if target == render.TO_PODS \
            else ("Activating", "no ready pod yet: requests wait in the activator")
        if ready and target != render.TO_PODS:
            message = "pods are ready but not yet in the pods Service's endpoints: requests wait in the activator"
        out.conditions.append(status.Cond(SCALED_TO_ZERO, "False", reason, message))
    out.conditions.append(readiness(isvc, activator))
    return out


def readiness(isvc: InferenceService, activator: list[render.Endpoint] | None) -> status.Cond:
    """``ScaleToZeroReady``: whether going to zero is safe (an activator) and sound (the hold timeout)."""
    s2z = isvc.spec.scale_to_zero
    assert s2z is not None
    cold = get_profile(isvc.spec.runtime.name).cold_start_seconds
    if activator is None:
        return status.Cond(SCALE_TO_ZERO_READY, "False", "NoActivator",
                           "no activator configured (INFEROP_ACTIVATOR_SERVICE; the chart's activator.enabled): "
                           "the service is never taken to zero")
    if not activator:
        return status.Cond(SCALE_TO_ZERO_READY, "False", "ActivatorNotReady",
                           "the activator has no ready endpoint: the service is not taken to zero")
    if s2z.hold_timeout_seconds < cold:
        return status.Cond(SCALE_TO_ZERO_READY, "False", "HoldTimeoutShorterThanColdStart",
                           f"spec.autoscaling.scaleToZero.holdTimeoutSeconds ({s2z.hold_timeout_seconds} s) is "
                           f"shorter than the {isvc.spec.runtime.name} cold start ({cold:.0f} s): the first "
                           "requests after zero would get 504")
    return status.Cond(SCALE_TO_ZERO_READY, "True", "ActivatorReady",
                       f"{len(activator)} activator endpoint(s) ready; cold start {cold:.0f} s")


def wake_requested(body: Mapping[str, Any]) -> bool:
    """At zero, with an activation annotation later than ``scaledToZeroAt`` (the handler's filter)."""
    auto = (body.get("status") or {}).get("autoscaling") or {}
    if auto.get("scaledToZero") is not True:
        return False
    raw = ((body.get("metadata") or {}).get("annotations") or {}).get(ACTIVATION_ANNOTATION)
    return rules.wake_wanted(rules.parse_time(raw), rules.parse_time(auto.get("scaledToZeroAt")))


def cleanup(
    kube: Kube,
    body: Mapping[str, Any],
    isvc: InferenceService,
    deployment: Mapping[str, Any] | None,
    reader: Reader | None = None,
) -> ZeroResult:
    """A service whose ``scaleToZero`` was removed: delete our ``<name>-pods`` Service and
    ``<name>-inferop`` EndpointSlice (the Service has its selector again: a leftover slice would add
    the activator or old pods to its endpoints), put replicas back to the floor if it was left at zero
    (an HPA does not scale from 0), and drop the scale-to-zero status. Reads nothing for a service
    whose status never had ``scaledToZero`` (every scale-to-zero service records it)."""
    out = ZeroResult()
    auto = (body.get("status") or {}).get("autoscaling") or {}
    if "scaledToZero" not in auto:  # never had scaleToZero (reconcile_zero always records it): no reads
        return out
    read = reader if reader is not None else kube
    uid = str((body.get("metadata") or {}).get("uid") or "")
    pods_url = path("v1", "Service", isvc.namespace, render.pods_service_name(isvc.name))
    pods_service = read.get(pods_url)
    if pods_service is not None and is_owned_by(pods_service, uid):
        slice_url = path("discovery.k8s.io/v1", "EndpointSlice", isvc.namespace, render.slice_name(isvc.name))
        live_slice = kube.get(slice_url)
        if live_slice is not None and is_owned_by(live_slice, uid):
            kube.delete(slice_url)
            remember_delete(read, slice_url)
            out.applied.append(f"delete EndpointSlice {isvc.namespace}/{render.slice_name(isvc.name)}")
        kube.delete(pods_url)
        remember_delete(read, pods_url)
        out.applied.append(f"delete Service {isvc.namespace}/{render.pods_service_name(isvc.name)}")
    if isvc.spec.autoscaling is not None and deployment is not None:
        if int((deployment.get("spec") or {}).get("replicas", 1)) == 0:
            out.applied.append(set_replicas(kube, isvc, isvc.spec.autoscaling.floor))
    out.autoscaling = {"scaledToZero": None, "scaledToZeroAt": None}
    for entry in out.applied:
        log.info("Scale to zero removed: %s", entry)
    return out
