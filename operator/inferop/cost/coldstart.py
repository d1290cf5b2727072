"""A service's cold start, measured from its own pods: creation to Ready. Pure.

What this module is for: the planner's forecast horizon starts with the time a new replica takes to
serve. The runtime profile's ``cold_start_seconds`` is the default; once the service has pods that
became Ready, the horizon is the median creation-to-Ready time of the :data:`NEWEST` newest of them
(recent pods reflect today's image, model size and node pool; the median ignores one slow node).
The reconcile side lists pods cluster-wide once (not per service) when a service's ready replicas
rose, or every :data:`REMEASURE_SECONDS`, and hands the pod bodies here (:func:`measure`).

A pod counts when its ``Ready`` condition is True: its time is the condition's
``lastTransitionTime`` minus ``metadata.creationTimestamp``. A pod that went Ready, then unready and
Ready again reports its last transition, which overstates its cold start; that errs towards a longer
horizon (earlier scale-up), the safe side.

Must not: do I/O or read the clock.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inferop.cost.queries import ServiceKey

#: How many of a service's newest Ready pods the median is taken over.
NEWEST = 5
#: Seconds between two measurements when the ready replicas did not rise.
REMEASURE_SECONDS = 600.0
#: The pod label naming the InferenceService a pod serves.
SERVICE_POD_LABEL = "inferop.dev/inferenceservice"


@dataclass(frozen=True)
class PodStart:
    """When one pod was created and when it became Ready (Unix seconds)."""

    created: float
    ready: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.ready - self.created)


def _time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pod_start(pod: Mapping[str, Any]) -> PodStart | None:
    """The pod's creation and Ready times, or None when it is not Ready (or a time is missing)."""
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return None
    created = _time(metadata.get("creationTimestamp"))
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready" and c.get("status") == "True"), None)
    at = _time(ready.get("lastTransitionTime")) if ready is not None else None
    if created is None or at is None:
        return None
    return PodStart(created=created, ready=at)


def cold_start_seconds(starts: Iterable[PodStart], default: float) -> float:
    """The median creation-to-Ready of the :data:`NEWEST` newest pods, or ``default`` when there is none."""
    newest = sorted(starts, key=lambda s: s.created)[-NEWEST:]
    if not newest:
        return default
    return float(statistics.median(s.seconds for s in newest))


def measure(pods: Iterable[Mapping[str, Any]], defaults: Mapping[ServiceKey, float]) -> dict[ServiceKey, float]:
    """Per service of ``defaults`` (its runtime profile's cold start), the cold start its pods show."""
    starts: dict[ServiceKey, list[PodStart]] = {key: [] for key in defaults}
    for pod in pods:
        metadata = pod.get("metadata") or {}
        name = (metadata.get("labels") or {}).get(SERVICE_POD_LABEL)
        key = ServiceKey(str(metadata.get("namespace") or ""), str(name or ""))
        start = pod_start(pod) if key in starts else None
        if start is not None:
            starts[key].append(start)
    return {key: cold_start_seconds(found, defaults[key]) for key, found in starts.items()}


def due(now: float, last_measured: float | None, ready_rose: bool) -> bool:
    """Whether to list pods again: never measured, ready replicas rose, or :data:`REMEASURE_SECONDS` passed."""
    return last_measured is None or ready_rose or now - last_measured >= REMEASURE_SECONDS
