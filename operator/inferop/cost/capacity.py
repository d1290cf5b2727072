"""The capacity step: the load one ready replica serves while the SLO holds, from the learned points. Pure.

What this module is for: turning the capacity points of ``cost.state.Learned`` (each steady interval's
load per ready replica and the fraction of its requests within the SLO) and an optional prior into
one estimate with its bracket, source and support (``status.autoscaling.capacity``). The rules are
in ``docs/decide.md`` ("Capacity"); in short:

- memory decays: a point's weight halves every ``capacity_half_life_seconds``; points under
  ``forget_weight`` are forgotten;
- the bracket is [highest load per replica seen within the SLO, lowest seen breaching it], by the
  weight of evidence (``bracket``): a point within the SLO at load L counts when the points within at
  L and above outweigh the breaches at L and below, a breach when they do not (one slow request at a
  light load does not wipe out an hour of points); newer points weigh more, so a new model version or
  new runtime flags win as the old points fade; a breach counts only above a point within the SLO (a
  breach that fewer requests per replica do not cure is not a capacity limit: the latency is then not
  load-driven);
- the estimate is the load where the attainment crosses the goal, interpolated across the bracket, or
  extrapolated by a weighted line of attainment over load through the points within the SLO (at most
  ``max_extrapolation`` times the bracket's lower end, never above its upper end), and at least the
  bracket's geometric middle;
- with no breach seen it is the highest load within the SLO (times ``probe_factor`` when that load
  left the scale-down line's room), or the extrapolated crossing when higher, or the prior when
  higher still; with no point at all it is the prior (None without one: the service is reactive).
"""

from __future__ import annotations

import bisect
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
        """This estimate capped at ``per_replica`` (the guard: a breach observed at that load), but
        not below the bracket's lower end: a load already served within the SLO is not what breached."""
        per_replica = max(per_replica, self.lower or 0.0)
        if not per_replica > 0 or per_replica >= self.per_replica:
            return self
        upper = per_replica if self.upper is None else min(self.upper, per_replica)
        return Capacity(per_replica, self.unit, "learned", self.lower, upper, self.points, self.span_seconds)

    def raised(self, per_replica: float) -> Capacity:
        """This estimate at least ``per_replica`` (a load served within the SLO now), below a breach."""
        if self.upper is not None:
            per_replica = min(per_replica, self.upper)
        if not per_replica > self.per_replica:
            return self
        lower = per_replica if self.lower is None else max(self.lower, per_replica)
        return Capacity(per_replica, self.unit, "learned", lower, self.upper, self.points, self.span_seconds)

    def probed(self, per_replica: float) -> Capacity:
        """This estimate at least ``per_replica`` without evidence for it (the probe down one replica:
        ``lower`` stays the highest load served within the SLO), and never at or above a breach."""
        if self.upper is not None or not per_replica > self.per_replica:
            return self
        return Capacity(per_replica, self.unit, self.source, self.lower, None, self.points, self.span_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "perReplica": round(self.per_replica, 4),
            "unit": self.unit,
            "lower": None if self.lower is None else round(self.lower, 4),
            "upper": None if self.upper is None else round(self.upper, 4),
            "source": self.source,
            "points": self.points,
        }


def breached(point: CapacityPoint, goal: float, z: float) -> bool:
    """Whether ``point`` breached the SLO ``goal`` as far as its requests can tell: a window's
    attainment is a sample of its ``requests``, so a reading under the goal by less than ``z`` standard
    errors (``sqrt(goal x (1 - goal) / requests)``) is not evidence of a breach (nor of meeting the
    goal: such a point is left out of the bracket). 95 requests at a 95% goal have a standard error of
    2.2 points: 94.6% is noise, not a capacity limit. A point whose request count is not known (0) has
    no allowance."""
    return below_goal(point.attainment, point.requests, goal, z)


def below_goal(attainment: float, requests: float, goal: float, z: float) -> bool:
    """Whether ``attainment``, measured on ``requests`` requests, is under ``goal`` by more than ``z``
    standard errors (the one test shared by the bracket and the guard's lowering in ``cost.guard``)."""
    return attainment < goal - sampling_margin(requests, goal, z)


def sampling_margin(requests: float, goal: float, z: float) -> float:
    """``z`` standard errors of an attainment measured on ``requests`` requests at ``goal`` (0 when
    the count is not known)."""
    if not requests > 0 or not 0.0 < goal < 1.0:
        return 0.0
    return z * math.sqrt(goal * (1.0 - goal) / requests)


