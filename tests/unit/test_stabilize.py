"""Stabilize and bound on their own (inferop.cost.stabilize, inferop.cost.bounds), on hand-computed cases.

Covers: scaling up goes to the smallest recommendation of the scale-up window and down to the largest
of the scale-down window, and a scale-down waits until the history covers that whole window
(``Stabilizing``, the note saying why); no scale-down within the cooldown (``Cooldown``); the step
limits cap an increase and a decrease (the larger of the replicas and the percentage); the bounds
clamp last and name the limit (``limitedBy``), with ``AtMaximum``/``AtMinimum`` when the bound is why
nothing happens and ``OutsideBounds`` when the replicas move against the recommendation; quota and
budget win over minReplicas; a schedule window narrows the bounds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling
from inferop.cost.bounds import Bounds, bounds
from inferop.cost.history import History
from inferop.cost.reasons import Reason
from inferop.cost.stabilize import Stabilized, stabilize, step
from inferop.tenancy.headroom import Headroom

NOW = datetime(2024, 1, 3, 12, 0, tzinfo=UTC).timestamp()  # a Wednesday, 12:00 UTC
WIDE = Bounds(1, 100, "MinReplicas", "MaxReplicas")
UP = {"maxStepReplicas": 4, "maxStepPercent": 100}  # the default steps
DOWN = {"maxStepReplicas": 1, "maxStepPercent": 50}
NO_WINDOWS = {"scaleUp": {"stabilizationSeconds": 0, **UP}, "scaleDown": {"stabilizationSeconds": 0, **DOWN}}


def policy(**spec: Any) -> CostPolicySpec:
    return CostPolicySpec.model_validate(spec)


def steady(recommendation: int, seconds: int = 300, interval: int = 30) -> History:
    """A history that recommended ``recommendation`` every interval over the last ``seconds``."""
    ticks = range(seconds // interval, 0, -1)
    return History(recommendations=tuple((NOW - k * interval, recommendation) for k in ticks))


def run(
    recommendation: int,
    current: int,
    *,
    reason: Reason = Reason.FORECAST,
    history: History | None = None,
    pol: CostPolicySpec | None = None,
    bound: Bounds = WIDE,
) -> Stabilized:
    return stabilize(
        recommendation,
        reason,
        current=current,
        history=history or History(),
        policy=pol or policy(),
        bound=bound,
        now=NOW,
    )


def test_scale_down_waits_for_the_stabilization_window() -> None:
    # Nothing recorded yet: the history does not reach back over the 300 s window.
    s = run(4, 6, reason=Reason.SCALE_DOWN_WITH_HEADROOM)
    assert (s.desired, s.reason) == (6, Reason.STABILIZING)
    assert s.note == "would scale to 4, but scale-down waits for 300 s of recommendations"
    # The window covered but a larger recommendation within it: down only to the window's largest.
    history = History(recommendations=((NOW - 290, 4), (NOW - 120, 5), (NOW - 30, 4)))
    s = run(4, 6, reason=Reason.SCALE_DOWN_WITH_HEADROOM, history=history)
    assert (s.stabilized, s.desired, s.reason, s.note) == (5, 5, Reason.SCALE_DOWN_WITH_HEADROOM, "")
    assert s.down_past == [4, 5, 4]
    # All of the window at 4: down to 4 (at most half of 6 in one step).
    s = run(4, 6, reason=Reason.SCALE_DOWN_WITH_HEADROOM, history=steady(4))
    assert (s.desired, s.reason, s.note) == (4, Reason.SCALE_DOWN_WITH_HEADROOM, "")


def test_scale_up_goes_to_the_smallest_recommendation_of_its_window() -> None:
    pol = policy(scaleUp={"stabilizationSeconds": 120, **UP})
    s = run(8, 4, history=steady(4, seconds=120), pol=pol)
    assert (s.desired, s.reason) == (4, Reason.STABILIZING)
    assert s.note == "would scale to 8, but the last 120 s recommended 4"
    assert run(8, 4, history=steady(6, seconds=120), pol=pol).desired == 6


def test_no_scale_down_within_the_cooldown() -> None:
    history = History(recommendations=steady(2).recommendations, last_scale_time=NOW - 60)
    s = run(2, 4, reason=Reason.SCALE_DOWN_WITH_HEADROOM, history=history, pol=policy(cooldownSeconds=300))
    assert (s.desired, s.reason) == (4, Reason.COOLDOWN)
    assert s.note == "would scale to 2, but last scaled 60 s ago (cooldown 300 s)"
    # Scaling up is not held by the cooldown.
    assert run(6, 4, history=history, pol=policy(cooldownSeconds=300, **NO_WINDOWS)).desired == 6


def test_the_step_limit_caps_an_increase_and_a_decrease() -> None:
    pol = policy(
        scaleUp={"stabilizationSeconds": 0, "maxStepReplicas": 2, "maxStepPercent": 25},
        scaleDown={"stabilizationSeconds": 0, "maxStepReplicas": 1, "maxStepPercent": 50},
    )
    s = run(20, 4, pol=pol)
    assert (s.stabilized, s.stepped, s.desired, s.limited_by) == (20, 6, 6, None)  # max(2, ceil(4 x 25%))
    assert run(20, 16, pol=pol).desired == 20  # max(2, ceil(16 x 25%)) = 4
    assert run(1, 10, reason=Reason.SCALE_DOWN_WITH_HEADROOM, pol=pol).desired == 5  # max(1, ceil(10 x 50%))
    assert step(pol.scale_down, 1) == 1


def test_bounds_clamp_last_and_set_limited_by() -> None:
    pol = policy(**NO_WINDOWS)
    bound = Bounds(2, 6, "MinReplicas", "Quota")
    # The recommendation is above the bound: scaling up stops at it.
    s = run(9, 4, pol=pol, bound=bound)
    assert (s.stepped, s.desired, s.limited_by, s.reason) == (8, 6, "Quota", Reason.FORECAST)
    # Already at the bound: the bound is why nothing happens.
    s = run(9, 6, pol=pol, bound=bound)
    assert (s.desired, s.limited_by, s.reason) == (6, "Quota", Reason.AT_MAXIMUM)
    s = run(1, 2, reason=Reason.SCALE_DOWN_WITH_HEADROOM, pol=pol, bound=bound)
    assert (s.desired, s.limited_by, s.reason) == (2, "MinReplicas", Reason.AT_MINIMUM)
    # Outside the bounds: moved into them, against the recommendation to hold.
    s = run(9, 9, reason=Reason.HOLD, pol=pol, bound=bound)
    assert (s.desired, s.limited_by, s.reason) == (6, "Quota", Reason.OUTSIDE_BOUNDS)
    # Missing data keeps its reason while the bounds move the replicas.
    s = run(9, 9, reason=Reason.METRICS_UNAVAILABLE, pol=pol, bound=bound)
    assert (s.desired, s.limited_by, s.reason) == (6, "Quota", Reason.METRICS_UNAVAILABLE)


def test_quota_and_budget_win_over_min_replicas_and_a_schedule_narrows_the_bounds() -> None:
    spec = Autoscaling.model_validate({"minReplicas": 4, "maxReplicas": 10})
    assert bounds(spec, Headroom(quota_replicas=3), [], NOW) == Bounds(3, 3, "Quota", "Quota")
    assert bounds(spec, Headroom(budget_replicas=8, quota_replicas=9), [], NOW) == Bounds(
        4, 8, "MinReplicas", "Budget"
    )
    window = policy(schedule=[{"days": ["Wed"], "start": "09:00", "end": "17:00", "minReplicas": 6}]).schedule
    assert bounds(spec, Headroom(), window, NOW) == Bounds(6, 10, "Schedule", "MaxReplicas", 6, None)
    assert bounds(spec, Headroom(), window, NOW + 6 * 3600) == Bounds(4, 10, "MinReplicas", "MaxReplicas")
