"""cost.state: the shared capacity-point rule and the bounded memory of the learned state."""

from __future__ import annotations

import math

from inferop.cost.state import CapacityPoint, Learned, LoadSample, capacity_point


def test_a_steady_interval_gives_the_load_per_ready_replica() -> None:
    point = capacity_point(100.0, 900.0, 3, 0.97, requests=40)
    assert point == CapacityPoint(time=100.0, per_replica=300.0, attainment=0.97, requests=40)


def test_no_point_without_a_ready_replica_a_load_or_a_fractional_attainment() -> None:
    assert capacity_point(1.0, 900.0, 0, 0.97) is None
    assert capacity_point(1.0, 0.0, 2, 0.97) is None
    assert capacity_point(1.0, math.nan, 2, 0.97) is None
    assert capacity_point(1.0, 10.0, 2, math.nan) is None
    assert capacity_point(1.0, 10.0, 2, 1.5) is None


def test_add_keeps_only_the_history_window() -> None:
    learned = Learned(unit="tokens")
    for t in range(0, 1000, 100):
        learned = learned.add(
            point=CapacityPoint(time=float(t), per_replica=1.0, attainment=1.0),
            sample=LoadSample(time=float(t), load=5.0),
            keep_seconds=300.0,
        )
    assert [p.time for p in learned.points] == [600.0, 700.0, 800.0, 900.0]
    assert [s.time for s in learned.load] == [600.0, 700.0, 800.0, 900.0]
    assert learned.unit == "tokens"
