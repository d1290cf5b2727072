"""The way to zero, on the cost controller's tick. I/O.

The cost tick calls ``ZeroTick.observe`` for every scale-to-zero service it decided (with the observed
request rate and the planner's decision) and skips services at zero (``at_zero``: their model server
series are gone; the activator wakes them). When ``cost.zero.idle_verdict`` says idle and an activator
is ready, it takes the service to zero in this order:

1. status: ``scaledToZero: true``, ``scaledToZeroAt``, ``lastRequestTime`` (the level every later
   reconcile reads, so a crash after this step is finished by the next reconcile);
2. a reconcile (``reconcile.isvc.reconcile``), which flips the Service's EndpointSlice to the activator
   (``reconcile.zero``) and then sets the Deployment's replicas to 0 through ``/scale``.

``lastRequestTime`` is written at most once a minute while requests flow (a coarse time, not a write
per tick). The idle clock of this process starts at the first zero-rate observation, never earlier
than the stored ``lastRequestTime`` or the activation annotation: an operator restart only delays zero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inferop.api.activation import ACTIVATION_ANNOTATION
from inferop.api.common import API_VERSION
from inferop.api.inferenceservice import InferenceService
from inferop.api.times import iso_at
from inferop.cost import zero as rules
from inferop.cost.signals import Observation
from inferop.reconcile import zero
from inferop.reconcile.kube import Kube, path

log = logging.getLogger(__name__)
#: How stale ``status.autoscaling.lastRequestTime`` may get while requests flow.
LAST_REQUEST_RESOLUTION_SECONDS = 60.0

Reconcile = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


def at_zero(body: Mapping[str, Any]) -> bool:
    return ((body.get("status") or {}).get("autoscaling") or {}).get("scaledToZero") is True


def _stamp(value: Any) -> float | None:
    parsed = rules.parse_time(value)
    return parsed.timestamp() if parsed is not None else None


@dataclass
class ZeroTick:
    kube: Kube
    #: (namespace, name) -> unix seconds of the first zero-rate observation of this idle stretch.
    idle_since: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(
        self,
        body: Mapping[str, Any],
        isvc: InferenceService,
        rate: Observation,
        forecast: Mapping[str, Any] | None,
        now: float,
        reconcile: Reconcile,
    ) -> bool:
        """Judge one service; take it to zero when idle. Returns True when it went to zero."""
        s2z = isvc.spec.scale_to_zero
        if s2z is None or at_zero(body):
            return False
        key = (isvc.namespace, isvc.name)
        auto = (body.get("status") or {}).get("autoscaling") or {}
        annotation = ((body.get("metadata") or {}).get("annotations") or {}).get(ACTIVATION_ANNOTATION)
        if rate.usable and rate.value is not None and rate.value > 0:
            self.idle_since.pop(key, None)
            stored = _stamp(auto.get("lastRequestTime"))
            if stored is None or now - stored >= LAST_REQUEST_RESOLUTION_SECONDS:
                self._write(body, {"lastRequestTime": iso_at(now)})
            return False
        if not (rate.usable and rate.value == 0):
            self.idle_since.pop(key, None)  # missing or NaN is never idle: the clock starts again
            return False
        started = self.idle_since.setdefault(key, now)
        since = max(t for t in (started, _stamp(auto.get("lastRequestTime")), _stamp(annotation)) if t is not None)
        verdict = rules.idle_verdict(rate, since, now, float(s2z.idle_seconds), forecast)
        if not verdict.idle:
            return False
        if not zero.activator_endpoints(self.kube):
            log.info("%s/%s is idle but no activator endpoint is ready: not taking it to zero", *key)
            return False
        log.info("Taking %s/%s to zero: %s", isvc.namespace, isvc.name, verdict.reason)
        written = self._write(
            body,
            {
                "scaledToZero": True,
                "scaledToZeroAt": iso_at(now),
                "lastRequestTime": rules.later_iso(auto.get("lastRequestTime"), rules.parse_time(annotation)),
            },
        )
        self.idle_since.pop(key, None)
        reconcile(written if written is not None else body)
        self.kube.post_event(
            {"apiVersion": API_VERSION, "kind": "InferenceService", "metadata": body["metadata"]},
            "Normal",
            "ScaledToZero",
            f"Scaled to zero: {verdict.reason}; the activator holds requests until the first replica is ready",
        )
        return True

    def _write(self, body: Mapping[str, Any], autoscaling: dict[str, Any]) -> dict[str, Any] | None:
        meta = body["metadata"]
        url = path(API_VERSION, "InferenceService", meta.get("namespace"), meta["name"], "status")
        return self.kube.patch_merge(url, {"status": {"autoscaling": autoscaling}})
