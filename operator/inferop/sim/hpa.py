"""The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm, with its defaults. Pure.

What this module is for: the baselines ``hpa`` and ``keda-*`` and the actuator under our own policy
all go through the same HPA. Written from ``pkg/controller/podautoscaler`` (horizontal.go and
replica_calculator.go) and the HPA documentation:

- Metric to replicas (``replica_calculator.go``), tolerance 0.1:
  - ``Pods`` metric, ``AverageValue`` target (a per-pod custom metric through an adapter):
    :meth:`HPA.pods_metric_replicas` (``calcPlainMetricReplicas``): ratio = mean of the ready pods'
    values / target; within tolerance keep the current replicas, else ``ceil(ratio x ready)``. Pods
    still starting count as 0 on a scale-up; pods without a sample count as 0 on a scale-up and as
    exactly the target on a scale-down; if that flips the direction or lands within tolerance,
    keep the current replicas.
  - ``External`` metric, ``Value`` target (KEDA ``metricType: Value``):
    :meth:`HPA.external_value_replicas` (``getUsageRatioReplicaCount``): ``ceil(value / target x
    ready pods)`` outside the tolerance.
  - ``External`` metric, ``AverageValue`` target (KEDA's default): :meth:`HPA.external_average_replicas`
    (``GetExternalPerPodMetricReplicas``): ``ceil(value / target)`` when ``value / (target x current)``
    is outside the tolerance.
- Replicas below ``minReplicas`` (or above ``maxReplicas``) are moved into the range at once.
- Behaviour (``normalizeDesiredReplicasWithBehaviors``), defaults: scale-up stabilization 0 s,
  policies ``Pods 4 / 15 s`` and ``Percent 100 / 15 s``, selectPolicy Max; scale-down stabilization
  300 s, policy ``Percent 100 / 15 s``. Stabilization takes the smallest recommendation of the
  scale-up window and the largest of the scale-down window (the unclamped metric recommendations
  are recorded); the rate limit counts the replicas added or removed within each policy's period.
- The controller syncs every 15 s (``--horizontal-pod-autoscaler-sync-period``).

Must not: read the cluster itself; the caller passes what the HPA would read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

TOLERANCE = 0.1
SYNC_SECONDS = 15.0


@dataclass(frozen=True)
class ScalingPolicy:
    type: Literal["Pods", "Percent"]
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_seconds: int
    policies: tuple[ScalingPolicy, ...]
    select: Literal["Max", "Min", "Disabled"] = "Max"


DEFAULT_SCALE_UP = ScalingRules(0, (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)))
DEFAULT_SCALE_DOWN = ScalingRules(300, (ScalingPolicy("Percent", 100, 15),))


@dataclass
class HPA:
    """One HorizontalPodAutoscaler's state: recorded recommendations and scale events."""

    min_replicas: int
    max_replicas: int
    tolerance: float = TOLERANCE
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    up_events: list[tuple[float, int]] = field(default_factory=list)
    down_events: list[tuple[float, int]] = field(default_factory=list)

    # -- metric -> replicas ----------------------------------------------------------------------

    def pods_metric_replicas(
        self,
        current: int,
        values: Mapping[str, float],
        target: float,
        *,
        ready: list[str],
        unready: list[str] = (),  # type: ignore[assignment]
    ) -> int | None:
        """A ``Pods`` metric with an ``AverageValue`` target. ``values``: the samples per pod name.

        ``ready``: pods Running (their sample may be missing); ``unready``: pods still Pending.
        None = no metrics at all (the HPA skips this metric).
        """
        metrics = {name: values[name] for name in ready if name in values}
        missing = [name for name in ready if name not in values]
        if not metrics:
            return None
        ratio = sum(metrics.values()) / (len(metrics) * target)
        scale_up_with_unready = bool(unready) and ratio > 1.0
        if not scale_up_with_unready and not missing:
            if abs(1.0 - ratio) <= self.tolerance:
                return current
            return _ceil(ratio * len(metrics))
        if missing:
            fill = target if ratio < 1.0 else 0.0
            for name in missing:
                metrics[name] = fill
        if scale_up_with_unready:
            for name in unready:
                metrics[name] = 0.0
        new_ratio = sum(metrics.values()) / (len(metrics) * target)
        if abs(1.0 - new_ratio) <= self.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
            return current
        replicas = _ceil(new_ratio * len(metrics))
        if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
            return current
        return replicas

    def external_value_replicas(self, current: int, value: float, target: float, ready: int) -> int:
        """An ``External`` metric with a ``Value`` target (KEDA ``metricType: Value``)."""
        ratio = value / target
        if current == 0:
            return _ceil(ratio)
        if abs(1.0 - ratio) <= self.tolerance:
            return current
        return _ceil(ratio * ready)

    def external_average_replicas(self, current: int, value: float, target: float) -> int:
        """An ``External`` metric with an ``AverageValue`` target (KEDA's default metricType)."""
        if current == 0:
            return _ceil(value / target)
        ratio = value / (target * current)
        if abs(1.0 - ratio) > self.tolerance:
            return _ceil(value / target)
        return current

    # -- one sync --------------------------------------------------------------------------------

    def reconcile(self, now: float, current: int, metric_replicas: int | None) -> int:
        """The replicas after one sync, given the largest metric recommendation (None = no metric).

        Records the recommendation and the scale event; the caller applies the result.
        """
        if current > self.max_replicas:
            desired = self.max_replicas
        elif current < self.min_replicas:
            desired = self.min_replicas
        elif metric_replicas is None:
            return current
        else:
            stabilized = self._stabilize(now, current, metric_replicas)
            desired = self._limit_rate(now, current, stabilized)
        if desired > current:
            self.up_events.append((now, desired - current))
        elif desired < current:
            self.down_events.append((now, current - desired))
        longest = max(p.period_seconds for p in (*self.scale_up.policies, *self.scale_down.policies))
        self.up_events = [e for e in self.up_events if e[0] > now - longest]
        self.down_events = [e for e in self.down_events if e[0] > now - longest]
        return desired

    def _stabilize(self, now: float, current: int, recommendation: int) -> int:
        up_cutoff = now - self.scale_up.stabilization_seconds
        down_cutoff = now - self.scale_down.stabilization_seconds
        up = recommendation
        down = recommendation
        for t, rec in self.recommendations:
            if t > up_cutoff:
                up = min(up, rec)
            if t > down_cutoff:
                down = max(down, rec)
        keep_after = min(up_cutoff, down_cutoff)
        self.recommendations = [(t, r) for t, r in self.recommendations if t >= keep_after]
        self.recommendations.append((now, recommendation))
        result = current
        if result < up:
            result = up
        if result > down:
            result = down
        return result

    def _limit_rate(self, now: float, current: int, desired: int) -> int:
        if desired > current:
            limit = max(current, _scale_up_limit(now, current, self.up_events, self.down_events, self.scale_up))
            return min(desired, limit, self.max_replicas)
        if desired < current:
            limit = min(current, _scale_down_limit(now, current, self.up_events, self.down_events, self.scale_down))
            return max(desired, limit, self.min_replicas)
        return desired


