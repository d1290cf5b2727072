"""Write a comparison to ``--out DIR``: summary.json, summary.md, sweep.json and one PNG per policy.

What this module is for: the only file output of ``inferop simulate``.

- ``summary.json``: a list with one object per policy (a baseline once per tuning: ``tuned_on``) and
  seed (the sweep's seed first, then each rerun seed) and exactly the keys of :data:`SUMMARY_KEYS`.
- ``summary.md``: the same as a table, with the trace, its scaling, the burn-in, the SLO, the profile
  and inferop's ratios (in GPU-hours) to the oracle, the best baseline tuned on the past, the best
  tuned with hindsight and static tuned on the past; with rerun seeds, each as median and range.
- ``sweep.json``: per tuning, every baseline setting tried and its result (how each ``tuned_target``
  was found).
- ``<policy>.png`` (``<policy>-<tuned_on>.png`` for a baseline): replicas over time, the observed
  latency percentile against the SLO, cumulative cost of the scored period. Plotting needs
  matplotlib (imported here only).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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


def plot(result: RunResult, config: RunConfig, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result.timeline
    hours = [p.t / 3600 for p in points]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax1.step(hours, [p.replicas for p in points], where="post", label="replicas")
    if result.policy != "oracle":
        ax1.step(hours, [p.ready for p in points], where="post", label="ready", alpha=0.7)
    ax1.set_ylabel("replicas")
    if config.warmup > 0:
        for ax in (ax1, ax2, ax3):
            ax.axvline(config.warmup / 3600, color="grey", ls=":", label=None)
        ax1.text(config.warmup / 3600, 0.02, " scored from here", transform=ax1.get_xaxis_transform(), color="grey")
    ax1.legend(loc="upper right")
    observed = [(h, p.observed_ms) for h, p in zip(hours, points, strict=True) if p.observed_ms is not None]
    if observed:
        ax2.plot([h for h, _ in observed], [v for _, v in observed], lw=0.8, label=f"observed p{config.percentile}")
    ax2.axhline(config.slo_ms, color="red", ls="--", label=f"SLO {config.slo_ms:g} ms")
    ax2.set_ylabel("ms")
    ax2.set_yscale("log")
    ax2.legend(loc="upper right")
    if result.policy == "oracle":
        ax2.text(0.01, 0.85, "the oracle observes nothing: it knows the trace", transform=ax2.transAxes)
    price = result.cost_usd / result.gpu_hours if result.gpu_hours else 0.0
    ax3.plot(hours, [p.gpu_hours * price for p in points])
    ax3.set_ylabel("cumulative cost, scored (USD)")
    ax3.set_xlabel("hours")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write(out: Path, comparison: Comparison, config: RunConfig, info: ReportInfo, *, plots: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rows = summary_rows(comparison.results, info)
    for seed, results in sorted(comparison.reruns.items()):
        rows += summary_rows(results, info, seed)
    path = out / "summary.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    written.append(path)
    path = out / "summary.md"
    spreads = seed_ratios(comparison, config.goal) if comparison.reruns else None
    markdown = summary_markdown(
        comparison.results, info, config, comparison.initial_replicas, spreads, sorted(comparison.reruns)
    )
    path.write_text(markdown)
    written.append(path)
    path = out / "sweep.json"
    path.write_text(json.dumps(sweep_json(comparison), indent=2) + "\n")
    written.append(path)
    if plots:
        for result in comparison.results:
            path = out / (f"{result.policy}-{result.tuned_on}.png" if result.tuned_on else f"{result.policy}.png")
            target = f" (target {result.target:g}, tuned on {result.tuned_on})" if result.target is not None else ""
            title = (
                f"{info.trace}: {result.policy}{target}: {result.gpu_hours:.2f} GPU-h, "
                f"attainment {result.slo_attainment:.4f}"
            )
            plot(result, config, path, title)
            written.append(path)
    return written
