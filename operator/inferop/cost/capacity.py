"""The capacity step: the load one ready replica serves while the SLO holds, from the learned points. Pure.

What this module is for: turning the capacity points of ``cost.state.Learned`` (each steady interval's
load per ready replica and the fraction of its requests within the SLO) and an optional prior into
one estimate with its bracket, source and support (``status.autoscaling.capacity``). The rules are
in ``docs/decide.md`` ("Capacity"); in short:

- memory decays: a point's weight halves every ``capacity_half_life_seconds``; points under
  ``forget_weight`` are forgotten, and a newer point wins over an older one it contradicts (a point
  within the SLO at a load an older breach had, or a breach at a load an older point served), so a
  new model version or new runtime flags are picked up;
- the bracket is [highest load per replica seen within the SLO, lowest seen breaching it]; a breach
  counts only when a lower load was served within the SLO (a breach that fewer requests per replica
  do not cure is not a capacity limit: the latency is then not load-driven);
- the estimate is the load where the attainment crosses the goal, interpolated across the bracket,
  and at least the bracket's geometric middle; with no breach seen it is the highest load within the
  SLO, times ``probe_factor`` when that load left the scale-down line's room, or the prior if that is
  higher; with no point at all it is the prior (None without one: the service is then reactive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from inferop.cost.state import CapacityPoint, Learned, LoadUnit
from inferop.cost.tuning import PlannerTuning


@dataclass(frozen=True)
class Capacity:
    """The capacity estimate per ready replica at the SLO, in ``unit`` per second."""

    per_replica: float
    unit: LoadUnit
    source: str  # "prior" | "learned"
    lower: float | None = None
    upper: float | None = None
    points: int = 0
    #: Seconds between the oldest and the newest point the estimate rests on.
    span_seconds: float = 0.0

    def lowered(self, per_replica: float) -> Capacity:
        """This estimate capped at ``per_replica`` (the guard: a breach observed at that load)."""
        if not per_replica > 0 or per_replica >= self.per_replica:
            return self
        upper = per_replica if self.upper is None else min(self.upper, per_replica)
        return Capacity(per_replica, self.unit, "learned", self.lower, upper, self.points, self.span_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "perReplica": round(self.per_replica, 4),
            "unit": self.unit,
            "lower": None if self.lower is None else round(self.lower, 4),
            "upper": None if self.upper is None else round(self.upper, 4),
            "source": self.source,
            "points": self.points,
        }


def consistent(
    points: tuple[CapacityPoint, ...], now: float, goal: float, tuning: PlannerTuning
) -> list[CapacityPoint]:
    """The remembered points (weight at least ``forget_weight``) that no newer point contradicts, newest first."""
    half_life = max(1.0, tuning.capacity_half_life_seconds)
    horizon = half_life * math.log2(1.0 / tuning.forget_weight) if tuning.forget_weight > 0 else math.inf
    kept: list[CapacityPoint] = []
    max_within = -math.inf
    min_breach = math.inf
    for point in reversed(points):
        if now - point.time > horizon:
            break
        if point.attainment >= goal:
            if point.per_replica >= min_breach:
                continue
            max_within = max(max_within, point.per_replica)
        else:
            if point.per_replica <= max_within:
                continue
            min_breach = min(min_breach, point.per_replica)
        kept.append(point)
    return kept


def estimate(
    learned: Learned,
    *,
    now: float,
    goal: float,
    line: float,
    prior: float | None,
    tuning: PlannerTuning,
) -> Capacity | None:
    """The capacity per ready replica at the SLO ``goal`` (a fraction; ``line`` is the scale-down
    attainment line), or None when neither a point nor a prior gives one."""
    kept = consistent(learned.points, now, goal, tuning)
    within = [p for p in kept if p.attainment >= goal]
    breaches = [p for p in kept if p.attainment < goal]
    best = max(within, key=lambda p: p.per_replica, default=None)
    # A breach is a capacity limit only when a lower load was served within the SLO.
    worst = min(breaches, key=lambda p: p.per_replica, default=None) if best is not None else None
    support = [p for p in kept if p.attainment >= goal or best is not None]
    span = (max(p.time for p in support) - min(p.time for p in support)) if support else 0.0
    unit = learned.unit
    prior = prior if prior is not None and math.isfinite(prior) and prior > 0 else None
    if best is None:
        if prior is None:
            return None
        return Capacity(prior, unit, "prior", None, None, 0, 0.0)
    lower = best.per_replica
    if worst is not None:
        upper = worst.per_replica
        crossing = lower
        if best.attainment > worst.attainment:
            crossing = lower + (upper - lower) * (best.attainment - goal) / (best.attainment - worst.attainment)
        value = min(upper, max(crossing, math.sqrt(lower * upper)))
        return Capacity(value, unit, "learned", lower, upper, len(support), span)
    value = lower * tuning.probe_factor if best.attainment >= line else lower
    if prior is not None and prior > value:
        return Capacity(prior, unit, "prior", lower, None, len(support), span)
    return Capacity(value, unit, "learned", lower, None, len(support), span)
