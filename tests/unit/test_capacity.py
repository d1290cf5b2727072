"""The capacity step (inferop.cost.capacity): bracket, estimate, decaying memory, prior.

Covers: the estimate crosses the goal between the highest load within the SLO and the lowest
breaching, and is at least the bracket's geometric middle; the weight of evidence decides the
bracket and newer points weigh more (one slow request does not wipe the memory; a new model version
wins); the attainment-over-load line extrapolates the crossing (at most 2x, never above a breach);
old points are forgotten after the half-lives; a breach no lower load cured is not a capacity limit;
with no breach the estimate probes above the highest load within the SLO only when that load left
the scale-down line's room; the prior before anything is learned, and above a lower learned load;
scale equivariance (a capacity twice as high in every point gives twice the estimate).
"""

from __future__ import annotations

import math

import pytest

from inferop.cost.capacity import estimate
from inferop.cost.state import CapacityPoint, Learned
from inferop.cost.tuning import PlannerTuning

NOW = 1_700_000_000.0
TUNING = PlannerTuning()


def learned(*points: tuple[float, float, float]) -> Learned:
    """(seconds ago, load per replica, attainment), oldest first."""
    return Learned(unit="tokens", points=tuple(CapacityPoint(NOW - ago, load, att) for ago, load, att in points))


def est(state: Learned, prior: float | None = None, tuning: PlannerTuning = TUNING) -> tuple[float, str] | None:
    c = estimate(state, now=NOW, goal=0.95, line=0.96, prior=prior, tuning=tuning)
    return None if c is None else (round(c.per_replica, 6), c.source)


