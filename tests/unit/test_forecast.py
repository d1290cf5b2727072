"""The forecast step (inferop.cost.forecast): level, trend, upper quantile, previous days.

Covers: a flat load forecasts itself; a step is not a trend (Theil-Sen line, noise from consecutive
changes); a drop is followed within a minute (the line's level is at
most the last minute's highest sample); a rising trend is extrapolated over the horizon, a falling one
is not (scale-down follows the load), and no further ahead than its samples reach back; the
upper quantile grows with the recent variability and the
quantile; never below the load observed now; the same time of day on previous days pre-warms a daily
ramp and is ignored when the history does not hold those days; forecast off: the observed load;
mean reversion at the horizon: bursts shorter than the horizon are not chased (the forecast reverts to
the hour's mean, below the burst observed now), a load below the mean is not raised towards it, a ramp
(autocorrelation 1) is forecast as without it, too few pairs of samples one horizon apart leave the
forecast as it was, a gap makes no pair across it, and yesterday's ramp is pre-warmed whatever the
last hour's autocorrelation.
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from inferop.cost.forecast import DAY_SECONDS, forecast, reversion
from inferop.cost.state import LoadSample
from inferop.cost.tuning import PlannerTuning

NOW = 1_700_000_000.0
TUNING = PlannerTuning()


def samples(values: list[float], step: float = 30.0, end: float = NOW) -> tuple[LoadSample, ...]:
    return tuple(LoadSample(end - (len(values) - 1 - i) * step, v) for i, v in enumerate(values))


def run(history: tuple[LoadSample, ...], observed: float, horizon: float = 150.0, tuning: PlannerTuning = TUNING):  # type: ignore[no-untyped-def]
    return forecast(history, now=NOW, observed=observed, horizon=horizon, unit="tokens", tuning=tuning)


def test_a_flat_load_forecasts_itself() -> None:
    f = run(samples([100.0] * 20), 100.0)
    assert (f.load, f.upper, f.trend) == (pytest.approx(100.0), pytest.approx(100.0), pytest.approx(0.0))


def test_a_rising_trend_is_extrapolated_over_the_horizon_a_falling_one_is_not() -> None:
    rising = run(samples([100.0 + 10 * i for i in range(20)]), 290.0)  # +1/3 per second
    assert rising.load == pytest.approx(290.0 + 150.0 / 3)
    falling = run(samples([300.0 - 10 * i for i in range(20)]), 110.0)
    assert falling.load == pytest.approx(110.0)  # the level now, not where the line goes
    longer = run(samples([100.0 + 10 * i for i in range(20)]), 290.0, horizon=300.0)
    assert longer.load > rising.load


def test_a_trend_is_extrapolated_no_further_than_its_samples_reach_back() -> None:
    # 4 samples over 90 s rising 1/3 per second (a start: the history is that short): 90 s ahead, not 300
    short = run(samples([100.0 + 10 * i for i in range(4)]), 130.0, horizon=300.0)
    assert short.load == pytest.approx(130.0 + 90.0 / 3)
    full = run(samples([100.0 + 10 * i for i in range(20)]), 290.0, horizon=300.0)  # 570 s of samples
    assert full.load == pytest.approx(290.0 + 300.0 / 3)


def test_a_step_is_not_a_trend() -> None:
    # a step up 8 of the 10 minutes ago, flat since (Theil-Sen holds while the pairs across the step
    # are under half: a step in the window's older or newer ~30%)
    f = run(samples([50.0] * 4 + [400.0] * 16), 400.0)
    assert f.load == pytest.approx(400.0) and f.upper == pytest.approx(400.0)
    line = run(samples([50.0 + 10 * i for i in range(20)]), 240.0)
    assert line.trend == pytest.approx(1 / 3)


def test_a_drop_is_followed_within_a_minute() -> None:
    history = samples([400.0] * 15 + [40.0] * 3)  # 40 for the last 60 s
    assert run(history, 40.0).load == pytest.approx(40.0)
    assert run(samples([400.0] * 15 + [40.0] * 1), 40.0).load > 40.0  # 30 s: the minute still holds 400


def test_the_upper_quantile_grows_with_variability_and_the_quantile() -> None:
    calm = run(samples([100.0, 102.0] * 10), 101.0)
    noisy = run(samples([60.0, 140.0] * 10), 100.0)
    assert calm.upper < noisy.upper
    assert noisy.upper > noisy.load
    higher = run(samples([60.0, 140.0] * 10), 100.0, tuning=PlannerTuning(upper_quantile=0.99))
    assert higher.upper > noisy.upper


def test_never_below_the_load_observed_now() -> None:
    f = run(samples([100.0] * 20), 500.0)
    assert f.load >= 500.0 and f.upper >= 500.0
    assert run((), 42.0).load == 42.0


def test_yesterdays_ramp_is_pre_warmed() -> None:
    yesterday = samples([100.0] * 5 + [400.0] * 5, end=NOW - DAY_SECONDS + 150)  # ramps at -1 d + 30 s
    today = samples([100.0] * 20)
    f = run(yesterday + today, 100.0)
    assert f.daily_ratio == pytest.approx(4.0)
    assert f.load == pytest.approx(400.0)
    assert run(today, 100.0).daily_ratio is None  # no previous day in the history
    off = run(yesterday + today, 100.0, tuning=PlannerTuning(daily=False))
    assert off.load == pytest.approx(100.0)


def test_a_falling_day_lowers_nothing() -> None:
    yesterday = samples([400.0] * 5 + [100.0] * 5, end=NOW - DAY_SECONDS + 150)
    f = run(yesterday + samples([400.0] * 20), 400.0)
    assert f.load == pytest.approx(400.0)


def test_forecast_off_is_the_observed_load() -> None:
    f = run(samples([100.0 + 10 * i for i in range(20)]), 290.0, tuning=PlannerTuning(forecast=False))
    assert (f.load, f.upper) == (290.0, 290.0)


NO_REVERSION = replace(TUNING, reversion_window_seconds=0.0)
#: The normal quantile of the default upper quantile (75%).
Z = statistics.NormalDist().inv_cdf(TUNING.upper_quantile)


def bursts(count: int = 121) -> list[float]:
    """An hour at 30 s: a 60 s burst of 1000 every 5 minutes, nothing between; the last sample is a burst."""
    return [1000.0 if i % 10 in (9, 0) else 0.0 for i in range(count)]


def test_bursts_shorter_than_the_horizon_are_not_chased() -> None:
    history = samples(bursts())
    f = run(history, 1000.0)
    # 150 s after a burst there is never one (lag 5 samples of a 10-sample cycle): autocorrelation 0
    assert f.reversion is not None and f.reversion.autocorrelation == pytest.approx(0.0)
    assert f.reversion.lag_seconds == 150.0 and f.reversion.pairs == 116
    mean = statistics.fmean(bursts())
    assert f.load == pytest.approx(mean) and f.load < 1000.0  # below the burst observed now
    assert f.upper == pytest.approx(mean + Z * f.reversion.sigma)
    # without it the forecast never goes below the load observed now: the burst is chased
    assert run(history, 1000.0, tuning=NO_REVERSION).load >= 1000.0


def test_a_load_below_its_recent_mean_is_not_raised_towards_it() -> None:
    trough = [1000.0 if i % 10 in (3, 4) else 0.0 for i in range(121)]  # the last burst ended 150 s ago
    history = samples(trough)
    f, off = run(history, 0.0), run(history, 0.0, tuning=NO_REVERSION)
    assert f.reversion is not None and off.load < f.reversion.mean
    assert f.load == pytest.approx(off.load)  # not raised towards the mean
    assert f.upper == pytest.approx(f.load + Z * f.reversion.sigma)


def test_a_ramp_is_forecast_as_without_the_reversion() -> None:
    history = samples([100.0 + 10 * i for i in range(121)])  # +1/3 per second for an hour
    f = run(history, 1300.0)
    assert f.reversion is not None and f.reversion.autocorrelation == pytest.approx(1.0)
    off = run(history, 1300.0, tuning=NO_REVERSION)
    assert f.load == pytest.approx(off.load) == pytest.approx(1300.0 + 150.0 / 3)
    assert f.upper == pytest.approx(f.load + Z * 50.0)  # one horizon ahead is always 50 more: the spread


def test_too_few_pairs_leave_the_forecast_as_it_was() -> None:
    history = samples(bursts(49))  # 44 pairs one horizon apart, under reversion_min_pairs (45)
    assert reversion(history, now=NOW, horizon=150.0, tuning=TUNING) is None
    assert run(history, 1000.0) == run(history, 1000.0, tuning=NO_REVERSION)
    assert reversion(samples(bursts(50)), now=NOW, horizon=150.0, tuning=TUNING) is not None  # 45 pairs


def test_a_gap_in_the_history_makes_no_pair_across_it() -> None:
    before = samples(bursts(60), end=NOW - 20 * 60)  # 30 minutes, then 10 minutes missing
    after = samples(bursts(21))  # the last 10 minutes
    together = reversion(before + after, now=NOW, horizon=150.0, tuning=replace(TUNING, reversion_min_pairs=2))
    assert together is not None and together.pairs == (60 - 5) + (21 - 5)


def test_samples_older_than_the_window_are_not_read() -> None:
    old = samples([5000.0] * 60, end=NOW - 3630.0)  # the hour before the window
    recent = samples(bursts())
    assert run(old + recent, 1000.0).load == pytest.approx(run(recent, 1000.0).load)


def test_yesterdays_ramp_is_pre_warmed_whatever_the_recent_autocorrelation() -> None:
    # the last hour alternates 90 and 110 (autocorrelation 0 at 150 s: the reversion applies), and
    # yesterday the load quadrupled 30 s after this time of day
    today = samples([90.0, 110.0] * 60 + [100.0])
    yesterday = samples([100.0] * 5 + [400.0] * 5, end=NOW - DAY_SECONDS + 150)
    f = run(yesterday + today, 100.0)
    assert f.reversion is not None and f.daily_ratio == pytest.approx(4.0)
    assert f.load == pytest.approx(4.0 * f.level) and f.load > 350.0  # the ramp, not the hour's mean
    assert run(today, 100.0).load < 120.0
