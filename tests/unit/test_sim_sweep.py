"""The baselines' sweeps (inferop.sim.compare): the grid search against a scan of the whole grid.

A sweep keeps the cheapest setting that meets the attainment goal. ``GridSearch`` finds it by bisection
over the grid (a larger setting is cheaper and lower in attainment) plus one neighbour, instead of
running every grid value; when the grid's most expensive setting misses the goal it runs the whole
grid (the sweep then keeps the best attainment). Pinned here on synthetic results: the search keeps
what the scan keeps, in fewer runs, and ``tune()`` as a whole runs only what the search asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from inferop.api.costpolicy import CostPolicySpec
from inferop.sim.compare import GridSearch, Sweep, grid, tune
from inferop.sim.run import RunResult, default_autoscaling, run_config

GOAL = 0.95


def result(target: float, gpu_hours: float, attainment: float) -> RunResult:
    return RunResult("hpa", target, gpu_hours, gpu_hours * 2, attainment, 0.0, 0.0, 0, 100)


Model = Callable[[float], tuple[float, float]]


def search(values: Sequence[float], model: Model) -> tuple[Sweep, list[list[float]]]:
    """Run ``GridSearch`` to the end on ``model`` (setting -> (GPU-hours, attainment)); the rounds it ran."""
    sweep = Sweep("hpa")
    rounds = []
    grid_search = GridSearch(values)
    while wanted := grid_search.wanted(sweep.tried, GOAL):
        rounds.append(wanted)
        for v in wanted:
            assert v not in sweep.tried, "a setting is never run twice"
            sweep.tried[v] = result(v, *model(v))
    return sweep, rounds


def scan(values: Sequence[float], model: Model) -> Sweep:
    sweep = Sweep("hpa")
    for v in values:
        sweep.tried[v] = result(v, *model(v))
    return sweep


VALUES = [float(v) for v in range(10, 101, 10)]


@pytest.mark.parametrize("boundary", [5.0, 10.0, 20.0, 50.0, 60.0, 90.0, 100.0, 200.0])
def test_the_search_keeps_what_the_scan_keeps_on_monotone_results(boundary: float) -> None:
    # Attainment falls with the setting and crosses the goal just above `boundary`; cost falls too.
    def model(v: float) -> tuple[float, float]:
        return 1000.0 / v, 0.99 - 0.04 * (v / boundary)

    kept, rounds = search(VALUES, model)
    assert kept.choose(GOAL).target == scan(VALUES, model).choose(GOAL).target
    if model(VALUES[0])[1] >= GOAL:
        assert len(kept.tried) <= 6 < len(VALUES)


def test_the_search_runs_the_whole_grid_when_its_most_expensive_setting_misses() -> None:
    # Nothing meets the goal and the attainment peaks in the middle: only a full grid finds the peak.
    def model(v: float) -> tuple[float, float]:
        return 1000.0 / v, 0.9 - abs(v - 70.0) / 1000

    kept, rounds = search(VALUES, model)
    assert set(kept.tried) == set(VALUES)
    assert kept.choose(GOAL).target == scan(VALUES, model).choose(GOAL).target == 70.0
    assert rounds[0] == [10.0, 60.0]  # the first round: the most expensive setting and the middle


def test_the_search_runs_the_cheaper_neighbours_of_the_boundary() -> None:
    # 60 is the largest setting that meets the goal; 70 (just past it) and 50 (the neighbour) are run too.
    def model(v: float) -> tuple[float, float]:
        return 1000.0 / v, 0.96 if v <= 60 else 0.90

    kept, _ = search(VALUES, model)
    assert {50.0, 60.0, 70.0} <= set(kept.tried)
    assert kept.choose(GOAL).target == 60.0


def test_the_neighbour_catches_a_cost_that_is_not_monotone() -> None:
    # 60 meets the goal but, flapping, costs more than 50: the neighbour run finds 50, as the scan does.
    def model(v: float) -> tuple[float, float]:
        return (200.0 if v == 60 else 1000.0 / v), 0.96 if v <= 60 else 0.90

    kept, _ = search(VALUES, model)
    assert kept.choose(GOAL).target == scan(VALUES, model).choose(GOAL).target == 50.0


class FakeRunner:
    """Answers tune()'s runs from a model of each baseline, counting them."""

    def __init__(self, models: dict[str, Model]) -> None:
        self.models = models
        self.runs: list[tuple[str, float]] = []

    def map(self, tasks: Sequence[tuple[str, float | None, bool, str]]) -> list[RunResult]:
        out = []
        for name, target, _, _ in tasks:
            assert target is not None
            self.runs.append((name, target))
            hours, attainment = self.models[name](target)
            out.append(RunResult(name, target, hours, hours, attainment, 0.0, 0.0, 0, 100))
        return out


def test_tune_keeps_the_cheapest_setting_that_meets_the_goal_with_few_runs() -> None:
    config = run_config(10000.0, 95, default_autoscaling(10000, 95), CostPolicySpec())

    def hpa(v: float) -> tuple[float, float]:  # meets the goal up to 55 percent (3 refinement steps find it)
        return 1000.0 / v, 0.96 if v <= 55 else 0.90

    def static(n: float) -> tuple[float, float]:  # 17 replicas are enough
        return 24.0 * n, 0.96 if n >= 17 else 0.5

    runner = FakeRunner({"hpa": hpa, "static": static})
    sweeps = tune(["hpa", "static"], runner, config, lambda _: None, "scored")  # type: ignore[arg-type]
    assert sweeps["hpa"].best is not None and sweeps["hpa"].best.target == 55.0
    assert sweeps["static"].best is not None and sweeps["static"].best.target == 17.0
    hpa_runs = [v for name, v in runner.runs if name == "hpa"]
    assert len(hpa_runs) == len(set(hpa_runs)) <= 9 < len(grid("hpa", config)) + 3  # the scan ran 13
