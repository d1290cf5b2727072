"""Run our policy, the oracle and the baselines on one trace, each baseline tuned by a sweep. Pure.

What this module is for: a fair fight. Every policy replays the same requests through the same
service model from the same warm start (the oracle's size for the first minute). Ours runs once,
with the CostPolicy as given (the default unless ``--policy``): no per-trace tuning. Each baseline's
one setting is swept per trace and the cheapest setting that meets the SLO attainment goal is kept:

1. A coarse grid (below) is run for every baseline.
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
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inferop.sim.oracle import first_interval_replicas, oracle
from inferop.sim.policies import InferopPolicy, make_baseline
from inferop.sim.profile import ServiceProfile
from inferop.sim.run import Policy, RunConfig, RunResult, run
from inferop.sim.trace import Trace

REFINE_STEPS = 3


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


def _run_one(task: tuple[str, float | None, bool]) -> RunResult:
    name, target, record = task
    trace: Trace = _SHARED["trace"]
    profile: ServiceProfile = _SHARED["profile"]
    config: RunConfig = _SHARED["config"]
    policy, config = configured(name, target, config)
    return run(trace, profile, policy, config, record=record)


def configured(name: str, target: float | None, config: RunConfig) -> tuple[Policy, RunConfig]:
    """The policy ``name`` at ``target`` (None for ``inferop``) and the run config it starts from:
    static peak provisioning starts with its replicas Ready (it never scales)."""
    if name == "inferop":
        return InferopPolicy(), config
    if target is None:
        raise ValueError(f"policy {name!r} needs a target")
    if name == "static":
        config = replace(config, initial_replicas=config.clamp(int(target)))
    return make_baseline(name, target), config


class Runner:
    """Runs tasks inline or in a pool of ``jobs`` worker processes."""

    def __init__(self, trace: Trace, profile: ServiceProfile, config: RunConfig, jobs: int = 1) -> None:
        _SHARED.update(trace=trace, profile=profile, config=config)
        self.jobs = jobs
        self.pool: Any = None
        if jobs > 1:
            self.pool = multiprocessing.get_context("fork").Pool(jobs)

    def map(self, tasks: Sequence[tuple[str, float | None, bool]]) -> list[RunResult]:
        if self.pool is not None and len(tasks) > 1:
            return list(self.pool.map(_run_one, tasks, chunksize=1))
        return [_run_one(t) for t in tasks]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None


def _round(name: str, value: float) -> float:
    return float(round(value))


def tune(names: Sequence[str], runner: Runner, config: RunConfig, progress: Callable[[str], None]) -> dict[str, Sweep]:
    """Sweep every baseline in ``names`` (see the module docstring)."""
    sweeps = {name: Sweep(name) for name in names}
    goal = config.goal
    # 1. Coarse grids (static: bisection, below).
    tasks = [(name, value, False) for name in names if name != "static" for value in grid(name, config)]
    for (name, value, _), result in zip(tasks, runner.map(tasks), strict=True):
        sweeps[name].tried[value] = result
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
        cheaper = [v for v in values if v > best]
        if cheaper:
            brackets[name] = (best, cheaper[0])
    steps = {name: (REFINE_STEPS if name != "static" else 12) for name in brackets}
    while brackets:
        tasks = []
        for name, (good, bad) in brackets.items():
            middle = _round(name, (good + bad) / 2)
            if middle in (good, bad) or steps[name] <= 0:
                continue
            if middle in sweeps[name].tried:
                continue
            tasks.append((name, middle, False))
        if not tasks:
            break
        for (name, value, _), result in zip(tasks, runner.map(tasks), strict=True):
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
                sweep.tried[top] = runner.map([(name, top, False)])[0]
        sweep.best = sweep.choose(goal)
        progress(
            f"{name}: tried {len(sweep.tried)} settings, kept {sweep.best.target:g} "
            f"({sweep.best.gpu_hours:.2f} GPU-h, attainment {sweep.best.slo_attainment:.4f})"
        )
    return sweeps


@dataclass
class Comparison:
    results: list[RunResult]
    sweeps: dict[str, Sweep]
    initial_replicas: int


def compare(
    trace: Trace,
    profile: ServiceProfile,
    config: RunConfig,
    baselines: Sequence[str],
    *,
    jobs: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> Comparison:
    """``inferop``, ``oracle`` and every baseline (tuned), in that order, with timelines."""
    initial = config.clamp(first_interval_replicas(trace, profile, config))
    config = replace(config, initial_replicas=initial)
    progress(f"{len(trace)} requests over {trace.duration:g} s; every policy starts with {initial} Ready replicas")
    runner = Runner(trace, profile, config, jobs)
    try:
        ours = runner.map([("inferop", None, True)])[0]
        progress(f"inferop: {ours.gpu_hours:.2f} GPU-h, attainment {ours.slo_attainment:.4f}")
        best = oracle(trace, profile, config)
        progress(f"oracle: {best.gpu_hours:.2f} GPU-h, attainment {best.slo_attainment:.4f}")
        sweeps = tune(baselines, runner, config, progress)
        finals = runner.map([(name, sweeps[name].best.target, True) for name in baselines])  # type: ignore[union-attr]
    finally:
        runner.close()
    return Comparison([ours, best, *finals], sweeps, initial)
