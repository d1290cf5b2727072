"""The observe and size steps of the planner. Pure.

What this module is for: the two small steps around the capacity and forecast steps.

- :func:`load_of` picks the load signal: the token rate (prompt plus generated tokens per second)
  when it is observed and fresh, else the request rate; None when neither is usable.
- :func:`learn` adds this tick to the learned state: a load sample every tick, and a capacity point
  (``cost.state.capacity_point``, the one rule shared with the rebuild) when the ready replicas were
  unchanged over the rate window, a breaching one only after ``breach_steady_windows`` windows (the
  first window after a change still holds requests queued before it). A change of unit (a runtime
  that starts or stops exporting token counters) restarts the learned state.
- :func:`size` is ``ceil(forecast upper / (capacity x utilization))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferop.cost.state import Learned, LoadSample, LoadUnit, capacity_point
from inferop.cost.tuning import PlannerTuning

#: The largest need size() returns (any bound is lower: maxReplicas is at most 1000).
MAX_NEED = 1_000_000
#: Guards ceil() against float noise (2 x 1.5 must be 3, not 4).
EPSILON = 1e-9


@dataclass(frozen=True)
class Load:
    value: float
    unit: LoadUnit


def load_of(token_rate: float | None, request_rate: float | None) -> Load | None:
    """The load in the unit that drives an LLM's cost: tokens when observed, else requests."""
    if token_rate is not None and math.isfinite(token_rate) and token_rate >= 0:
        return Load(token_rate, "tokens")
    if request_rate is not None and math.isfinite(request_rate) and request_rate >= 0:
        return Load(request_rate, "requests")
    return None


def learn(
    learned: Learned,
    *,
    now: float,
    load: Load | None,
    ready: int,
    attainment: float | None,
    goal: float,
    requests: float,
    steady_seconds: float | None,
    window: float,
    tuning: PlannerTuning,
) -> Learned:
    """``learned`` with this tick's sample and point (see the module docstring). ``steady_seconds``:
    how long the ready replicas have been unchanged (None: not known)."""
    if load is None:
        return learned
    if load.unit != learned.unit:
        learned = Learned(unit=load.unit)
    point = None
    if attainment is not None and steady_seconds is not None and steady_seconds >= window:
        point = capacity_point(now, load.value, ready, attainment, requests)
        if point is not None and attainment < goal and steady_seconds < tuning.breach_steady_windows * window:
            point = None  # a breach counts only after more windows than a point within the SLO
    return learned.add(point=point, sample=LoadSample(now, load.value), keep_seconds=tuning.history_seconds)


def size(upper: float, per_replica: float, utilization: float) -> int:
    """The replicas that serve ``upper`` at ``per_replica x utilization`` each."""
    if upper <= 0:
        return 0
    need = upper / (per_replica * utilization) if per_replica * utilization > 0 else math.inf
    if not need < MAX_NEED:  # a vanishing capacity: more than any bound allows
        return MAX_NEED
    return max(0, math.ceil(need - EPSILON))
