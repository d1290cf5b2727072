"""PlannerTuning: the planner's constants that are not CostPolicy fields, in one frozen object. Pure.

What this module is for: every number the planner's steps use, with its default in code; the
CostPolicy's ``spec.planner`` overrides the ones a platform team may want to change
(:meth:`PlannerTuning.from_policy`), and a what-if passes another object (``dataclasses.replace``)
instead of changing module globals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from inferop.api.costpolicy import CostPolicySpec


@dataclass(frozen=True)
class PlannerTuning:
    #: An observation older than this many CostPolicy intervals is stale.
    stale_after_intervals: int = 3
    #: One decision at most multiplies the ready replicas by this on an observed breach (the guard).
    max_up_factor: float = 3.0
    #: The utilization target is ``1 - error_budget_multiple x (1 - goal)`` (p95: 0.9): the share of
    #: the capacity at the SLO a replica is sized to, the rest absorbs the forecast's misses.
    error_budget_multiple: float = 2.0
    #: A window's attainment is a sample of its requests: a reading under the goal by less than this many
    #: standard errors (a one-sided 95% test) is no breach for the capacity (nor a point within the SLO:
    #: it is left out of the bracket), and the guard does not lower the capacity on it.
    sampling_z: float = 1.645
    #: A breaching steady interval counts as a capacity point only after this many rate windows.
    breach_steady_windows: int = 2
    #: Capacity points lose half their weight in this time; those under ``forget_weight`` are forgotten.
    capacity_half_life_seconds: float = 86400.0
    forget_weight: float = 1 / 16
    #: With no breach seen, the estimate is the highest load within the SLO times this, when that load
    #: was served with the scale-down line's room (probe upwards, slowly): else the load itself.
    probe_factor: float = 1.25
    #: ... or where the points' attainment-over-load line crosses the goal, at most this times that load.
    max_extrapolation: float = 2.0
    #: Forecast: the recent window (level, trend, variability), the upper quantile, on/off, seasonality.
    forecast: bool = True
    daily: bool = True
    trend_window_seconds: float = 600.0
    #: The forecast's level is at most the highest load sample of this many seconds.
    recent_seconds: float = 60.0
    upper_quantile: float = 0.75
    horizon_margin_seconds: float = 0.0
    #: Mean reversion at the horizon: the load over the horizon regresses to the mean of the last
    #: ``reversion_window_seconds`` by the load's autocorrelation at the horizon's lag, measured over
    #: the same window, once it holds ``reversion_min_pairs`` pairs of samples one horizon apart (the
    #: autocorrelation's standard error is about ``1 / sqrt(pairs)``: 0.15 at 45). 0 turns it off.
    reversion_window_seconds: float = 3600.0
    reversion_min_pairs: int = 45
    #: The history the learned state keeps (capacity points and load samples).
    history_seconds: float = 172_800.0
    #: A previous day is used only when it holds a load sample within this of the same time of day.
    daily_tolerance_seconds: float = 120.0
    #: How many previous days the long-term forecast looks at.
    daily_days: int = 7
    #: The cold start when neither the cluster nor the runtime profile gives one.
    default_cold_start_seconds: float = 120.0

    @classmethod
    def from_policy(cls, policy: CostPolicySpec, base: PlannerTuning | None = None) -> PlannerTuning:
        """``base`` (the defaults) with the CostPolicy's ``spec.planner`` fields applied."""
        planner = policy.planner
        return replace(
            base or cls(),
            forecast=planner.forecast,
            daily=planner.daily,
            trend_window_seconds=float(planner.trend_window_seconds),
            upper_quantile=planner.upper_quantile_percent / 100,
            horizon_margin_seconds=float(planner.horizon_margin_seconds),
            history_seconds=float(planner.history_seconds),
            capacity_half_life_seconds=float(planner.capacity_half_life_seconds),
        )

    def utilization(self, goal: float) -> float:
        """The utilization target for an SLO goal (a fraction, p95: 0.95), at least 0.5."""
        return round(max(0.5, min(1.0, 1.0 - self.error_budget_multiple * (1.0 - goal))), 6)
