"""What-if runs: how much would other CostPolicy defaults, or a different decide() rule, change?

Not part of the operator. The bench's ``inferop`` row always runs the real decide() with the default
CostPolicy; these variants only measure what changing the defaults or decide() itself would buy, so
that proposals come with numbers:

- ``default``: the bench's ``inferop`` row again (a check that the what-if harness matches).
- ``policy:fast-down``: the real decide() with a CostPolicy that scales down by up to 50% per
  decision (``scaleDown.maxStepPercent: 50``) without cooldown (``cooldownSeconds: 0``).
- ``policy:headroom-10``: the real decide() with ``sloHeadroomPercent: 10``.
- ``no-attainment``: the real decide() without the SLO attainment signal: the interpolated latency
  quantile alone judges the SLO (the rule before 2026-11-30).
- ``no-up-cap``: the real decide() with ``MAX_UP_FACTOR`` lifted: one decision may multiply the ready
  replicas by the full latency (or queue) ratio (the rule before 2026-11-30).
- ``policy:down-120s``: the real decide() with a 120 s scale-down stabilization window (default 300 s).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, replace

from inferop.api.costpolicy import CostPolicySpec, ScaleRule
from inferop.cost.signals import Observation, Observations, ObservationStatus
from inferop.sim.policies import InferopPolicy
from inferop.sim.run import Context

#: The module (``inferop.cost.decide`` the attribute is the function, re-exported by the package).
decide_module = importlib.import_module("inferop.cost.decide")

FAST_DOWN = CostPolicySpec(
    scale_down=ScaleRule(stabilization_seconds=300, max_step_replicas=1, max_step_percent=50), cooldown_seconds=0
)
HEADROOM_10 = CostPolicySpec(slo_headroom_percent=10)
DOWN_120 = CostPolicySpec(scale_down=ScaleRule(stabilization_seconds=120, max_step_replicas=1))


@dataclass
class NoAttainmentPolicy(InferopPolicy):
    """decide() fed no SLO attainment: the latency quantile alone judges the SLO."""

    name: str = "inferop-no-attainment"

    def observe(self, ctx: Context, now: float) -> Observations:
        observed = super().observe(ctx, now)
        return replace(observed, slo_attainment=Observation.missing(ObservationStatus.UNSUPPORTED, "what-if"))


@dataclass
class NoUpCapPolicy(InferopPolicy):
    """decide() with MAX_UP_FACTOR lifted for its own decisions."""

    name: str = "inferop-no-up-cap"

    def tick(self, ctx: Context, now: float) -> int | None:
        saved = decide_module.MAX_UP_FACTOR
        decide_module.MAX_UP_FACTOR = math.inf
        try:
            return super().tick(ctx, now)
        finally:
            decide_module.MAX_UP_FACTOR = saved


#: name -> (policy factory, CostPolicy)
VARIANTS: dict[str, tuple[type[InferopPolicy], CostPolicySpec]] = {
    "default": (InferopPolicy, CostPolicySpec()),
    "policy:fast-down": (InferopPolicy, FAST_DOWN),
    "policy:headroom-10": (InferopPolicy, HEADROOM_10),
    "policy:down-120s": (InferopPolicy, DOWN_120),
    "no-attainment": (NoAttainmentPolicy, CostPolicySpec()),
    "no-up-cap": (NoUpCapPolicy, CostPolicySpec()),
}