def _ceil(value: float) -> int:
    return max(0, math.ceil(value - 1e-9))


def _changed(now: float, period: int, events: list[tuple[float, int]]) -> int:
    return sum(change for t, change in events if t > now - period)


def _scale_up_limit(
    now: float, current: int, ups: list[tuple[float, int]], downs: list[tuple[float, int]], rules: ScalingRules
) -> int:
    if rules.select == "Disabled":
        return current
    result = math.inf if rules.select == "Min" else -math.inf
    for policy in rules.policies:
        start = current - _changed(now, policy.period_seconds, ups) + _changed(now, policy.period_seconds, downs)
        if policy.type == "Pods":
            proposed = float(start + policy.value)
        else:
            proposed = float(math.ceil(start * (1 + policy.value / 100)))
        result = min(result, proposed) if rules.select == "Min" else max(result, proposed)
    return int(result)


def _scale_down_limit(
    now: float, current: int, ups: list[tuple[float, int]], downs: list[tuple[float, int]], rules: ScalingRules
) -> int:
    if rules.select == "Disabled":
        return current
    result = -math.inf if rules.select == "Min" else math.inf
    for policy in rules.policies:
        start = current - _changed(now, policy.period_seconds, ups) + _changed(now, policy.period_seconds, downs)
        if policy.type == "Pods":
            proposed = float(start - policy.value)
        else:
            proposed = float(math.floor(start * (1 - policy.value / 100)))
        result = max(result, proposed) if rules.select == "Min" else min(result, proposed)
    return int(result)
