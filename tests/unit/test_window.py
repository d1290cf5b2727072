"""inferop.cost.window: PromQL durations in seconds, steady intervals, the history window."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from inferop.api.costpolicy import CostPolicySpec
from inferop.cost.window import DEFAULT_HISTORY_SECONDS, history_seconds, seconds, steady


@pytest.mark.parametrize(
    ("text", "expected"), [("2m", 120), ("90s", 90), ("1h30m", 5400), ("10s", 10), ("1d", 86400), ("500ms", 0.5)]
)
def test_seconds_reads_promql_durations(text: str, expected: float) -> None:
    assert seconds(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "2", "2 minutes", "m", "2m3", "-2m"])
def test_seconds_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        seconds(text)


def test_steady_only_when_the_ready_count_did_not_move_over_the_window() -> None:
    assert steady(3.0, 3.0) == 3
    assert steady(2.0, 3.0) is None
    assert steady(0.0, 0.0) is None  # no ready replica gives no capacity point
    assert steady(None, 3.0) is None
    assert steady(float("nan"), float("nan")) is None


def test_history_window_defaults_and_follows_the_policy_planner() -> None:
    # DEFAULT_HISTORY_SECONDS until CostPolicy.spec.planner exists, then the field's default.
    assert history_seconds(CostPolicySpec()) > 0
    assert history_seconds(object()) == DEFAULT_HISTORY_SECONDS

    @dataclass
    class Planner:
        history_seconds: int

    @dataclass
    class Policy:
        planner: Planner

    assert history_seconds(Policy(Planner(3600))) == 3600.0
    assert history_seconds(Policy(Planner(0))) == DEFAULT_HISTORY_SECONDS
