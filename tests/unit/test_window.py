"""inferop.cost.window: PromQL durations in seconds, steady intervals, the history window."""

from __future__ import annotations

import pytest

from inferop.api.costpolicy import CostPolicySpec
from inferop.cost.window import history_seconds, seconds, steady


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


def test_history_window_follows_the_policy_planner() -> None:
    assert history_seconds(CostPolicySpec()) == 172_800.0  # two days by default
    assert history_seconds(CostPolicySpec.model_validate({"planner": {"historySeconds": 3600}})) == 3600.0
