"""What-if runs: what each part of the planner buys, and what a wrong capacity prior costs.

Not part of the operator. The bench's ``inferop`` row always runs the real decide() with the default
CostPolicy and no capacity prior; these variants replay the same trace (seed 0, the same burn-in and
initial replicas) with one thing changed, so that each part of the planner and each proposal comes
with numbers. ``bench/run.py --whatifs`` runs them and writes the what-if tables of
``bench/results/README.md``.

- ``default``: learned only, no prior: the bench's ``inferop`` row again (a check that the harness
  matches). Its final capacity estimate (``Decision.capacity["perReplica"]`` of its last decision with
  one) is the trace's *reference* capacity.
- ``prior:exact``, ``prior:+30%``, ``prior:-30%``: the InferenceService's capacity prior
  (``spec.autoscaling.capacity``, ``tokensPerSecondPerReplica`` when the load is tokens, which the
  simulator exports, else ``requestsPerSecondPerReplica``) at 1.0x, 1.3x and 0.7x the reference. Issue
  14: with the prior 30% too high, 30% too low or absent, attainment still meets the goal and GPU-hours
  rise at most 10% against the learned-only run (``default``). These run after ``default`` on the same
  trace (the reference is its result): two phases.
- ``no-forecast``: ``spec.planner.forecast: false``: sized to the load observed now, not to the
  forecast's upper quantile over the cold start.
- ``no-daily``: ``spec.planner.daily: false``: no same-time-of-day term from previous days.
- ``upper-quantile-50``, ``upper-quantile-90``: ``spec.planner.upperQuantilePercent`` 50 and 90
  (default 75).
- ``half-life-1h``: ``spec.planner.capacityHalfLifeSeconds: 3600`` (default a day): capacity points
  forgotten faster.
- ``no-reversion``: ``PlannerTuning.reversion_window_seconds = 0``: no mean reversion at the horizon
  (the forecast is never below the load observed now, so a burst shorter than a cold start is chased).
- ``no-probe``: ``PlannerTuning.probe_factor = 1.0``: with no breach seen, the capacity is the highest
  load served within the SLO, never probed above it (default 1.25x).
- ``no-sampling-noise``: ``PlannerTuning.sampling_z = 0``: a window's attainment under the goal is a
  breach however few requests it holds (default: within 1.645 standard errors it is noise).
- ``policy:headroom-10``: ``sloHeadroomPercent: 10`` (default 20).
- ``policy:down-120s``: a 120 s scale-down stabilization window (default 300 s; the step limits kept).
- ``policy:fast-down``: ``cooldownSeconds: 0`` (default 60): a scale-down right after a scale action.
  (The 50%-per-decision step it once added is the default now.)

How a variant changes the planner: a CostPolicy (the operator's own validated fields) and a
:class:`~inferop.cost.tuning.PlannerTuning` handed to decide() through ``InferopPolicy.tuning`` (one
frozen object per run). Nothing here changes a module global (issue 14: no ``setattr``), so variants
can run side by side in one process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from inferop.api.costpolicy import CostPolicySpec, PlannerSpec, ScaleRule
from inferop.api.inferenceservice import Autoscaling, CapacityPrior
from inferop.cost.tuning import PlannerTuning
from inferop.sim.oracle import first_interval_replicas
from inferop.sim.policies import InferopPolicy
from inferop.sim.profile import ServiceProfile
from inferop.sim.run import default_autoscaling, run, run_config
from inferop.sim.trace import Trace

#: The variant whose final capacity estimate is the reference of the prior variants.
DEFAULT = "default"


@dataclass(frozen=True)
class Reference:
    """The capacity per ready replica the ``default`` run learned on a trace (its final estimate)."""

    per_replica: float
    unit: str  # "tokens" or "requests" (per second)
    source: str
    points: int

    @classmethod
    def of(cls, capacity: Mapping[str, Any] | None) -> Reference | None:
        """From ``Decision.capacity`` (the ``status.autoscaling.capacity`` form); None without one."""
        if not capacity or not capacity.get("perReplica"):
            return None
        return cls(
            float(capacity["perReplica"]), str(capacity["unit"]), str(capacity["source"]), int(capacity["points"])
        )

    def prior(self, factor: float) -> CapacityPrior:
        """``spec.autoscaling.capacity`` at ``factor`` x this, in its unit (tokens/s: a whole number)."""
        value = self.per_replica * factor
        if self.unit == "tokens":
            return CapacityPrior(tokens_per_second_per_replica=max(1, round(value)))
        return CapacityPrior(requests_per_second_per_replica=f"{max(value, 1e-4):.4f}")


@dataclass(frozen=True)
class WhatIf:
    """One variant: the CostPolicy, the planner's tuning and the capacity prior it runs with."""

    about: str
    cost_policy: CostPolicySpec = field(default_factory=CostPolicySpec)
    #: Passed to decide() (None: decide()'s own, from the CostPolicy).
    tuning: PlannerTuning | None = None
    #: The capacity prior, this times the trace's reference; None: no prior.
    prior_factor: float | None = None

    @property
    def needs_reference(self) -> bool:
        return self.prior_factor is not None

    def policy(self, first_decision: float = 0.0) -> InferopPolicy:
        """The policy factory: the simulator's ``inferop`` with this variant's tuning (its first
        decision at ``first_decision`` s, ``bench/phase.py``)."""
        return InferopPolicy(tuning=self.tuning, first_decision=first_decision)

    def autoscaling(self, base: Autoscaling, reference: Reference | None) -> Autoscaling:
        """``base`` with this variant's capacity prior (``spec.autoscaling.capacity``)."""
        if self.prior_factor is None:
            return base
        if reference is None:
            raise ValueError(f"{self.about}: a prior variant needs the {DEFAULT} run's capacity (its reference)")
        return base.model_copy(update={"capacity": reference.prior(self.prior_factor)})


