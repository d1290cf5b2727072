"""The forecast step: the service's load over the horizon that matters, with an upper quantile. Pure.

What this module is for: reading the load history of ``cost.state.Learned`` and saying how much load
may arrive before a replica started now could serve (the horizon: cold start plus the decision
interval). The rules are in ``docs/decide.md`` ("Forecast"); in short:

- short term: a robust (Theil-Sen) line through the last ``trend_window_seconds`` of samples gives
  the level now and the trend (a step in the load is not a trend); the point forecast is the highest
  of the line over the horizon (a falling trend does not lower it below the level now: scaling down
  follows the load, it does not anticipate it); the level is at most the highest sample of the last
  ``recent_seconds`` (the line lags a drop by its window); the line is extrapolated no further ahead
  than its samples reach back (a few samples after a start are not a trend), and the upper quantile adds ``z x sigma``
  (``z`` the normal quantile of ``upper_quantile``, sigma the larger of the noise, from the median
  change between consecutive samples (a step is one change, not variability), and the spread, the
  median absolute residual); never below the load observed now (until the mean reversion applies);
- long term (``daily``): on each of the last ``daily_days`` days whose history holds samples in the
  ``daily_tolerance_seconds`` before this time of day, the ratio of that day's highest load over the
  horizon to its load at this time (the mean of those samples); the level times the mean ratio, when
  above 1, raises the forecast (a daily ramp is pre-warmed; a falling day lowers nothing, and the
  night is not paid for since the level follows the load down);
- mean reversion at the horizon (``reversion``), once the last ``reversion_window_seconds`` hold
  ``reversion_min_pairs`` pairs of samples one horizon apart: the load one horizon ahead regresses to
  that window's mean by the load's own autocorrelation at that lag (an AR(1) at the horizon's lag, fit
  by least squares, within [0, 1]): a short-term forecast (or the load now, when higher) above the
  mean becomes ``mean + autocorrelation x (forecast - mean)`` (one below it is not raised: the night is
  not paid for) and the upper quantile adds ``z x`` the regression's residual spread (or the short-term
  sigma, when larger). A load that persists (a ramp, a plateau, a daily cycle: autocorrelation near 1)
  is forecast as above; bursts shorter than the horizon (autocorrelation near 0) are not chased, since
  replicas started for one are ready after it is over, and the forecast may then be below the load
  observed now (the guard still raises on a breach). It applies to the short-term forecast, before the
  previous days' term: a daily ramp is pre-warmed whatever the last hour's autocorrelation.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from typing import Any

from inferop.cost.state import LoadSample, LoadUnit
from inferop.cost.tuning import PlannerTuning

DAY_SECONDS = 86_400.0
#: The median absolute deviation of a normal distribution is this many times smaller than its sigma.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Forecast:
    """The load forecast over ``horizon_seconds`` from now, in ``unit`` per second."""

    load: float
    upper: float
    horizon_seconds: float
    unit: LoadUnit
    level: float = 0.0
    #: Load change per second of the recent line.
    trend: float = 0.0
    #: The previous days' ratio (None: no previous day in the history, or ``daily`` off).
    daily_ratio: float | None = None
    samples: int = 0
    #: The mean reversion applied (None: too few samples, or off): the load's autocorrelation at the
    #: horizon's lag and the mean it reverts to.
    reversion: Reversion | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "load": round(self.load, 4),
            "upper": round(self.upper, 4),
            "horizonSeconds": round(self.horizon_seconds, 1),
            "unit": self.unit,
        }


@dataclass(frozen=True)
class Reversion:
    """How the load one horizon ahead relates to the load now, over the recent window: an AR(1) at the
    horizon's lag. ``autocorrelation`` 1: the load persists (a ramp, a plateau); 0: a burst now says
    nothing about the load one horizon later (it is over before a replica started now is ready)."""

    autocorrelation: float
    mean: float
    #: The standard deviation of the load one horizon ahead around ``mean + autocorrelation x (now - mean)``.
    sigma: float
    pairs: int
    lag_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "autocorrelation": round(self.autocorrelation, 4),
            "mean": round(self.mean, 4),
            "sigma": round(self.sigma, 4),
            "pairs": self.pairs,
            "lagSeconds": round(self.lag_seconds, 1),
        }


def reversion(
    samples: tuple[LoadSample, ...],
    *,
    now: float,
    horizon: float,
    tuning: PlannerTuning,
    times: list[float] | None = None,
) -> Reversion | None:
    """The load's mean reversion at the horizon's lag over the last ``reversion_window_seconds`` (None:
    off, or fewer than ``reversion_min_pairs`` pairs of samples one lag apart). The lag is the horizon
    in whole sample spacings (the median spacing); a pair is two samples that lag apart, to within half
    a spacing (a gap in the history makes no pair across it). The autocorrelation is the least-squares
    slope of the later sample on the earlier one, within [0, 1]; sigma the residuals' root mean square."""
    if tuning.reversion_window_seconds <= 0:
        return None
    times = [s.time for s in samples] if times is None else times
    start = bisect.bisect_left(times, now - tuning.reversion_window_seconds)
    window = [s for s in samples[start:] if s.time <= now]
    if len(window) < 3:
        return None
    spacing = statistics.median(b.time - a.time for a, b in zip(window, window[1:], strict=False))
    if spacing <= 0:
        return None
    lag = max(1, round(horizon / spacing))
    pairs = [
        (a.load, b.load)
        for a, b in zip(window, window[lag:], strict=False)
        if abs(b.time - a.time - lag * spacing) <= spacing / 2
    ]
    if len(pairs) < max(2, tuning.reversion_min_pairs):
        return None
    mean = statistics.fmean(s.load for s in window)
    mean_x = statistics.fmean(x for x, _ in pairs)
    mean_y = statistics.fmean(y for _, y in pairs)
    var = sum((x - mean_x) ** 2 for x, _ in pairs)
    if var <= 0:
        return None
    rho = sum((x - mean_x) * (y - mean_y) for x, y in pairs) / var
    rho = max(0.0, min(1.0, rho))
    sigma = math.sqrt(statistics.fmean((y - mean - rho * (x - mean)) ** 2 for x, y in pairs))
    return Reversion(rho, mean, sigma, len(pairs), lag * spacing)


