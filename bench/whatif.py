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
- ``no-settle``: the real decide() without settling (``SETTLE_INTERVALS = 0``): a latency breach may
  scale up again at the tick its new replicas become ready (the rule before 2026-11-30's second change).
- ``no-blind-line``: the real decide() taking the unsized one-replica step down at the ordinary
  scale-down line (96% within for p95) instead of 98% (``BLIND_STEP_BUDGET = 0.8``, the earlier rule).
- ``up-factor-2``: the real decide() with one decision at most doubling the ready replicas
  (``MAX_UP_FACTOR = 2``, the rule before 2026-11-30's third change; now 3).
- ``no-backlog-settle``: the real decide() without the longer settle while the ready replicas complete
  under half the peak throughput per replica (``BACKLOG_THROUGHPUT_FRACTION = 0``).
- ``no-proven``: the real decide() without sizing scale-downs by the throughput per replica proven
  within the scale-down line (``PROVEN_STEADY_INTERVALS = inf``: no throughput is ever proven).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
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
class ConstantsPolicy(InferopPolicy):
    """decide() with some of its module constants replaced for its own decisions."""

    name: str = "inferop-constants"
    constants: tuple[tuple[str, float], ...] = ()

    def tick(self, ctx: Context, now: float) -> int | None:
        saved = {name: getattr(decide_module, name) for name, _ in self.constants}
        for name, value in self.constants:
            setattr(decide_module, name, value)
        try:
            return super().tick(ctx, now)
        finally:
            for name, value in saved.items():
                setattr(decide_module, name, value)


def _no_up_cap() -> InferopPolicy:
    return ConstantsPolicy(name="inferop-no-up-cap", constants=(("MAX_UP_FACTOR", math.inf),))


def _no_settle() -> InferopPolicy:
    return ConstantsPolicy(name="inferop-no-settle", constants=(("SETTLE_INTERVALS", 0),))


def _no_blind_line() -> InferopPolicy:
    return ConstantsPolicy(name="inferop-no-blind-line", constants=(("BLIND_STEP_BUDGET", 0.8),))


def _up_factor_2() -> InferopPolicy:
    return ConstantsPolicy(name="inferop-up-factor-2", constants=(("MAX_UP_FACTOR", 2.0),))


def _no_backlog_settle() -> InferopPolicy:
    return ConstantsPolicy(name="inferop-no-backlog-settle", constants=(("BACKLOG_THROUGHPUT_FRACTION", 0.0),))


def _no_proven() -> InferopPolicy:
    return ConstantsPolicy(name="inferop-no-proven", constants=(("PROVEN_STEADY_INTERVALS", math.inf),))


#: name -> (policy factory, CostPolicy)
VARIANTS: dict[str, tuple[Callable[[], InferopPolicy], CostPolicySpec]] = {
    "default": (InferopPolicy, CostPolicySpec()),
    "policy:fast-down": (InferopPolicy, FAST_DOWN),
    "policy:headroom-10": (InferopPolicy, HEADROOM_10),
    "policy:down-120s": (InferopPolicy, DOWN_120),
    "no-attainment": (NoAttainmentPolicy, CostPolicySpec()),
    "no-up-cap": (_no_up_cap, CostPolicySpec()),
    "no-settle": (_no_settle, CostPolicySpec()),
    "no-blind-line": (_no_blind_line, CostPolicySpec()),
    "up-factor-2": (_up_factor_2, CostPolicySpec()),
    "no-backlog-settle": (_no_backlog_settle, CostPolicySpec()),
    "no-proven": (_no_proven, CostPolicySpec()),
}
