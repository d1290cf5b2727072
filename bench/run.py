"""``make bench``: inferop vs tuned HPA, KEDA, KPA and static provisioning on every shared trace.

For every CSV in ``<repo>/../shared/data/traces`` (or ``--traces DIR``) this runs

    inferop simulate --trace FILE --slo-ms SLO --percentile 95 --compare hpa,keda,kpa,static \
        --seed 0 [--rate-scale X --duration S] --out bench/results/<variant> --jobs N

(through ``python -m inferop.sim.cli``, the same code), then the what-if variants of
``bench/whatif.py``, and writes ``bench/results/README.md``: the command lines, the machine, the SLO
chosen per trace and why, and per trace the two ratios (inferop / best tuned baseline, inferop /
oracle, in GPU-hours) with the goals they are held to.

Variants, by a fixed rule (no per-trace choice):

- a request trace (``arrival_s,...``) as recorded, and at rate x8 (eight shifted copies: the same
  users' behaviour at a deployment size where autoscaling has room to work);
- a rate trace (``category_model,...``): its first 24 hours (one daily cycle), the rate scaled to a
  mean of about 20 requests/s (thinning; a pure-Python replay of 17 M requests/day would not fit the
  bench's time budget).

The SLO: 1.5 x the p95 of the requests' isolated e2e latency (each alone on an idle replica of the
profile), rounded up to the next bucket bound of vLLM's e2e histogram. 1.5x leaves room for
batching and queueing; a bucket bound because a percentile read from a histogram is exact only at a
bound (between bounds Prometheus interpolates).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from inferop.sim.cli import default_autoscaling, run_config  # noqa: E402
from inferop.sim.engine import E2E_BUCKETS  # noqa: E402
from inferop.sim.oracle import first_interval_replicas  # noqa: E402
from inferop.sim.profile import DEFAULT_PROFILE, load_profile  # noqa: E402
from inferop.sim.run import percentile_of, run  # noqa: E402
from inferop.sim.trace import RATE_HEADER, REQUEST_HEADER, Trace, load_trace, rate_windows  # noqa: E402

SEED = 0
PERCENTILE = 95
SLO_FACTOR = 1.5
REQUEST_TRACE_SCALE = 8.0
RATE_TRACE_TARGET_RPS = 20.0
RATE_TRACE_HOURS = 24
GOAL_VS_BASELINE = 0.75
GOAL_VS_ORACLE = 1.25


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    kind: str
    rate_scale: float = 1.0
    duration: float | None = None

    def load(self) -> Trace:
        return load_trace(self.path, seed=SEED, rate_scale=self.rate_scale, duration=self.duration)


def _kind(path: Path) -> str | None:
    with path.open(newline="") as handle:
        header = [h.strip() for h in next(csv.reader(handle), [])]
    if tuple(header[:3]) == REQUEST_HEADER:
        return "requests"
    if tuple(header[: len(RATE_HEADER)]) == RATE_HEADER:
        return "rate"
    return None


def _two_digits(value: float) -> float:
    digits = 1 - math.floor(math.log10(value))
    return round(value, digits)


def variants(directory: Path) -> list[Variant]:
    out: list[Variant] = []
    for path in sorted(directory.glob("*.csv")):
        kind = _kind(path)
        if kind == "requests":
            out.append(Variant(path.stem, path, kind))
            out.append(Variant(f"{path.stem}-x{REQUEST_TRACE_SCALE:g}", path, kind, rate_scale=REQUEST_TRACE_SCALE))
        elif kind == "rate":
            recorded = rate_windows(path)
            total = recorded[-1].start + recorded[-1].length
            seconds = min(RATE_TRACE_HOURS * 3600.0, total)
            windows = [w for w in recorded if w.start < seconds]
            mean = sum(w.rate * min(w.length, seconds - w.start) for w in windows) / seconds
            scale = min(1.0, _two_digits(RATE_TRACE_TARGET_RPS / mean)) if mean > 0 else 1.0
            name = f"{path.stem}-{RATE_TRACE_HOURS}h" if seconds < total else path.stem
            out.append(Variant(name, path, kind, rate_scale=scale, duration=seconds))
    return out


def slo_ms(trace: Trace, profile_name: str) -> tuple[int, float]:
    """(SLO in ms, isolated p95 in s) by the rule of the module docstring."""
    profile = load_profile(profile_name)
    isolated = [profile.isolated_latency(i, o)[1] for i, o in zip(trace.input_tokens, trace.output_tokens, strict=True)]
    p95 = percentile_of(isolated, PERCENTILE / 100)
    wanted = SLO_FACTOR * p95
    index = bisect.bisect_left(E2E_BUCKETS, wanted)
    return int(round(E2E_BUCKETS[min(index, len(E2E_BUCKETS) - 1)] * 1000)), p95


def simulate(variant: Variant, slo: int, out: Path, jobs: int) -> tuple[list[str], float]:
    trace = os.path.relpath(variant.path, REPO)
    argv = ["--trace", trace, "--slo-ms", str(slo), "--percentile", str(PERCENTILE)]
    argv += ["--compare", "hpa,keda,kpa,static", "--seed", str(SEED)]
    if variant.rate_scale != 1:
        argv += ["--rate-scale", f"{variant.rate_scale:g}"]
    if variant.duration is not None:
        argv += ["--duration", f"{variant.duration:g}"]
    argv += ["--out", os.path.relpath(out, REPO), "--jobs", str(jobs)]
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "inferop.sim.cli", *argv], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return argv, time.monotonic() - started


# -- what-ifs ------------------------------------------------------------------------------------


def _whatif(task: tuple[Variant, int, str]) -> tuple[str, str, dict[str, float]]:
    from whatif import VARIANTS  # bench/whatif.py

    variant, slo, name = task
    factory, cost_policy = VARIANTS[name]
    trace = variant.load()
    profile = load_profile(DEFAULT_PROFILE)
    config = run_config(float(slo), PERCENTILE, default_autoscaling(slo, PERCENTILE), cost_policy)
    config = replace(config, initial_replicas=config.clamp(first_interval_replicas(trace, profile, config)))
    result = run(trace, profile, factory(), config, record=False)
    return variant.name, name, {"gpu_hours": result.gpu_hours, "slo_attainment": result.slo_attainment}


def whatifs(plan: list[tuple[Variant, int]], jobs: int) -> dict[str, dict[str, dict[str, float]]]:
    from whatif import VARIANTS

    tasks = [(variant, slo, name) for variant, slo in plan for name in VARIANTS]
    # The longest traces first, so the two workers finish together.
    tasks.sort(key=lambda t: -(t[0].duration or 0))
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        done = pool.map(_whatif, tasks, chunksize=1)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for variant_name, name, numbers in done:
        out.setdefault(variant_name, {})[name] = numbers
    return out


# -- report --------------------------------------------------------------------------------------


def _machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"- nproc: {os.cpu_count()} ({cpu})",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}",
    ]


def _ratio(value: float | None, goal: float) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {'(met)' if value <= goal else '(missed)'}"


def report(rows: list[dict[str, Any]], whatif: dict[str, dict[str, dict[str, float]]], jobs: int, total: float) -> str:
    from whatif import VARIANTS

    lines = [
        "# Benchmark: inferop's cost controller vs the autoscalers users run today",
        "",
        "Generated by `make bench` (`bench/run.py`); do not edit by hand. Method: `docs/simulate.md`.",
        "Each baseline's target was tuned per trace (a sweep) to its cheapest setting meeting the SLO attainment",
        "goal; inferop ran once with the default CostPolicy. Ratios are GPU-hours; goals: inferop / best tuned",
        f"baseline <= {GOAL_VS_BASELINE}, inferop / oracle <= {GOAL_VS_ORACLE}, and inferop itself meeting the goal.",
        "",
        "## Machine",
        "",
        *_machine(),
        f"- worker processes: {jobs}; total wall time {total / 60:.1f} min",
        "",
        "## Traces and SLOs",
        "",
        "Traces from `../shared/data/traces/` (Azure LLM inference trace 2023, CC-BY-4.0; ServeGen, Apache-2.0).",
        f"SLO rule (the same for every trace): p{PERCENTILE} e2e latency <= {SLO_FACTOR:g} x the p{PERCENTILE} of the",
        "requests' isolated latency (each alone on an idle replica of `llama-8b-h100`), rounded up to the next",
        "bucket bound of vLLM's e2e histogram, so that the SLO line itself is measured exactly.",
        "",
        "| trace | scaling | requests | isolated p95 | SLO | why |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['scaling']} | {row['requests']:,} | {row['isolated_p95']:.2f} s | "
            f"{row['slo'] / 1000:g} s | {SLO_FACTOR:g} x {row['isolated_p95']:.2f} s = "
            f"{SLO_FACTOR * row['isolated_p95']:.2f} s, next bucket bound {row['slo'] / 1000:g} s |"
        )
    lines += [
        "",
        "## Results",
        "",
        "| trace | inferop GPU-h | attainment | best tuned baseline | its GPU-h | oracle GPU-h | "
        "inferop / baseline | inferop / oracle | inferop meets SLO goal |",
        "|---|---:|---:|---|---:|---:|---:|---:|:-:|",
    ]
    for row in rows:
        s = row["summary"]
        ours, oracle = s["inferop"], s["oracle"]
        best = row["best"]
        lines.append(
            f"| [{row['name']}]({row['name']}/summary.md) | {ours['gpu_hours']:.2f} | {ours['slo_attainment']:.4f} | "
            f"{best['policy'] + ' (' + format(best['tuned_target'], 'g') + ')' if best else 'none'} | "
            f"{best['gpu_hours'] if best else float('nan'):.2f} | {oracle['gpu_hours']:.2f} | "
            f"{_ratio(row['vs_baseline'], GOAL_VS_BASELINE)} | {_ratio(row['vs_oracle'], GOAL_VS_ORACLE)} | "
            f"{'yes' if ours['slo_attainment'] >= PERCENTILE / 100 else 'no'} |"
        )
    lines += [
        "",
        "Every policy, per trace (GPU-hours / SLO attainment; `-` = missed the attainment goal):",
        "",
    ]
    names = ["inferop", "oracle", "hpa", "keda-latency", "keda-queue", "kpa", "static"]
    lines += ["| trace | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row in rows:
        cells = []
        for name in names:
            r = row["summary"].get(name)
            if r is None:
                cells.append("")
                continue
            mark = "" if r["slo_attainment"] >= PERCENTILE / 100 else " -"
            cells.append(f"{r['gpu_hours']:.1f} / {r['slo_attainment']:.3f}{mark}")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## What-ifs (not the shipped controller)",
        "",
        "`bench/whatif.py`: the same replay with other CostPolicy values (through the real decide()), or with",
        "one of decide()'s rules changed or taken out (`no-attainment`, `no-up-cap`, `no-settle`, `no-blind-line`,",
        "`up-factor-2`, `no-backlog-settle`, `no-proven`). Each cell:",
        "GPU-hours / attainment, then the ratio to the best tuned baseline and to the oracle.",
        "",
        "| trace | " + " | ".join(VARIANTS) + " |",
        "|---|" + "---|" * len(VARIANTS),
    ]
    for row in rows:
        cells = []
        for name in VARIANTS:
            numbers = whatif.get(row["name"], {}).get(name)
            if numbers is None:
                cells.append("")
                continue
            best = row["best"]
            vs_best = numbers["gpu_hours"] / best["gpu_hours"] if best else math.nan
            vs_oracle = numbers["gpu_hours"] / row["summary"]["oracle"]["gpu_hours"]
            mark = "" if numbers["slo_attainment"] >= PERCENTILE / 100 else " (SLO missed)"
            cells.append(
                f"{numbers['gpu_hours']:.1f} / {numbers['slo_attainment']:.3f}{mark}; {vs_best:.2f}x, {vs_oracle:.2f}x"
            )
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += ["", "## Commands", ""]
    for row in rows:
        lines.append(f"- `inferop simulate {shlex.join(row['argv'])}` ({row['seconds']:.0f} s)")
    analysis = REPO / "bench" / "analysis.md"
    if analysis.exists():
        lines += ["", analysis.read_text().rstrip()]
    return "\n".join(lines) + "\n"


RUN_KEYS = ("name", "scaling", "requests", "isolated_p95", "slo", "argv", "seconds")


def _row(run_info: dict[str, Any], out: Path) -> dict[str, Any]:
    summary = {r["policy"]: r for r in json.loads((out / run_info["name"] / "summary.json").read_text())}
    baselines = [
        r for n, r in summary.items() if n not in ("inferop", "oracle") and r["slo_attainment"] >= PERCENTILE / 100
    ]
    best = min(baselines, key=lambda r: r["gpu_hours"]) if baselines else None
    ours = summary["inferop"]
    return {
        **run_info,
        "summary": summary,
        "best": best,
        "vs_baseline": ours["gpu_hours"] / best["gpu_hours"] if best else None,
        "vs_oracle": ours["gpu_hours"] / summary["oracle"]["gpu_hours"],
    }


def rewrite_report(out: Path) -> int:
    runs = json.loads((out / "runs.json").read_text())
    whatif = json.loads((out / "whatif.json").read_text())
    rows = [_row(r, out) for r in runs["runs"]]
    (out / "README.md").write_text(report(rows, whatif, runs["jobs"], runs["total_seconds"]))
    print(f"wrote {out / 'README.md'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traces", type=Path, default=None, help="trace directory (default ../shared/data/traces)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite README.md from the results already in --out"
    )
    args = parser.parse_args()
    if args.report_only:
        return rewrite_report(args.out)
    directory = args.traces
    if directory is None:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, cwd=REPO)
        root = Path(top.stdout.strip()) if top.returncode == 0 else REPO
        directory = root.parent / "shared" / "data" / "traces"
    started = time.monotonic()
    plan = variants(directory)
    if args.only:
        wanted = set(args.only.split(","))
        plan = [v for v in plan if v.name in wanted]
    if not plan:
        print(f"no traces found in {directory}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    slos: list[tuple[Variant, int]] = []
    for variant in plan:
        trace = variant.load()
        slo, isolated = slo_ms(trace, DEFAULT_PROFILE)
        print(f"{variant.name}: {len(trace):,} requests, SLO {slo} ms (isolated p95 {isolated:.2f} s)", flush=True)
        out = args.out / variant.name
        argv, seconds = simulate(variant, slo, out, args.jobs)
        info = {
            "name": variant.name,
            "scaling": trace.scaling,
            "requests": len(trace),
            "isolated_p95": isolated,
            "slo": slo,
            "argv": argv,
            "seconds": seconds,
        }
        rows.append(_row(info, args.out))
        vs_baseline = rows[-1]["vs_baseline"]
        print(
            f"  done in {seconds:.0f} s: inferop / best baseline "
            f"{vs_baseline if vs_baseline is not None else float('nan'):.2f}, "
            f"inferop / oracle {rows[-1]['vs_oracle']:.2f}",
            flush=True,
        )
        slos.append((variant, slo))
    print("what-ifs ...", flush=True)
    whatif = whatifs(slos, args.jobs)
    (args.out / "whatif.json").write_text(json.dumps(whatif, indent=2, sort_keys=True) + "\n")
    total = time.monotonic() - started
    runs = {
        "jobs": args.jobs,
        "total_seconds": total,
        "runs": [{k: v for k, v in r.items() if k in RUN_KEYS} for r in rows],
    }
    (args.out / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    (args.out / "README.md").write_text(report(rows, whatif, args.jobs, total))
    print(f"wrote {args.out / 'README.md'} ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
