"""What a comparison reports: the rows of summary.json, summary.md, sweep.json. Pure.

What this module is for: the content of ``inferop simulate``'s output directory; writing it (and the
PNG plots, with matplotlib) is ``inferop.cli.simulate``'s.

- ``summary.json``: a list with one object per policy (a baseline once per tuning: ``tuned_on``) and
  seed (the sweep's seed first, then each rerun seed) and exactly the keys of :data:`SUMMARY_KEYS`.
- ``summary.md``: the same as a table, with the trace, its scaling, the burn-in, the SLO, the profile
  and inferop's ratios (in GPU-hours) to the oracle, the best baseline tuned on the past, the best
  tuned with hindsight and static tuned on the past; with rerun seeds, each as median and range.
- ``sweep.json``: per tuning, every baseline setting tried and its result (how each ``tuned_target``
  was found).
- ``<policy>.png`` (``<policy>-<tuned_on>.png`` for a baseline): replicas over time, the observed
  latency percentile against the SLO, cumulative cost of the scored period (drawn by the CLI).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inferop.sim.compare import Comparison, Sweep
from inferop.sim.run import RunConfig, RunResult

SUMMARY_KEYS = (
    "policy",
    "tuned_target",
    "tuned_on",
    "gpu_hours",
    "cost_usd",
    "slo_attainment",
    "p95_ms",
    "p99_ms",
    "scale_events",
    "trace",
    "seed",
    "warmup_s",
    "scored_s",
)
#: The ratios of inferop's GPU-hours that summary.md reports (key, what it is divided by).
RATIOS = (
    ("vs_oracle", "the oracle"),
    ("vs_best_past", "the best baseline tuned on the past"),
    ("vs_best_scored", "the best baseline tuned with hindsight"),
    ("vs_static_past", "static tuned on the past"),
)


@dataclass(frozen=True)
class ReportInfo:
    trace: str
    seed: int
    scaling: str
    requests: int
    duration: float
    profile: str
    command: str
    #: Seconds of burn-in; the scored period is the rest of ``duration``.
    warmup: float = 0.0

    @property
    def scored(self) -> float:
        return self.duration - self.warmup


def _number(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def summary_rows(results: Sequence[RunResult], info: ReportInfo, seed: int | None = None) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        rows.append(
            {
                "policy": r.policy,
                "tuned_target": r.target,
                "tuned_on": r.tuned_on,
                "gpu_hours": round(r.gpu_hours, 4),
                "cost_usd": round(r.cost_usd, 2),
                "slo_attainment": round(r.slo_attainment, 5),
                "p95_ms": _number(r.p95_ms, 1),
                "p99_ms": _number(r.p99_ms, 1),
                "scale_events": r.scale_events,
                "trace": info.trace,
                "seed": info.seed if seed is None else seed,
                "warmup_s": info.warmup,
                "scored_s": info.scored,
            }
        )
    return rows


def _best(results: Sequence[RunResult], goal: float, tuned_on: str) -> RunResult | None:
    """The baseline with the fewest GPU-hours among those tuned on ``tuned_on`` that meet the goal."""
    met = [r for r in results if r.tuned_on == tuned_on and r.meets(goal)]
    return min(met, key=lambda r: r.gpu_hours) if met else None


def ratios(results: Sequence[RunResult], goal: float) -> dict[str, Any]:
    """inferop's GPU-hours over each of :data:`RATIOS` (None when that row is missing or misses the goal)."""
    by_name = {(r.policy, r.tuned_on): r for r in results}
    ours, best_oracle = by_name.get(("inferop", None)), by_name.get(("oracle", None))
    static = by_name.get(("static", "past"))
    others = {
        "vs_oracle": best_oracle,
        "vs_best_past": _best(results, goal, "past"),
        "vs_best_scored": _best(results, goal, "scored"),
        "vs_static_past": static if static is not None and static.meets(goal) else None,
    }
    out: dict[str, Any] = {}
    for key, other in others.items():
        out[key] = ours.gpu_hours / other.gpu_hours if ours and other and other.gpu_hours > 0 else None
    out["best_past"] = _label(others["vs_best_past"])
    out["best_scored"] = _label(others["vs_best_scored"])
    out["inferop_meets_goal"] = bool(ours and ours.meets(goal))
    return out


def _label(result: RunResult | None) -> str | None:
    return None if result is None else f"{result.policy} ({result.target:g})"


def spread(values: Sequence[float | None]) -> tuple[float, float, float] | None:
    """(median, min, max) of the values, None when any is missing (a ratio undefined for some seed)."""
    if not values or any(v is None for v in values):
        return None
    known = sorted(v for v in values if v is not None)
    return statistics.median(known), known[0], known[-1]


