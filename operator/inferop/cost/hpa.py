"""How a decision becomes the HPA's bounds (pure): the one mapping the operator and the simulator share.

The cost controller's decision is the HPA's ``minReplicas`` (the SLO floor); ``maxReplicas`` is the
ceiling (``maxReplicas`` clamped to the tenant's quota and budget) when the HPA reads metrics of its
own, so it may go higher on a burst. When it reads none (no custom-metrics adapter), the HPA would never
scale down by itself, so both bounds are the decision. ``inferop.reconcile.isvc.plan_scale`` renders
them; ``inferop.sim.policies.InferopPolicy`` replays them.
"""

from __future__ import annotations


def hpa_bounds(decided: int, ceiling: int, *, hpa_reads_metrics: bool) -> tuple[int, int]:
    """``(minReplicas, maxReplicas)`` for a decision of ``decided`` replicas under ``ceiling`` (at least 1:
    an HPA cannot have minReplicas 0)."""
    floor = max(1, min(decided, ceiling))
    return floor, (ceiling if hpa_reads_metrics else floor)
