"""The stabilize and bound step: from this tick's recommendation to the replicas to run. Pure.

What this module is for: the CostPolicy's brakes and the bounds, applied in order to the
recommendation ``decide()`` chose. The rules are in ``docs/decide.md`` ("Stabilize and bound"); in
short:

6. stabilization, as the Kubernetes HPA: up to the smallest recommendation of the last
   ``scaleUp.stabilizationSeconds``, down to the largest of the last ``scaleDown.stabilizationSeconds``,
   and a scale-down only when the history reaches back over that whole window (``Stabilizing``);
7. cooldown: no scale-down within ``cooldownSeconds`` of the last scale action (``Cooldown``);
8. steps: at most ``max(maxStepReplicas, ceil(current x maxStepPercent / 100))`` up or down;
9. bounds (``cost.bounds``), applied last and at once; ``limitedBy`` names the bound, and the reason
   says when the bound is why nothing happens (``AtMaximum``, ``AtMinimum``) or why the replicas moved
   against the recommendation (``OutsideBounds``).

Must not: record the history (``decide()`` does, with the recommendation, not the stabilized replicas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferop.api.costpolicy import CostPolicySpec, ScaleRule
from inferop.cost.bounds import Bounds
from inferop.cost.history import History
from inferop.cost.reasons import LimitedBy, Reason


@dataclass(frozen=True)
class Stabilized:
    """The replicas after each rule, and what the rules said."""

    #: After stabilization and cooldown (rules 6 and 7).
    stabilized: int
    #: After the step limits (rule 8).
    stepped: int
    #: After the bounds (rule 9): the replicas to run.
    desired: int
    #: The recommendation's reason, or the rule that overrode it.
    reason: Reason
    #: Why stabilization or cooldown held ("" when neither did).
    note: str
    limited_by: LimitedBy | None
    #: The recommendations of the scale-up and scale-down windows (for the decision's inputs).
    up_past: list[int]
    down_past: list[int]


def step(rule: ScaleRule, current: int) -> int:
    """The most replicas one decision adds (``scaleUp``) or removes (``scaleDown``) from ``current``."""
    if rule.max_step_percent is None:
        return rule.max_step_replicas
    return max(rule.max_step_replicas, math.ceil(current * rule.max_step_percent / 100))


def stabilize(
    recommendation: int,
    reason: Reason,
    *,
    current: int,
    history: History,
    policy: CostPolicySpec,
    bound: Bounds,
    now: float,
) -> Stabilized:
    """Rules 6 to 9 on ``recommendation`` (made for ``reason``) from ``current`` replicas."""
    interval = policy.interval_seconds
    # Rule 6: stabilization over the recorded recommendations.
    up_window = policy.scale_up.stabilization_seconds
    down_window = policy.scale_down.stabilization_seconds
    up_past = history.within(now, up_window)
    down_past = history.within(now, down_window)
    up_recommendation = min([recommendation, *up_past])
    down_recommendation = max([recommendation, *down_past])
    stabilized = current
    if stabilized < up_recommendation:
        stabilized = up_recommendation
    if stabilized > down_recommendation:
        stabilized = down_recommendation
    covered = history.covers(now, down_window, interval)
    note = ""
    if stabilized < current and not covered:
        stabilized = current
        note = f"would scale to {recommendation}, but scale-down waits for {down_window} s of recommendations"
    if recommendation != current and stabilized == current and not note:
        largest = max(down_past) if recommendation < current else min(up_past)
        held = down_window if recommendation < current else up_window
        note = f"would scale to {recommendation}, but the last {held} s recommended {largest}"
    if note:
        reason = Reason.STABILIZING

    # Rule 7: cooldown after the last scale action (scale-down only).
    last = history.last_scale_time
    if stabilized < current and last is not None and now - last < policy.cooldown_seconds:
        note = (
            f"would scale to {stabilized}, but last scaled {now - last:.0f} s ago "
            f"(cooldown {policy.cooldown_seconds} s)"
        )
        stabilized, reason = current, Reason.COOLDOWN

    # Rule 8: step limits.
    stepped = stabilized
    if stabilized > current:
        stepped = min(stabilized, current + step(policy.scale_up, current))
    elif stabilized < current:
        stepped = max(stabilized, current - step(policy.scale_down, current))

    # Rule 9: bounds.
    desired = min(max(stepped, bound.lower), bound.upper)
    limited_by: LimitedBy | None = None
    if stepped < bound.lower:
        limited_by = bound.lower_by
    elif stepped > bound.upper:
        limited_by = bound.upper_by
    bounded_recommendation = min(max(recommendation, bound.lower), bound.upper)
    if recommendation != current and bounded_recommendation == current:
        # The bound, not stabilization, cooldown or steps, is why nothing happens.
        up_wanted = recommendation > current
        reason = Reason.AT_MAXIMUM if up_wanted else Reason.AT_MINIMUM
        limited_by = bound.upper_by if up_wanted else bound.lower_by
    elif limited_by is not None and reason is not Reason.METRICS_UNAVAILABLE:
        wanted = (stepped > current) - (stepped < current)
        moved = (desired > current) - (desired < current)
        if desired == current and wanted != 0:
            reason = Reason.AT_MAXIMUM if wanted > 0 else Reason.AT_MINIMUM
        elif moved != wanted:
            reason = Reason.OUTSIDE_BOUNDS
    return Stabilized(
        stabilized=stabilized,
        stepped=stepped,
        desired=desired,
        reason=reason,
        note=note,
        limited_by=limited_by,
        up_past=up_past,
        down_past=down_past,
    )
