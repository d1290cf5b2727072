"""When a scale-to-zero service goes to zero and when it wakes. Pure (times are arguments).

To zero (``idle_verdict``): after ``spec.autoscaling.scaleToZero.idleSeconds`` with a request rate of
exactly 0 on a usable series, counted from the latest of the last request seen (Prometheus or the
activator's annotation) and the moment the zero rate was first observed. A missing, stale or NaN series
is never idle (DESIGN.md: missing is not zero). The planner's forecast over the cold-start horizon
(``Decision.forecast``) must show no load either; no forecast (None) vetoes nothing: the observed rate
decides alone.

Back (``wake_wanted``): the activator's annotation names a time later than ``scaledToZeroAt`` (minus a
few seconds of clock skew between nodes; the activator re-signals every 10 s while it holds requests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from inferop.api.activation import parse_activation_timestamp
from inferop.cost.signals import Observation

#: Clock skew allowed between the activator's node and the operator's.
SKEW_SECONDS = 5.0


@dataclass(frozen=True)
class Verdict:
    idle: bool
    #: Why (the Event and log say it).
    reason: str


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time with a zone (status times, the annotation), else None."""
    return parse_activation_timestamp(value) if isinstance(value, str) and value else None


def later_iso(a: Any, b: datetime | None) -> str | None:
    """The later of a status time string and ``b``, in the API's format (whole seconds, UTC)."""
    times = [t for t in (parse_time(a), b) if t is not None]
    if not times:
        return None
    return max(times).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wake_wanted(requested: datetime | None, scaled_to_zero_at: datetime | None) -> bool:
    if requested is None:
        return False
    if scaled_to_zero_at is None:
        return True
    return requested > scaled_to_zero_at - timedelta(seconds=SKEW_SECONDS)


def forecast_load(forecast: Mapping[str, Any] | None) -> float | None:
    """The largest load the forecast names (``load``, ``upper``), or None when there is none."""
    if forecast is None:
        return None
    values = []
    for key in ("load", "upper"):
        value = forecast.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values.append(float(value))
    if not values:
        return None
    return max(values)


def idle_verdict(
    rate: Observation,
    idle_since: float | None,
    now: float,
    idle_seconds: float,
    forecast: Mapping[str, Any] | None = None,
) -> Verdict:
    """Whether the service has been idle long enough to go to zero. ``idle_since``: unix seconds from
    which no request was seen (None: not known to be idle)."""
    if not rate.usable or rate.value is None or math.isnan(rate.value):
        return Verdict(False, f"request rate not usable ({rate.describe()}): never idle")
    if rate.value != 0:
        return Verdict(False, f"request rate {rate.value:g}/s")
    if idle_since is None:
        return Verdict(False, "request rate 0/s, idle clock starting")
    idle_for = now - idle_since
    if idle_for < idle_seconds:
        return Verdict(False, f"idle for {idle_for:.0f} s of {idle_seconds:.0f} s")
    load = forecast_load(forecast)
    if forecast is not None and (load is None or math.isnan(load) or load > 0):
        return Verdict(False, f"the forecast over the cold-start horizon expects load ({load})")
    return Verdict(True, f"no request for {idle_for:.0f} s (idleSeconds {idle_seconds:.0f})"
                   + ("" if forecast is None else ", no load forecast"))
