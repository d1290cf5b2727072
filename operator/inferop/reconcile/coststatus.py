"""``status.autoscaling.capacity`` and ``.forecast``: the planner's estimate and forecast, written on change.

What this module is for: ``Decision.capacity`` and ``Decision.forecast`` (JSON-safe, camelCase, from
``decide()``) go into the InferenceService's status so that a user sees what the planner believes (the
capacity per ready replica at the SLO, its bracket, source and points; the load forecast over the cold
start). Both move a little every tick; :func:`planner_status` returns only what moved enough to be
worth a write (the same principle as ``costtick.signals_changed``): a source, unit or horizon change,
a number off by more than :data:`TOLERANCE`, or the point count off by more than :data:`TOLERANCE`.
Pure (the caller writes the patch); it lives beside the tick that writes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Relative change of a number (or of the capacity's point count) that is worth a status write.
TOLERANCE = 0.05


def _moved(old: object, new: object) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return old != new
    if isinstance(old, int | float) and isinstance(new, int | float):
        if not (math.isfinite(old) and math.isfinite(new)):
            return old != new
        return abs(new - old) > TOLERANCE * max(abs(old), abs(new), 1e-9)
    return old != new


def changed(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether ``new`` differs from the stored ``old`` enough to write (see the module docstring)."""
    if old is None or new is None:
        return (old is None) != (new is None)
    return any(_moved(old.get(k), new.get(k)) for k in set(old) | set(new))


def planner_status(autoscaling: Mapping[str, Any], capacity: Any, forecast: Any) -> dict[str, Any]:
    """The ``status.autoscaling`` merge-patch entries for the decision's capacity and forecast (empty
    when neither moved enough, or when decide() gave none: a stored value is then left as it is)."""
    patch: dict[str, Any] = {}
    for field, value in (("capacity", capacity), ("forecast", forecast)):
        if value is None:
            continue
        if changed(autoscaling.get(field), value):
            patch[field] = dict(value)
    return patch
