"""What-if runs: how much would other CostPolicy defaults, or a different decide() rule, change?

Not part of the operator. The bench's ``inferop`` row always runs the real decide() with the default
CostPolicy; these variants only measure what changing the defaults or decide() itself would buy, so
that proposals come with numbers:

- ``default``: the bench's ``inferop`` row again (a check that the what-if harness matches).
- ``policy:fast-down``: the real decide() with a CostPolicy that scales down by up to 50% per
  decision (``scaleDown.maxStepPercent: 50``) without cooldown (``cooldownSeconds: 0``).
- ``policy:headroom-10``: the real decide() with ``sloHeadroomPercent: 10``.
- ``rule:attainment``: the real decide() fed a latency derived from the SLO attainment instead of the
  interpolated quantile, emulating a decide() that (1) reads ``sum(rate(bucket{le=SLO})) /
  sum(rate(count))`` (exact, the SLO being a bucket bound) instead of ``histogram_quantile``, (2)
  scales up when attainment is below the goal by the measured latency ratio capped at 2x, (3) scales
  down one replica when at most half the error budget is used (e.g. >= 97.5% within the SLO for a
  p95 goal) and (4) holds in between. Stabilization, cooldown, steps and bounds stay decide()'s.
- ``rule:attainment+down-60s``: the attainment rule with a 60 s scale-down stabilization window and
  no cooldown (the rule steps one replica at a time, so the window sets the pace of scale-down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from inferop.api.costpolicy import CostPolicySpec, ScaleRule
from inferop.cost.signals import Observation, Observations
from inferop.sim.policies import InferopPolicy
from inferop.sim.run import Context

FAST_DOWN = CostPolicySpec(
    scale_down=ScaleRule(stabilization_seconds=300, max_step_replicas=1, max_step_percent=50), cooldown_seconds=0
)
HEADROOM_10 = CostPolicySpec(slo_headroom_percent=10)
DOWN_60 = CostPolicySpec(
    scale_down=ScaleRule(stabilization_seconds=60, max_step_replicas=1, max_step_percent=50), cooldown_seconds=0
)


@dataclass
class AttainmentPolicy(InferopPolicy):
    """decide() with the attainment rule (see the module docstring), by rewriting its latency input."""

    name: str = "inferop-attainment"
    readings: list[tuple[float, float]] = field(default_factory=list)

    def observe(self, ctx: Context, now: float) -> Observations:
        observed = super().observe(ctx, now)
        config = ctx.config
        latency = observed.latency_milliseconds
        if not latency.usable or latency.value is None:
            return observed
        within = ctx.prom.fraction_within(config.slo_ms / 1000, now, config.rate_window)
        if within is None or math.isnan(within):
            return observed
        slo = config.slo_ms
        line = slo * (1 - config.cost_policy.slo_headroom_percent / 100)
        goal = config.goal
        current = max(1, ctx.cluster.replicas)
        if within < goal:
            value = slo * min(2.0, max(latency.value / slo, 1.0 + 1e-6))
        elif within >= 1 - (1 - goal) / 2:
            value = line * (current - 1) / current
        else:
            value = (line + slo) / 2
        self.readings.append((now, within))
        rewritten = Observation.ok(value, latency.age_seconds or 0.0, latency.statistic)
        return Observations(
            latency_milliseconds=rewritten,
            queue_depth_per_replica=observed.queue_depth_per_replica,
            request_rate=observed.request_rate,
            gpu_utilization_percent=observed.gpu_utilization_percent,
        )


#: name -> (policy factory, CostPolicy)
VARIANTS: dict[str, tuple[type[InferopPolicy], CostPolicySpec]] = {
    "default": (InferopPolicy, CostPolicySpec()),
    "policy:fast-down": (InferopPolicy, FAST_DOWN),
    "policy:headroom-10": (InferopPolicy, HEADROOM_10),
    "rule:attainment": (AttainmentPolicy, CostPolicySpec()),
    "rule:attainment+down-60s": (AttainmentPolicy, DOWN_60),
}