def _robust_line(samples: list[LoadSample], now: float) -> tuple[float, float, float]:
    """(level at ``now``, slope per second, sigma): the Theil-Sen line (the median of the pairwise
    slopes, the median intercept), robust to a step in the load (a step is not a trend), and sigma the
    median absolute change between consecutive samples scaled to the standard deviation of the noise
    (a step is one change, not variability)."""
    slopes = [
        (b.load - a.load) / (b.time - a.time)
        for i, a in enumerate(samples)
        for b in samples[i + 1 :]
        if b.time > a.time
    ]
    slope = statistics.median(slopes) if slopes else 0.0
    level = statistics.median(s.load - slope * (s.time - now) for s in samples)
    changes = [abs(b.load - a.load) for a, b in zip(samples, samples[1:], strict=False)]
    noise = MAD_TO_SIGMA * statistics.median(changes) / math.sqrt(2.0) if changes else 0.0
    residuals = [abs(s.load - level - slope * (s.time - now)) for s in samples]
    spread = MAD_TO_SIGMA * statistics.median(residuals)
    return level, slope, max(noise, spread)


def _daily_ratio(
    samples: tuple[LoadSample, ...], times: list[float], now: float, horizon: float, tuning: PlannerTuning
) -> float | None:
    ratios: list[float] = []
    for day in range(1, tuning.daily_days + 1):
        then = now - day * DAY_SECONDS
        lo = bisect.bisect_left(times, then - tuning.daily_tolerance_seconds)
        hi = bisect.bisect_right(times, then)
        if hi <= lo:
            continue
        at = statistics.fmean(s.load for s in samples[lo:hi])
        end = bisect.bisect_right(times, then + horizon)
        ahead = [s.load for s in samples[bisect.bisect_left(times, then) : end]]
        if at <= 0 or not ahead:
            continue
        ratios.append(max(ahead) / at)
    return statistics.fmean(ratios) if ratios else None


def forecast(
    samples: tuple[LoadSample, ...],
    *,
    now: float,
    observed: float,
    horizon: float,
    unit: LoadUnit,
    tuning: PlannerTuning,
) -> Forecast:
    """The forecast over ``horizon`` seconds from ``now`` (``observed``: the load now)."""
    times = [s.time for s in samples]
    start = bisect.bisect_right(times, now - tuning.trend_window_seconds)
    recent = [s for s in samples[start:] if s.time <= now]
    if not tuning.forecast:
        return Forecast(observed, observed, horizon, unit, observed, 0.0, None, len(recent))
    if len(recent) >= 3:
        level, slope, sigma = _robust_line(recent, now)
    else:
        level, slope, sigma = observed, 0.0, 0.0
    # The line lags a drop by its window; the load of the last minute bounds the level (a drop is
    # followed within ``recent_seconds``; a rise keeps the line's level and trend).
    latest = [s.load for s in recent if s.time > now - tuning.recent_seconds]
    if latest:
        level = min(level, max(latest))
    level = max(0.0, level)
    # A line is extrapolated no further ahead than its samples reach back: minutes after a start (or a
    # gap), a few samples' slope is not a trend to carry over a whole horizon.
    reach = min(horizon, recent[-1].time - recent[0].time) if len(recent) >= 3 else 0.0
    point = max(level, level + slope * reach)
    z = statistics.NormalDist().inv_cdf(tuning.upper_quantile)
    upper = point + max(0.0, z) * sigma
    reverts = reversion(samples, now=now, horizon=horizon, tuning=tuning, times=times)
    if reverts is not None:
        # A load above its recent mean regresses to it over the horizon as far as the load's own
        # history says it does: a burst shorter than the horizon is not chased (the replicas would be
        # ready after it), a ramp or a plateau (autocorrelation near 1) is followed as before; a load
        # under the mean is not raised towards it (the night is not paid for).
        point = max(point, observed)
        point = max(0.0, min(point, reverts.mean + reverts.autocorrelation * (point - reverts.mean)))
        upper = point + max(0.0, z) * max(reverts.sigma, sigma)
    ratio = None
    if tuning.daily:
        # The previous days are another source the recent hour cannot see: a daily ramp is pre-warmed
        # whatever the recent autocorrelation.
        ratio = _daily_ratio(samples, times, now, horizon, tuning)
        if ratio is not None and ratio > 1:
            point = max(point, level * ratio)
            upper = max(upper, level * ratio + max(0.0, z) * sigma)
    if reverts is None:
        point = max(point, observed)
    upper = max(upper, point)
    return Forecast(point, upper, horizon, unit, level, slope, ratio, len(recent), reverts)
