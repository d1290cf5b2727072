"""The vocabulary of a decision: why (``Reason``) and which bound limited it (``LimitedBy``). Pure.

What this module is for: the names every step of ``decide()`` and the status share, in one place
(the CamelCase reasons of ``status.autoscaling.lastDecision``). Must not: hold any rule.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Reason(StrEnum):
    SLO_BREACH = "SLOBreach"
    SATURATED = "Saturated"
    WAITING_FOR_REPLICAS = "WaitingForReplicas"
    FORECAST = "Forecast"
    SCALE_DOWN_WITH_HEADROOM = "ScaleDownWithHeadroom"
    NO_LOAD = "NoLoad"
    HOLD = "Hold"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    STABILIZING = "Stabilizing"
    COOLDOWN = "Cooldown"
    AT_MINIMUM = "AtMinimum"
    AT_MAXIMUM = "AtMaximum"
    OUTSIDE_BOUNDS = "OutsideBounds"


LimitedBy = Literal["MinReplicas", "MaxReplicas", "Quota", "Budget", "Schedule"]
