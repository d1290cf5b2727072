"""The decision -> HPA bounds mapping (``inferop.cost.hpa.hpa_bounds``) that the operator renders and the
simulator replays: the decision is the floor; the ceiling stays above it only for an HPA that reads
metrics of its own; never below 1; and the API's one time format (``inferop.api.times``)."""

from __future__ import annotations

from inferop.api.times import iso_at
from inferop.cost.hpa import hpa_bounds


def test_decision_is_the_floor_and_the_ceiling_stays_for_an_hpa_with_metrics() -> None:
    assert hpa_bounds(3, 8, hpa_reads_metrics=True) == (3, 8)


def test_an_hpa_without_metrics_gets_the_decision_as_both_bounds() -> None:
    assert hpa_bounds(3, 8, hpa_reads_metrics=False) == (3, 3)


def test_the_decision_is_clamped_into_one_to_the_ceiling() -> None:
    assert hpa_bounds(12, 8, hpa_reads_metrics=True) == (8, 8)
    assert hpa_bounds(0, 8, hpa_reads_metrics=False) == (1, 1)


def test_times_are_rfc3339_utc_whole_seconds() -> None:
    assert iso_at(1_764_637_445.9) == "2025-12-02T01:04:05Z"
