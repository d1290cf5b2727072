"""What the planner learns about one service and keeps between ticks: capacity points and load history. Pure.

What this module is for: the one shape of the planner's learned state, shared by ``decide()`` (which
reads it from ``History.learned`` and returns an updated copy), by ``cost.rebuild`` (which rebuilds it
from Prometheus range queries after a restart) and by the simulator. Only data and its arithmetic
here: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: The unit the load is measured in: prompt plus generated tokens per second where the runtime
#: exports token counters, requests per second where it does not.
LoadUnit = Literal["tokens", "requests"]


@dataclass(frozen=True)
class CapacityPoint:
    """One steady interval (ready replicas unchanged over the rate window): the load each ready
    replica served and the fraction of the window's requests that met the SLO."""

    #: When the interval ended (Unix seconds).
    time: float
    #: Load per ready replica over the interval, in the state's ``unit`` per second.
    per_replica: float
    #: Fraction (0-1) of the interval's requests that finished within the SLO target.
    attainment: float
    #: How many requests the interval held (a point's weight; 0 when not known).
    requests: float = 0.0


@dataclass(frozen=True)
class LoadSample:
    """The service's total load at one time, in the state's ``unit`` per second."""

    time: float
    load: float


@dataclass(frozen=True)
class Learned:
    """The planner's memory of one service. Empty (the default) for a service never seen."""

    unit: LoadUnit = "requests"
    #: Capacity points, oldest first.
    points: tuple[CapacityPoint, ...] = ()
    #: Load history, oldest first (what the forecast reads: recent level and trend, same time of day).
    load: tuple[LoadSample, ...] = ()

    def add(
        self,
        *,
        point: CapacityPoint | None = None,
        sample: LoadSample | None = None,
        keep_seconds: float,
    ) -> Learned:
        """A copy with ``point`` and ``sample`` appended and everything older than ``keep_seconds``
        before the newest time dropped (the CostPolicy's history window bounds the memory)."""
        points = self.points + ((point,) if point is not None else ())
        load = self.load + ((sample,) if sample is not None else ())
        newest = max((p.time for p in points[-1:]), default=0.0)
        newest = max(newest, max((s.time for s in load[-1:]), default=0.0))
        cutoff = newest - keep_seconds
        return Learned(
            unit=self.unit,
            points=tuple(p for p in points if p.time >= cutoff),
            load=tuple(s for s in load if s.time >= cutoff),
        )


def capacity_point(
    time: float, load: float, ready: int, attainment: float, requests: float = 0.0
) -> CapacityPoint | None:
    """The capacity point one steady interval gives (the caller checks steadiness: ready replicas
    unchanged over the rate window), or None when it gives none: no ready replica, a load that is
    not a positive number, or an attainment that is not a fraction. The one rule shared by the live
    tick (``decide``) and the rebuild from Prometheus range queries (``cost.rebuild``)."""
    if ready < 1 or not math.isfinite(load) or load <= 0.0:
        return None
    if not math.isfinite(attainment) or not 0.0 <= attainment <= 1.0:
        return None
    return CapacityPoint(time=time, per_replica=load / ready, attainment=attainment, requests=max(0.0, requests))
