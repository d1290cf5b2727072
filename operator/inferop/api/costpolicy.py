"""CostPolicy: how aggressively the cost controller scales (cluster-scoped; the chart installs `default`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from inferop.api.common import Model

Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DAYS: tuple[Day, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ScaleRule(Model):
    stabilization_seconds: Annotated[int, Field(ge=0, le=86_400)]
    max_step_replicas: Annotated[int, Field(ge=1, le=1000)] = Field(
        description="At most this many replicas added or removed per decision."
    )
    max_step_percent: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, description="Or this percent of the current replicas, whichever allows more."
    )


class ScheduleWindow(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
                    "message": "schedule minReplicas must be less than or equal to maxReplicas",
                }
            ]
        }
    )

    days: list[Day] = Field(default_factory=lambda: list(DAYS), max_length=7)
    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")]
    min_replicas: Annotated[int, Field(ge=0)] | None = None
    max_replicas: Annotated[int, Field(ge=0)] | None = None


class PrometheusLabels(Model):
    namespace: Annotated[str, Field(max_length=128)] = "namespace"
    pod: Annotated[str, Field(max_length=128)] = "pod"


class PrometheusSettings(Model):
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)] | None = None
    labels: PrometheusLabels = Field(default_factory=PrometheusLabels)


MSG_PLANNER_QUANTILE = "spec.planner.upperQuantilePercent must be between 50 and 99"
MSG_PLANNER_TREND = "spec.planner.trendWindowSeconds must be at most spec.planner.historySeconds"


class PlannerSpec(Model):
    """The planner's knobs (see docs/decide.md): the load forecast and the capacity model's memory."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.trendWindowSeconds <= self.historySeconds", "message": MSG_PLANNER_TREND}
            ]
        }
    )

    forecast: bool = Field(
        default=True,
        description="Size to the load forecast over the cold start; false: size to the load observed now.",
    )
    daily: bool = Field(
        default=True,
        description="Add the same time of day on previous days to the forecast when the history holds them.",
    )
    horizon_margin_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=0, description="Added to the forecast horizon (cold start plus the decision interval)."
    )
    history_seconds: Annotated[int, Field(ge=600, le=1_209_600)] = Field(
        default=172_800, description="How long capacity points and load samples are kept (and rebuilt after a restart)."
    )
    trend_window_seconds: Annotated[int, Field(ge=60, le=86_400)] = Field(
        default=600, description="The recent load the short-term level, trend and variability are read from."
    )
    upper_quantile_percent: Annotated[int, Field(ge=50, le=99)] = Field(
        default=75, description="The forecast's upper quantile the replicas are sized to."
    )
    capacity_half_life_seconds: Annotated[int, Field(ge=60, le=604_800)] = Field(
        default=86400,
        description="Capacity points lose half their weight in this time (so a new model version is learned).",
    )

    @model_validator(mode="after")
    def _trend_within_history(self) -> PlannerSpec:
        if self.trend_window_seconds > self.history_seconds:
            raise ValueError(MSG_PLANNER_TREND)
        return self


class CostPolicySpec(Model):
    interval_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    scale_up: ScaleRule = Field(
        default_factory=lambda: ScaleRule(stabilization_seconds=0, max_step_replicas=4, max_step_percent=100)
    )
    scale_down: ScaleRule = Field(
        default_factory=lambda: ScaleRule(stabilization_seconds=300, max_step_replicas=1, max_step_percent=50)
    )
    cooldown_seconds: Annotated[int, Field(ge=0, le=86_400)] = 60
    slo_headroom_percent: Annotated[int, Field(ge=0, le=90)] = Field(
        default=20, description="Scale down only while latency is at least this far below the SLO target."
    )
    on_missing_metrics: Literal["Hold"] = "Hold"
    schedule: list[ScheduleWindow] = Field(default_factory=list, max_length=64)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    planner: PlannerSpec = Field(default_factory=PlannerSpec)