def test_the_estimate_crosses_the_goal_inside_the_bracket_and_is_at_least_its_geometric_middle() -> None:
    state = learned((300, 1000.0, 0.99), (200, 2000.0, 0.75))
    c = estimate(state, now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert c is not None and (c.lower, c.upper, c.source, c.points) == (1000.0, 2000.0, "learned", 2)
    # crossing 1000 + 1000 x 0.04 / 0.24 = 1166.7 < sqrt(1000 x 2000) = 1414.2: the middle
    assert c.per_replica == pytest.approx(math.sqrt(2_000_000))
    # a crossing above the middle is the estimate
    steep = learned((300, 1000.0, 1.0), (200, 2000.0, 0.94))
    assert est(steep) == (round(1000 + 1000 * 0.05 / 0.06, 6), "learned")


def test_the_weight_of_evidence_decides_and_newer_points_weigh_more() -> None:
    # One slow request at a light load among many points within the SLO above it: not a limit.
    noisy = learned((600, 2000.0, 0.99), (500, 2500.0, 0.99), (400, 3000.0, 0.99), (10, 500.0, 0.5), (5, 300.0, 0.99))
    c = estimate(noisy, now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert c is not None and c.upper is None and c.lower == 2500.0  # 3000 alone weighs less than the newer breach
    # A new model version: 1500 per replica served within the SLO hours ago, breaching now (repeatedly).
    version = learned((3 * 3600, 1500.0, 0.99), (300, 1500.0, 0.80), (200, 1600.0, 0.8), (50, 800.0, 0.99))
    c = estimate(version, now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert c is not None and (c.lower, c.upper) == (800.0, 1500.0)
    # The same points all of the same age: the old 1500 within and the new 1500 breach tie, 1600 breaches
    tie = learned((300, 1500.0, 0.99), (300, 1500.0, 0.80), (300, 1600.0, 0.8), (300, 800.0, 0.99))
    c = estimate(tie, now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert c is not None and c.upper is not None and c.upper <= 1600.0


def test_points_older_than_the_memory_are_forgotten() -> None:
    # half-life one day by default, forget under 1/16: after 4 days
    assert est(learned((4 * 86400 + 1, 1000.0, 0.99))) is None
    assert est(learned((4 * 86400 - 1, 1000.0, 0.99))) == (1250.0, "learned")
    hour = PlannerTuning(capacity_half_life_seconds=3600)
    assert est(learned((4 * 3600 + 1, 1000.0, 0.99)), tuning=hour) is None
    short = PlannerTuning(capacity_half_life_seconds=60)
    assert est(learned((300, 1000.0, 0.99)), tuning=short) is None


def test_a_breach_no_lower_load_cured_is_not_a_capacity_limit() -> None:
    # breaches at 1000 and (more replicas) 600: fewer requests per replica did not cure it
    assert est(learned((300, 1000.0, 0.5), (100, 600.0, 0.5))) is None
    assert est(learned((300, 1000.0, 0.5), (100, 600.0, 0.5)), prior=900.0) == (900.0, "prior")
    # once a lower load is served within the SLO the breaches bound the capacity
    c = estimate(
        learned((300, 1000.0, 0.5), (100, 600.0, 0.5), (50, 400.0, 0.99)),
        now=NOW,
        goal=0.95,
        line=0.96,
        prior=None,
        tuning=TUNING,
    )
    assert c is not None and (c.lower, c.upper) == (400.0, 600.0)


def test_without_a_breach_the_estimate_probes_only_with_room() -> None:
    assert est(learned((100, 1000.0, 0.99))) == (1250.0, "learned")  # 99% >= the 96% line
    assert est(learned((100, 1000.0, 0.955))) == (1000.0, "learned")  # within, but no room
    # a prior above what was learned is kept until a breach says otherwise
    assert est(learned((100, 1000.0, 0.99)), prior=2000.0) == (2000.0, "prior")
    assert est(learned((100, 1000.0, 0.99)), prior=1100.0) == (1250.0, "learned")


def test_the_prior_alone_before_anything_is_learned() -> None:
    assert est(Learned(unit="tokens"), prior=5000.0) == (5000.0, "prior")
    assert est(Learned(unit="tokens")) is None
    assert est(Learned(unit="tokens"), prior=float("nan")) is None


@pytest.mark.parametrize("factor", [0.5, 2.0, 3.7])
def test_the_estimate_scales_with_the_points(factor: float) -> None:
    base = ((600, 1000.0, 0.99), (300, 1800.0, 0.9), (100, 1200.0, 0.97))
    scaled = tuple((ago, load * factor, att) for ago, load, att in base)
    one, other = est(learned(*base)), est(learned(*scaled))
    assert one is not None and other is not None
    assert other[0] == pytest.approx(one[0] * factor)


def test_the_points_attainment_line_extrapolates_where_the_goal_is_crossed() -> None:
    # attainment falls 1% per 1000 tokens/s: 0.99 at 1000, 0.97 at 3000 -> 0.95 at 5000
    falling = learned((300, 1000.0, 0.99), (200, 2000.0, 0.98), (100, 3000.0, 0.97))
    c = estimate(falling, now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert c is not None and c.per_replica == pytest.approx(5000.0, rel=0.02)
    # at most max_extrapolation (2) times the highest load within the SLO
    flat = learned((300, 1000.0, 0.999), (200, 2000.0, 0.998), (100, 3000.0, 0.997))
    assert est(flat) == (6000.0, "learned")
    # never above a breach: the bracket's upper end
    capped = learned((300, 1000.0, 0.99), (200, 2000.0, 0.98), (100, 3000.0, 0.97), (50, 4000.0, 0.5))
    c = estimate(capped, now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert c is not None and c.per_replica == 4000.0 and c.upper == 4000.0


def test_a_reading_within_its_sampling_noise_of_the_goal_is_not_a_breach() -> None:
    # 95 requests at a 95% goal: the standard error is 2.2 points, so 94.6% is noise; 88% is not.
    def with_requests(att: float, requests: float) -> Learned:
        return Learned(
            unit="tokens",
            points=(CapacityPoint(NOW - 300, 300.0, 0.99, 95.0), CapacityPoint(NOW - 200, 400.0, att, requests)),
        )

    # (noise is neither a breach nor within: the point is left out of the bracket)
    noise = estimate(with_requests(0.946, 95.0), now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert noise is not None and noise.upper is None and noise.lower == 300.0
    real = estimate(with_requests(0.88, 95.0), now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert real is not None and real.upper == 400.0
    # the same 94.6% over 10,000 requests (standard error 0.2 points) is a breach
    many = estimate(with_requests(0.946, 10_000.0), now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert many is not None and many.upper == 400.0
    # a point whose request count is not known has no allowance
    unknown = estimate(with_requests(0.946, 0.0), now=NOW, goal=0.95, line=0.96, prior=None, tuning=TUNING)
    assert unknown is not None and unknown.upper == 400.0
    # z = 0 turns the allowance off
    strict = PlannerTuning(sampling_z=0.0)
    off = estimate(with_requests(0.946, 95.0), now=NOW, goal=0.95, line=0.96, prior=None, tuning=strict)
    assert off is not None and off.upper == 400.0
