"""The time windows the planner reads its inputs over: the rate window and the history window. Pure.

What this module is for: one home for the arithmetic on windows that the live tick, the rebuild from
Prometheus (``cost.rebuild``) and the backtest share:

- :func:`seconds` reads a PromQL duration (``2m``, ``90s``, ``1h30m``) as seconds: ``decide()`` is
  told the rate window its observations were computed over (``window_seconds``);
- :func:`steady` says whether an interval was steady, the condition for a capacity point (ready
  replicas unchanged over the rate window: the load of the window was served by that many replicas);
- :func:`history_seconds` is how far back the planner remembers (the CostPolicy's
  ``spec.planner.historySeconds``): the rebuild's range and ``Learned.add``'s ``keep_seconds``.

Must not: do I/O or read the clock.
"""

from __future__ import annotations

import math
import re

from inferop.api.costpolicy import CostPolicySpec

#: How far back the planner remembers when the CostPolicy does not say: two days hold yesterday's
#: same time of day for the daily forecast, and a little more.

_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0, "y": 31_536_000.0}


def seconds(duration: str) -> float:
    """A PromQL duration in seconds (``"2m"`` -> 120, ``"1h30m"`` -> 5400); ValueError when it is none."""
    parts = _PART.findall(duration)
    if not duration or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a PromQL duration: {duration!r} (e.g. 2m, 90s)")
    return sum(int(n) * _UNIT[u] for n, u in parts)


def steady(lowest: float | None, highest: float | None) -> int | None:
    """The ready replicas of a steady interval from the lowest and highest ready count seen over the rate
    window, or None when the interval was not steady (they differ), not known, or had no ready replica."""
    if lowest is None or highest is None or not (math.isfinite(lowest) and math.isfinite(highest)):
        return None
    if round(lowest) != round(highest) or round(lowest) < 1:
        return None
    return round(lowest)


def history_seconds(policy: CostPolicySpec) -> float:
    """How far back the planner remembers for ``policy``: its ``spec.planner.historySeconds``."""
    return float(policy.planner.history_seconds)