def remembered(
    points: tuple[CapacityPoint, ...], now: float, tuning: PlannerTuning
) -> list[tuple[CapacityPoint, float]]:
    """The points still remembered (weight at least ``forget_weight``) with their weights, oldest first."""
    half_life = max(1.0, tuning.capacity_half_life_seconds)
    out = []
    for point in points:
        weight = 0.5 ** (max(0.0, now - point.time) / half_life)
        if weight >= tuning.forget_weight:
            out.append((point, weight))
    return out


def bracket(
    weighted: list[tuple[CapacityPoint, float]], goal: float, z: float = 0.0
) -> tuple[CapacityPoint | None, CapacityPoint | None]:
    """(the point at the highest load within the SLO, the point at the lowest load breaching it)
    that the weight of evidence supports. The attainment falls as the load per replica rises, so a
    point within the SLO at load L is supported by those within at L and above and contradicted by
    breaches at L and below; a breach the other way round. Both compare ``within(>= L)`` with
    ``breach(<= L)``: within points count where the first weighs more, breaches where the second
    does. Newer points weigh more, so a new model version wins as the old points fade, and one slow
    request at a light load does not outweigh an hour of points served within the SLO above it. A
    breach counts only above a supported point within the SLO. A breach is judged by :func:`breached`:
    a reading under the goal by less than ``z`` standard errors is neither within nor a breach."""
    ordered = sorted(weighted, key=lambda pw: pw[0].per_replica)
    loads = [p.per_replica for p, _ in ordered]
    within = [0.0]
    breach = [0.0]
    for point, weight in ordered:  # prefix sums over the first i points
        hit = point.attainment >= goal
        miss = breached(point, goal, z)
        within.append(within[-1] + (weight if hit else 0.0))
        breach.append(breach[-1] + (weight if miss else 0.0))

    def margin(load: float) -> float:
        """within(>= load) - breach(<= load)."""
        return (within[-1] - within[bisect.bisect_left(loads, load)]) - breach[bisect.bisect_right(loads, load)]

    best: CapacityPoint | None = None
    for point, _ in ordered:
        if point.attainment >= goal and margin(point.per_replica) > 0:
            best = point
    if best is None:
        return None, None
    worst: CapacityPoint | None = None
    for point, _ in ordered:
        if breached(point, goal, z) and point.per_replica > best.per_replica and margin(point.per_replica) < 0:
            worst = point
            break
    return best, worst


def extrapolated(weighted: list[tuple[CapacityPoint, float]], goal: float) -> float | None:
    """Where a weighted least-squares line of attainment over load per replica crosses ``goal``
    (None: fewer than three points, or an attainment that does not fall with the load)."""
    if len(weighted) < 3:
        return None
    total = sum(w for _, w in weighted)
    mean_x = sum(p.per_replica * w for p, w in weighted) / total
    mean_y = sum(p.attainment * w for p, w in weighted) / total
    var = sum(w * (p.per_replica - mean_x) ** 2 for p, w in weighted)
    if var <= 0:
        return None
    slope = sum(w * (p.per_replica - mean_x) * (p.attainment - mean_y) for p, w in weighted) / var
    if slope >= 0:
        return None
    return mean_x + (goal - mean_y) / slope


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
    weighted = remembered(learned.points, now, tuning)
    z = tuning.sampling_z
    best, worst = bracket(weighted, goal, z)
    support = [p for p, _ in weighted] if best is not None else []
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
        value = max(crossing, math.sqrt(lower * upper))
        trend = extrapolated([(p, w) for p, w in weighted if p.attainment >= goal], goal)
        if trend is not None:
            value = max(value, min(trend, lower * tuning.max_extrapolation))
        value = min(upper, value)
        return Capacity(value, unit, "learned", lower, upper, len(support), span)
    value = lower * tuning.probe_factor if best.attainment >= line else lower
    beyond = extrapolated([(p, w) for p, w in weighted if p.attainment >= goal], goal)
    if beyond is not None:
        value = max(value, min(beyond, lower * tuning.max_extrapolation))
    if prior is not None and prior > value:
        return Capacity(prior, unit, "prior", lower, None, len(support), span)
    return Capacity(value, unit, "learned", lower, None, len(support), span)
