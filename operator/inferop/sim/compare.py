"""Run our policy, the oracle and the baselines on one trace, each baseline tuned by a sweep. Pure.

What this module is for: a fair fight. Every policy replays the same requests through the same
service model from the same warm start (the oracle's size for the first minute), through the same
unscored burn-in (``RunConfig.warmup``), and is scored on the same period after it. Ours runs once,
with the CostPolicy as given (the default unless ``--policy``): no per-trace tuning. Each baseline's
one setting is swept, on one of two periods (``tunings``):

- ``past``: the burn-in alone (the trace cut at the burn-in's end, scored whole), what a user who
  tuned on last week's traffic gets; the setting chosen cannot depend on the scored period, whose
  requests are not even in the runs.
- ``scored``: the scored period itself (full runs, burn-in and all), hindsight: the best that
  baseline could ever do.

The setting kept is then run over the whole trace and scored on the scored period. Each sweep keeps
the cheapest setting that meets the SLO attainment goal on its period:

1. A coarse grid (below) is searched for every baseline (``GridSearch``): bisection for the boundary
   of the settings that meet the goal, then one neighbour; the whole grid only when its most
   expensive setting misses the goal.
2. Between the cheapest setting that meets the goal and its neighbour on the cheaper side, the
   setting is bisected three times (integers).
3. The kept setting is the one with the fewest GPU-hours among those that meet the goal; when none
   does, the one with the best attainment (the summary then shows the miss).

Grids (the cheaper side is the larger value for all but ``static``):

- ``hpa``: GPU utilization target 10, 20, ..., 100 percent.
- ``keda-latency``: threshold 0.2, 0.3, ..., 1.0, 1.25, 1.5, 2.0 x the SLO, in milliseconds.
- ``keda-queue``: 1, 2, 4, ..., 256 waiting requests per replica.
- ``kpa``: target concurrency 1, 2, 4, ..., 512 per pod (times Knative's 70% utilization).
- ``static``: bisection over 1..maxReplicas for the fewest replicas that meet the goal.

Runs are independent and deterministic, so ``jobs > 1`` runs them in worker processes (fork) with
identical results.

Seeds: the sweeps run on the trace given (its seed); ``reruns`` replays ``inferop``, the oracle and
every kept setting on the same trace drawn with other seeds, so that each ratio can be given as a
median and range.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inferop.sim.engine import workload_of
from inferop.sim.oracle import first_interval_replicas, oracle
from inferop.sim.policies import InferopPolicy, make_baseline
from inferop.sim.profile import ServiceProfile
from inferop.sim.run import Policy, RunConfig, RunResult, run
from inferop.sim.trace import Trace
from inferop.sim.zero import KPA_IDLE_SECONDS, ZeroPolicy

REFINE_STEPS = 3
#: The periods a baseline can be tuned on (see the module docstring), in the order rows are written.
TUNINGS = ("past", "scored")


def grid(name: str, config: RunConfig) -> list[float]:
    if name == "hpa":
        return [float(p) for p in range(10, 101, 10)]
    if name == "keda-latency":
        factors = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0)
        return sorted({float(max(1, round(config.slo_ms * f))) for f in factors})
    if name == "keda-queue":
        return [float(2**i) for i in range(9)]
    if name == "kpa":
        return [float(2**i) for i in range(10)]
    raise ValueError(f"no grid for {name!r}")


@dataclass
class Sweep:
    """Every setting tried for one baseline and the one kept."""

    name: str
    tried: dict[float, RunResult] = field(default_factory=dict)
    best: RunResult | None = None

    def choose(self, goal: float) -> RunResult:
        results = list(self.tried.values())
        feasible = [r for r in results if r.meets(goal)]
        if feasible:
            return min(feasible, key=lambda r: (r.gpu_hours, -r.slo_attainment))
        return max(results, key=lambda r: (r.slo_attainment, -r.gpu_hours))


# Worker processes inherit the trace through fork instead of pickling it for every run.
_SHARED: dict[str, Any] = {}

#: A run: (policy, target, record a timeline, "past" for the burn-in alone or "full").
Task = tuple[str, float | None, bool, str]


def _run_one(task: Task) -> RunResult:
    name, target, record, period = task
    trace: Trace = _SHARED["past" if period == "past" else "trace"]
    profile: ServiceProfile = _SHARED["profile"]
    config: RunConfig = _SHARED["config"]
    if period == "past":
        config = replace(config, warmup=0.0)
    policy, config = configured(name, target, config)
    return run(trace, profile, policy, config, record=record)


def configured(name: str, target: float | None, config: RunConfig) -> tuple[Policy, RunConfig]:
    """The policy ``name`` at ``target`` (None for ``inferop``) and the run config it starts from:
    static peak provisioning starts with its replicas Ready (it never scales)."""
    s2z = config.autoscaling.scale_to_zero
    if name == "inferop":
        if s2z is not None:  # scale to zero (sim/zero.py): inferop's idle rule around the planner
            return ZeroPolicy(InferopPolicy(), float(s2z.idle_seconds)), config
        return InferopPolicy(), config
    if target is None:
        raise ValueError(f"policy {name!r} needs a target")
    if name == "static":
        config = replace(config, initial_replicas=config.clamp(int(target)))
    if name == "kpa" and s2z is not None:  # Knative's own scale to zero as the baseline
        return ZeroPolicy(make_baseline(name, target), KPA_IDLE_SECONDS, mode="concurrency"), config
    return make_baseline(name, target), config


class Runner:
    """Runs tasks inline or in a pool of ``jobs`` worker processes."""

    def __init__(self, trace: Trace, profile: ServiceProfile, config: RunConfig, jobs: int = 1) -> None:
        past = trace.head(config.warmup) if config.warmup > 0 else None
        for shared in (trace, past):  # converted once, before the workers fork
            if shared is not None:
                workload_of(shared)
        _SHARED.update(trace=trace, past=past, profile=profile, config=config)
        self.jobs = jobs
        self.pool: Any = None
        if jobs > 1:
            self.pool = multiprocessing.get_context("fork").Pool(jobs)

    def map(self, tasks: Sequence[Task]) -> list[RunResult]:
        if self.pool is not None and len(tasks) > 1:
            return list(self.pool.map(_run_one, tasks, chunksize=1))
        return [_run_one(t) for t in tasks]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None
        _SHARED.clear()  # a week's trace and its past are gigabytes: not kept for the next runner


class GridSearch:
    """Which settings of a grid to run, searching instead of scanning it (step 1 of the sweep).

    The grid is sorted so that a larger setting is cheaper and lower in attainment (for every baseline
    but ``static``): the boundary between the settings that meet the goal and those that do not is
    found by bisection over the grid, then the grid neighbour on the expensive side of the last
    setting that meets the goal is run too (in case the cost is not monotone there). When the first
    setting of the grid misses the goal, the rest of the grid is run: the sweep then keeps the best
    attainment, which can be anywhere. With monotone attainment and cost this keeps the setting a
    scan of the whole grid keeps, in about half the runs (``tests/unit/test_sim_sweep.py``).
    """

    def __init__(self, values: Sequence[float]) -> None:
        self.values = sorted(values)

    def wanted(self, tried: dict[float, RunResult], goal: float) -> list[float]:
        """The next settings to run (none: the search is done), given the results so far."""
        values = self.values
        if values[0] not in tried:
            # The most expensive setting, and the middle of the grid in the same round.
            middle = values[len(values) // 2]
            return [values[0]] if middle == values[0] or middle in tried else [values[0], middle]
        if not tried[values[0]].meets(goal):
            return [v for v in values if v not in tried]  # none may meet it: every attainment counts
        lo, hi = 0, len(values)  # values[lo] meets the goal; values[hi] (if any) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if values[mid] not in tried:
                return [values[mid]]
            if tried[values[mid]].meets(goal):
                lo = mid
            else:
                hi = mid
        if lo > 0 and values[lo - 1] not in tried:
            return [values[lo - 1]]
        return []


def _round(name: str, value: float) -> float:
    return float(round(value))


def tune(
    names: Sequence[str],
    runner: Runner,
    config: RunConfig,
    progress: Callable[[str], None],
    tuning: str = "scored",
) -> dict[str, Sweep]:
    """Sweep every baseline in ``names`` on the ``tuning`` period (see the module docstring)."""
    period = "past" if tuning == "past" else "full"
    sweeps = {name: Sweep(name) for name in names}
    goal = config.goal

    def run_all(settings: list[tuple[str, float]]) -> None:
        tasks: list[Task] = [(name, value, False, period) for name, value in settings]
        for (name, value), result in zip(settings, runner.map(tasks), strict=True):
            sweeps[name].tried[value] = result

    # 1. The grids, searched (static: bisection, below).
    searches = {name: GridSearch(grid(name, config)) for name in names if name != "static"}
    while True:
        settings = [(name, v) for name, search in searches.items() for v in search.wanted(sweeps[name].tried, goal)]
        if not settings:
            break
        run_all(settings)
    # 2. Bisection towards the cheaper side, all baselines in step.
    brackets: dict[str, tuple[float, float]] = {}
    for name in names:
        if name == "static":
            brackets[name] = (float(config.max_replicas), float(config.min_replicas - 1))
            continue
        sweep = sweeps[name]
        values = sorted(sweep.tried)
        feasible = [v for v in values if sweep.tried[v].meets(goal)]
        if not feasible:
            continue
        best = min(feasible, key=lambda v: (sweep.tried[v].gpu_hours, v))
        cheaper = [v for v in sorted(grid(name, config)) if v > best]
        if cheaper:
            brackets[name] = (best, cheaper[0])
    steps = {name: (REFINE_STEPS if name != "static" else 12) for name in brackets}
    while brackets:
        settings = []
        for name, (good, bad) in brackets.items():
            middle = _round(name, (good + bad) / 2)
            if middle in (good, bad) or steps[name] <= 0:
                continue
            if middle in sweeps[name].tried:
                continue
            settings.append((name, middle))
        if not settings:
            break
        tasks: list[Task] = [(name, value, False, period) for name, value in settings]
        for (name, value), result in zip(settings, runner.map(tasks), strict=True):
            sweeps[name].tried[value] = result
            good, bad = brackets[name]
            if result.meets(goal) and (name == "static" or result.gpu_hours <= sweeps[name].tried[good].gpu_hours):
                brackets[name] = (value, bad)
            else:
                brackets[name] = (good, value)
            steps[name] -= 1
        brackets = {n: b for n, b in brackets.items() if steps[n] > 0}
    for name, sweep in sweeps.items():
        if name == "static" and not any(r.meets(goal) for r in sweep.tried.values()):
            top = float(config.max_replicas)
            if top not in sweep.tried:
                sweep.tried[top] = runner.map([(name, top, False, period)])[0]
        sweep.best = sweep.choose(goal)
        progress(
            f"{name} tuned on {tuning}: tried {len(sweep.tried)} settings, kept {sweep.best.target:g} "
            f"({sweep.best.gpu_hours:.2f} GPU-h, attainment {sweep.best.slo_attainment:.4f})"
        )
    return sweeps


@dataclass
class Comparison:
    #: inferop, oracle, then every baseline once per tuning (``RunResult.tuned_on``), on the trace given.
    results: list[RunResult]
    #: tuning -> baseline -> its sweep.
    sweeps: dict[str, dict[str, Sweep]]
    initial_replicas: int
    #: seed -> the same rows (same policies, tunings and targets) on the trace drawn with that seed.
    reruns: dict[int, list[RunResult]] = field(default_factory=dict)


def compare(
    trace: Trace,
    profile: ServiceProfile,
    config: RunConfig,
    baselines: Sequence[str],
    *,
    tunings: Sequence[str] = TUNINGS,
    jobs: int = 1,
    progress: Callable[[str], None] = lambda _: None,
    reruns: Sequence[tuple[int, Callable[[], Trace]]] = (),
) -> Comparison:
    """``inferop``, ``oracle`` and every baseline (tuned per ``tunings``), in that order, with timelines.

    ``reruns``: (seed, load the trace with that seed) pairs replayed with the settings kept here.
    """
    if "past" in tunings and config.warmup <= 0:
        raise ValueError("tuning on the past needs a burn-in (warmup > 0)")
    initial = config.clamp(first_interval_replicas(trace, profile, config))
    config = replace(config, initial_replicas=initial)
    progress(
        f"{len(trace)} requests over {trace.duration:g} s, the first {config.warmup:g} s burn-in; "
        f"every policy starts with {initial} Ready replicas"
    )
    runner = Runner(trace, profile, config, jobs)
    try:
        ours = runner.map([("inferop", None, True, "full")])[0]
        progress(f"inferop: {ours.gpu_hours:.2f} GPU-h, attainment {ours.slo_attainment:.4f}")
        best = oracle(trace, profile, config)
        progress(f"oracle: {best.gpu_hours:.2f} GPU-h, attainment {best.slo_attainment:.4f}")
        sweeps = {tuning: tune(baselines, runner, config, progress, tuning) for tuning in tunings}
        chosen = _chosen(baselines, tunings, sweeps)
        finals = _finals(runner, chosen, record=True)
    finally:
        runner.close()
    comparison = Comparison([ours, best, *finals], sweeps, initial)
    for seed, load in reruns:
        other = load()
        runner = Runner(other, profile, config, jobs)
        try:
            rows = runner.map([("inferop", None, False, "full")])
            rows.append(oracle(other, profile, config))
            rows += _finals(runner, chosen, record=False)
        finally:
            runner.close()
        comparison.reruns[seed] = rows
        progress(f"seed {seed}: inferop {rows[0].gpu_hours:.2f} GPU-h, oracle {rows[1].gpu_hours:.2f} GPU-h")
        del other  # freed before the next seed's trace is drawn
    return comparison


def _chosen(
    baselines: Sequence[str], tunings: Sequence[str], sweeps: dict[str, dict[str, Sweep]]
) -> list[tuple[str, str, float]]:
    """(baseline, tuning, kept target), in row order: per baseline, each tuning."""
    out = []
    for name in baselines:
        for tuning in tunings:
            kept = sweeps[tuning][name].best
            assert kept is not None and kept.target is not None
            out.append((name, tuning, kept.target))
    return out


def _finals(runner: Runner, chosen: Sequence[tuple[str, str, float]], *, record: bool) -> list[RunResult]:
    """Every kept setting over the whole trace, scored on the scored period; a setting kept twice runs once."""
    unique: list[tuple[str, float]] = []
    for name, _, target in chosen:
        if (name, target) not in unique:
            unique.append((name, target))
    results = runner.map([(name, target, record, "full") for name, target in unique])
    by_setting = dict(zip(unique, results, strict=True))
    return [replace(by_setting[(name, target)], tuned_on=tuning) for name, tuning, target in chosen]
