"""The forecast step (inferop.cost.forecast): level, trend, upper quantile, previous days.

Covers: a flat load forecasts itself; a step is not a trend (Theil-Sen line, noise from consecutive
changes); a drop is followed within a minute (the line's level is at
most the last minute's highest sample); a rising trend is extrapolated over the horizon, a falling one
is not (scale-down follows the load), and no further ahead than its samples reach back; the
upper quantile grows with the recent variability and the
quantile; never below the load observed now; the same time of day on previous days pre-warms a daily
ramp and is ignored when the history does not hold those days; forecast off: the observed load.
"""

from __future__ import annotations

import pytest

from inferop.cost.forecast import DAY_SECONDS, forecast
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
