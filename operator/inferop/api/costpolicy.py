"""CostPolicy: how aggressively the cost controller scales (cluster-scoped; the chart installs `default`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

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


class CostPolicySpec(Model):
    interval_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    scale_up: ScaleRule = Field(
        default_factory=lambda: ScaleRule(stabilization_seconds=0, max_step_replicas=4, max_step_percent=100)
    )
    scale_down: ScaleRule = Field(default_factory=lambda: ScaleRule(stabilization_seconds=300, max_step_replicas=1))
    cooldown_seconds: Annotated[int, Field(ge=0, le=86_400)] = 60
    slo_headroom_percent: Annotated[int, Field(ge=0, le=90)] = Field(
        default=20, description="Scale down only while latency is at least this far below the SLO target."
    )
    on_missing_metrics: Literal["Hold"] = "Hold"
    schedule: list[ScheduleWindow] = Field(default_factory=list, max_length=64)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
