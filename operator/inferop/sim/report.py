"""Write a comparison to ``--out DIR``: summary.json, summary.md, sweep.json and one PNG per policy.

What this module is for: the only file output of ``inferop simulate``.

- ``summary.json``: a list with one object per policy and exactly the keys of :data:`SUMMARY_KEYS`.
- ``summary.md``: the same as a table, with the trace, its scaling, the SLO, the profile and the
  two ratios (ours / best tuned baseline, ours / oracle) in GPU-hours.
- ``sweep.json``: every baseline setting tried and its result (how each ``tuned_target`` was found).
- ``<policy>.png``: replicas over time, the observed latency percentile against the SLO, cumulative
  cost. Plotting needs matplotlib (imported here only).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferop.sim.compare import Comparison
from inferop.sim.run import RunConfig, RunResult

SUMMARY_KEYS = (
    "policy",
    "tuned_target",
    "gpu_hours",
    "cost_usd",
    "slo_attainment",
    "p95_ms",
    "p99_ms",
    "scale_events",
    "trace",
    "seed",
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


def _number(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def summary_rows(results: Sequence[RunResult], info: ReportInfo) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        rows.append(
            {
                "policy": r.policy,
                "tuned_target": r.target,
                "gpu_hours": round(r.gpu_hours, 4),
                "cost_usd": round(r.cost_usd, 2),
                "slo_attainment": round(r.slo_attainment, 5),
                "p95_ms": _number(r.p95_ms, 1),
                "p99_ms": _number(r.p99_ms, 1),
                "scale_events": r.scale_events,
                "trace": info.trace,
                "seed": info.seed,
            }
        )
    return rows


def ratios(results: Sequence[RunResult], goal: float) -> dict[str, Any]:
    """Ours / best tuned baseline that meets the goal, and ours / oracle, in GPU-hours."""
    by_name = {r.policy: r for r in results}
    ours, best_oracle = by_name.get("inferop"), by_name.get("oracle")
    baselines = [r for r in results if r.policy not in ("inferop", "oracle") and r.meets(goal)]
    best = min(baselines, key=lambda r: r.gpu_hours) if baselines else None
    out: dict[str, Any] = {"best_baseline": best.policy if best else None}
    out["vs_best_baseline"] = ours.gpu_hours / best.gpu_hours if ours and best else None
    out["vs_oracle"] = ours.gpu_hours / best_oracle.gpu_hours if ours and best_oracle else None
    out["inferop_meets_goal"] = bool(ours and ours.meets(goal))
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def summary_markdown(results: Sequence[RunResult], info: ReportInfo, config: RunConfig, initial: int) -> str:
    goal = config.goal
    r = ratios(results, goal)
    lines = [
        f"# inferop simulate: {info.trace}",
        "",
        f"- Trace: `{info.trace}`, {info.requests:,} requests over {info.duration:,.0f} s ({info.scaling}), "
        f"seed {info.seed}",
        f"- SLO: p{config.percentile} {config.autoscaling.slo.latency.metric if config.autoscaling.slo else 'e2e'} "
        f"latency <= {config.slo_ms:g} ms; goal: at least {goal:.0%} of all requests within {config.slo_ms:g} ms",
        f"- Service model: profile `{info.profile}`; replicas {config.min_replicas}..{config.max_replicas}, "
        f"every policy starts with {initial} Ready",
        f"- Command: `{info.command}`",
        "",
        "| policy | tuned target | GPU-hours | cost (USD) | SLO attainment | meets goal | p95 ms | p99 ms "
        "| scale events |",
        "|---|---:|---:|---:|---:|:-:|---:|---:|---:|",
    ]
    for res in results:
        lines.append(
            f"| {res.policy} | {_fmt(res.target, 0) if res.target is not None else '-'} | {res.gpu_hours:,.2f} | "
            f"{res.cost_usd:,.2f} | {res.slo_attainment:.4f} | {'yes' if res.meets(goal) else 'no'} | "
            f"{_fmt(res.p95_ms, 0)} | {_fmt(res.p99_ms, 0)} | {res.scale_events} |"
        )
    lines += [
        "",
        f"- inferop GPU-hours / best tuned baseline that meets the goal ({r['best_baseline'] or 'none'}): "
        f"**{_fmt(r['vs_best_baseline'])}** (goal <= 0.75)",
        f"- inferop GPU-hours / oracle: **{_fmt(r['vs_oracle'])}** (goal <= 1.25)",
        f"- inferop meets the SLO attainment goal: **{'yes' if r['inferop_meets_goal'] else 'no'}**",
        "",
        "Tuned target units: hpa = GPU utilization %, keda-latency = latency threshold ms, keda-queue = "
        "waiting requests per replica, kpa = concurrency per pod (before Knative's 70%), static = replicas.",
        "",
    ]
    return "\n".join(lines)


def sweep_json(comparison: Comparison) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sweep in comparison.sweeps.items():
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
    ax3.set_ylabel("cumulative cost (USD)")
    ax3.set_xlabel("hours")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write(out: Path, comparison: Comparison, config: RunConfig, info: ReportInfo, *, plots: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rows = summary_rows(comparison.results, info)
    path = out / "summary.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    written.append(path)
    path = out / "summary.md"
    path.write_text(summary_markdown(comparison.results, info, config, comparison.initial_replicas))
    written.append(path)
    path = out / "sweep.json"
    path.write_text(json.dumps(sweep_json(comparison), indent=2) + "\n")
    written.append(path)
    if plots:
        for result in comparison.results:
            path = out / f"{result.policy}.png"
            target = f" (target {result.target:g})" if result.target is not None else ""
            title = (
                f"{info.trace}: {result.policy}{target}: {result.gpu_hours:.2f} GPU-h, "
                f"attainment {result.slo_attainment:.4f}"
            )
            plot(result, config, path, title)
            written.append(path)
    return written