def _tuned(**changes: Any) -> PlannerTuning:
    """The code's PlannerTuning with ``changes``, the default CostPolicy's ``spec.planner`` applied."""
    return PlannerTuning.from_policy(CostPolicySpec(), base=replace(PlannerTuning(), **changes))


def _planner(**fields: Any) -> CostPolicySpec:
    """The default CostPolicy with these ``spec.planner`` fields (validated as the operator does)."""
    return CostPolicySpec(planner=PlannerSpec.model_validate(fields))


_DOWN = CostPolicySpec().scale_down

#: name -> variant, in the report's order.
VARIANTS: dict[str, WhatIf] = {
    DEFAULT: WhatIf("learned only (no prior): the bench's inferop row"),
    "prior:exact": WhatIf("capacity prior 1.0x the reference", prior_factor=1.0),
    "prior:+30%": WhatIf("capacity prior 1.3x the reference (30% too high)", prior_factor=1.3),
    "prior:-30%": WhatIf("capacity prior 0.7x the reference (30% too low)", prior_factor=0.7),
    "no-forecast": WhatIf("spec.planner.forecast false", _planner(forecast=False)),
    "no-daily": WhatIf("spec.planner.daily false", _planner(daily=False)),
    "upper-quantile-50": WhatIf("spec.planner.upperQuantilePercent 50", _planner(upperQuantilePercent=50)),
    "upper-quantile-90": WhatIf("spec.planner.upperQuantilePercent 90", _planner(upperQuantilePercent=90)),
    "half-life-1h": WhatIf("spec.planner.capacityHalfLifeSeconds 3600", _planner(capacityHalfLifeSeconds=3600)),
    "no-reversion": WhatIf("PlannerTuning.reversion_window_seconds 0", tuning=_tuned(reversion_window_seconds=0.0)),
    "no-probe": WhatIf("PlannerTuning.probe_factor 1.0", tuning=_tuned(probe_factor=1.0)),
    "no-sampling-noise": WhatIf("PlannerTuning.sampling_z 0", tuning=_tuned(sampling_z=0.0)),
    "policy:headroom-10": WhatIf("sloHeadroomPercent 10", CostPolicySpec(slo_headroom_percent=10)),
    "policy:down-120s": WhatIf(
        "scaleDown.stabilizationSeconds 120",
        CostPolicySpec(scale_down=ScaleRule.model_validate({**_DOWN.model_dump(), "stabilization_seconds": 120})),
    ),
    "policy:fast-down": WhatIf("cooldownSeconds 0", CostPolicySpec(cooldown_seconds=0)),
}


def replay(
    name: str,
    trace: Trace,
    profile: ServiceProfile,
    *,
    slo_ms: int,
    percentile: int,
    warmup: float,
    reference: Reference | None = None,
    phase: float | None = None,
) -> dict[str, Any]:
    """Run the variant ``name`` on ``trace`` as the bench runs ``inferop`` (the default
    autoscaling, the oracle's first-interval replicas Ready at time 0); JSON-safe numbers.
    ``phase``: the decisions fall at ``phase + k x interval`` s of the trace (``bench/phase.py``; the
    controller ticks at ``phase`` modulo its period); None: as the bench runs (ticks at the simulator's
    ``CONTROLLER_PHASE``, the first decision at the first tick).

    Returns ``gpu_hours``, ``slo_attainment``, ``capacity`` (the run's final estimate, None without
    one) and, for a prior variant, ``prior`` (the value set, its unit, the factor and the reference).
    """
    whatif = VARIANTS[name]
    autoscaling = whatif.autoscaling(default_autoscaling(slo_ms, percentile), reference)
    config = run_config(float(slo_ms), percentile, autoscaling, whatif.cost_policy, warmup)
    config = replace(config, initial_replicas=config.clamp(first_interval_replicas(trace, profile, config)))
    policy = whatif.policy(0.0 if phase is None else phase)
    if phase is not None:
        config = replace(config, controller_phase=phase % policy.period)
    result = run(trace, profile, policy, config, record=False)
    out: dict[str, Any] = {
        "gpu_hours": result.gpu_hours,
        "slo_attainment": result.slo_attainment,
        "capacity": None if policy.capacity is None else dict(policy.capacity),
    }
    if whatif.prior_factor is not None and reference is not None and autoscaling.capacity is not None:
        unit = reference.unit
        out["prior"] = {
            "factor": whatif.prior_factor,
            "perReplica": autoscaling.capacity.per_replica(unit),
            "unit": unit,
            "reference": reference.per_replica,
        }
    return out
