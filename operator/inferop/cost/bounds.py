"""The bounds step: ``[lower, upper]`` for this tick and which limit sets each end (rule 9). Pure.

What this module is for: ``minReplicas`` and ``maxReplicas``, the tenant's quota and budget
(``inferop.tenancy.headroom.Headroom``; they win over ``minReplicas``), narrowed by the CostPolicy's
schedule windows active now (UTC; a window whose end is not after its start crosses midnight).
``cost.stabilize`` clamps the stepped replicas into them and names the bound (``limitedBy``). Must not:
read the clock (``now`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from inferop.api.costpolicy import DAYS, ScheduleWindow
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.reasons import LimitedBy
from inferop.tenancy.headroom import Headroom


@dataclass(frozen=True)
class Bounds:
    lower: int
    upper: int
    lower_by: LimitedBy
    upper_by: LimitedBy
    schedule_floor: int | None = None
    schedule_ceiling: int | None = None



def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return min(24 * 60, int(hours) * 60 + int(minutes))


def window_active(window: ScheduleWindow, now: float) -> bool:
    """Whether a schedule window is active at ``now`` (unix seconds, read in UTC)."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    day, previous = DAYS[moment.weekday()], DAYS[(moment.weekday() - 1) % 7]
    minute = moment.hour * 60 + moment.minute
    start, end = _minutes(window.start), _minutes(window.end)
    if start < end:
        return day in window.days and start <= minute < end
    return (day in window.days and minute >= start) or (previous in window.days and minute < end)


def schedule_limits(schedule: list[ScheduleWindow], now: float) -> tuple[int | None, int | None]:
    """(floor, ceiling) of the windows active at ``now``: the largest minimum and the smallest maximum."""
    active = [w for w in schedule if window_active(w, now)]
    floors = [w.min_replicas for w in active if w.min_replicas is not None]
    ceilings = [w.max_replicas for w in active if w.max_replicas is not None]
    return (max(floors) if floors else None, min(ceilings) if ceilings else None)


def bounds(autoscaling: Autoscaling, headroom: Headroom, schedule: list[ScheduleWindow], now: float) -> Bounds:
    """[lower, upper] for this tick and which limit sets each end (rule 9)."""
    hard_upper: int = autoscaling.max_replicas
    upper_by: LimitedBy = "MaxReplicas"
    limits: tuple[tuple[LimitedBy, int | None], ...] = (
        ("Quota", headroom.quota_replicas),
        ("Budget", headroom.budget_replicas),
    )
    for name, limit in limits:
        if limit is not None and max(0, limit) < hard_upper:
            hard_upper, upper_by = max(0, limit), name
    lower: int = autoscaling.min_replicas
    lower_by: LimitedBy = "MinReplicas"
    if lower > hard_upper:
        lower, lower_by = hard_upper, upper_by
    floor, ceiling = schedule_limits(schedule, now)
    upper = hard_upper
    if floor is not None and floor > lower:
        lower, lower_by = min(floor, hard_upper), "Schedule"
    if ceiling is not None and ceiling < upper:
        upper, upper_by = max(ceiling, lower), "Schedule"
    return Bounds(lower, upper, lower_by, upper_by, floor, ceiling)