def seed_ratios(comparison: Comparison, goal: float) -> dict[str, tuple[float, float, float] | None]:
    """Each ratio of :data:`RATIOS` as (median, min, max) over the sweep's seed and the rerun seeds."""
    per_seed = [ratios(comparison.results, goal)]
    per_seed += [ratios(rows, goal) for _, rows in sorted(comparison.reruns.items())]
    return {key: spread([r[key] for r in per_seed]) for key, _ in RATIOS}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def summary_markdown(
    results: Sequence[RunResult],
    info: ReportInfo,
    config: RunConfig,
    initial: int,
    spreads: dict[str, tuple[float, float, float] | None] | None = None,
    reruns: Sequence[int] = (),
) -> str:
    goal = config.goal
    r = ratios(results, goal)
    lines = [
        f"# inferop simulate: {info.trace}",
        "",
        f"- Trace: `{info.trace}`, {info.requests:,} requests over {info.duration:,.0f} s ({info.scaling}), "
        f"seed {info.seed}",
        f"- Protocol: the first {info.warmup:,.0f} s are an unscored burn-in; the scored period is the "
        f"{info.scored:,.0f} s after it (its requests, the pod time inside it and its scale events); a baseline "
        "tuned on `past` was swept on the burn-in alone, on `scored` with hindsight on the scored period",
        f"- SLO: p{config.percentile} {config.autoscaling.slo.latency.metric if config.autoscaling.slo else 'e2e'} "
        f"latency <= {config.slo_ms:g} ms; goal: at least {goal:.0%} of all requests within {config.slo_ms:g} ms",
        f"- Service model: profile `{info.profile}`; replicas {config.min_replicas}..{config.max_replicas}, "
        f"every policy starts with {initial} Ready",
        f"- Command: `{info.command}`",
        "",
        "| policy | tuned on | tuned target | GPU-hours | cost (USD) | SLO attainment | meets goal | p95 ms "
        "| p99 ms | scale events |",
        "|---|---|---:|---:|---:|---:|:-:|---:|---:|---:|",
    ]
    for res in results:
        lines.append(
            f"| {res.policy} | {res.tuned_on or '-'} | "
            f"{_fmt(res.target, 0) if res.target is not None else '-'} | {res.gpu_hours:,.2f} | "
            f"{res.cost_usd:,.2f} | {res.slo_attainment:.4f} | {'yes' if res.meets(goal) else 'no'} | "
            f"{_fmt(res.p95_ms, 0)} | {_fmt(res.p99_ms, 0)} | {res.scale_events} |"
        )
    names = {"vs_best_past": r["best_past"], "vs_best_scored": r["best_scored"]}
    lines += ["", f"inferop's GPU-hours over (seed {info.seed}; a baseline counts only when it meets the goal):", ""]
    for key, what in RATIOS:
        which = f" ({names[key] or 'none meets the goal'})" if key in names else ""
        lines.append(f"- {what}{which}: **{_fmt(r[key])}**")
    lines.append(f"- inferop meets the SLO attainment goal: **{'yes' if r['inferop_meets_goal'] else 'no'}**")
    if spreads is not None:
        seeds = ", ".join(str(s) for s in [info.seed, *reruns])
        lines += ["", f"Over seeds {seeds} (median, range; the rerun seeds keep the settings tuned here):", ""]
        for key, what in RATIOS:
            value = spreads.get(key)
            text = "-" if value is None else f"{value[0]:.2f} ({value[1]:.2f}-{value[2]:.2f})"
            lines.append(f"- inferop / {what}: **{text}**")
    lines += [
        "",
        "Tuned target units: hpa = GPU utilization %, keda-latency = latency threshold ms, keda-queue = "
        "waiting requests per replica, kpa = concurrency per pod (before Knative's 70%), static = replicas.",
        "",
    ]
    return "\n".join(lines)


def sweep_json(comparison: Comparison) -> dict[str, Any]:
    return {tuning: _sweeps(sweeps) for tuning, sweeps in comparison.sweeps.items()}


def _sweeps(sweeps: dict[str, Sweep]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sweep in sweeps.items():
        out[name] = {
            "kept": sweep.best.target if sweep.best else None,
            "tried": [
                {
                    "target": value,
                    "gpu_hours": round(res.gpu_hours, 4),
                    "slo_attainment": round(res.slo_attainment, 5),
                    "p95_ms": _number(res.p95_ms, 1),
                }
                for value, res in sorted(sweep.tried.items())
            ],
        }
    return out
