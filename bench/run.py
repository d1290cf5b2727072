"""``make bench``: inferop vs tuned HPA, KEDA, KPA and static provisioning on every shared trace.

For every CSV in ``<repo>/../shared/data/traces`` (or ``--traces DIR``) this runs

    inferop simulate --trace FILE --slo-ms SLO --percentile 95 --compare hpa,keda,kpa,static \
        --seed 0 --rerun-seeds 1,2 --warmup W --tune both [--rate-scale X --duration S] \
        --out bench/results/<variant> --jobs N

(through ``python -m inferop.cli simulate``, the same code), optionally (``--whatifs``, or
``--whatif NAMES`` for some) the what-if variants of ``bench/whatif.py``, and writes
``bench/results/README.md``: the command lines, the machine, the SLO chosen per trace and why, and
per trace inferop's GPU-hours and attainment and its ratios (GPU-hours) to the oracle, the best
baseline tuned on the past, the best baseline tuned with hindsight and static tuned on the past,
each as median and range over the three seeds; with what-ifs, their GPU-hours, attainment and ratio
to the learned-only run, and whether issue 14's capacity-prior goal holds.

``--only`` picks traces, ``--out`` another directory; ``--no-compare`` runs the what-ifs alone (no
comparison), merged into the directory's ``whatif.json``, e.g. the multi-day trace's prior variants:
``bench/run.py --only NAME --whatif prior:+30%,prior:-30% --no-compare --out DIR``.

The protocol (``docs/simulate.md``): every policy starts from the same state, runs an unscored
burn-in, and is scored on the period after it; each baseline is tuned on the burn-in (the past) and,
separately, on the scored period (hindsight).

Variants, by a fixed rule (no per-trace choice):

- a request trace (``arrival_s,...``) as recorded, and at rate x8 (eight shifted copies: the same
  users' behaviour at a deployment size where autoscaling has room to work), each with a 15-minute
  burn-in;
- a rate trace (``category_model,...``): its first ``--rate-days`` days (7), the first
  ``--rate-burn-in-days`` of them (3) the burn-in (the past), the rest scored; the rate scaled
  (thinning) so that the scored days' mean is ``--rate-rps`` requests/s (130). Issue 13 asks for
  a rate at which the oracle needs at least 15 replicas on average over the scored days: 130
  requests/s gives about 15.5 (``bench/analysis.md``). The per-request replay of that week is about
  85 M requests per seed; what makes it fit the 45-minute budget is in ``bench/analysis.md``.

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
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from inferop.cli.files import load_profile, load_trace, rate_windows  # noqa: E402
from inferop.sim.engine import E2E_BUCKETS  # noqa: E402
from inferop.sim.profile import DEFAULT_PROFILE  # noqa: E402
from inferop.sim.trace import RATE_HEADER, REQUEST_HEADER, Trace, Window  # noqa: E402

SEED = 0
PERCENTILE = 95
SLO_FACTOR = 1.5
RERUN_SEEDS = (1, 2)
REQUEST_TRACE_SCALE = 8.0
REQUEST_TRACE_WARMUP = 900.0
#: Rate traces: days replayed, days of burn-in, the scored days' mean requests/s after thinning.
RATE_TRACE_DAYS = 7
RATE_TRACE_BURN_IN_DAYS = 3
RATE_TRACE_TARGET_RPS = 130.0
DAY = 86400.0


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    kind: str
    rate_scale: float = 1.0
    duration: float | None = None
    warmup: float = REQUEST_TRACE_WARMUP

    def load(self, seed: int = SEED) -> Trace:
        return load_trace(self.path, seed=seed, rate_scale=self.rate_scale, duration=self.duration)


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


def _mean_rate(windows: list[Window], start: float, end: float) -> float:
    """The mean recorded rate (requests/s) over ``[start, end)``."""
    covered = sum(w.rate * max(0.0, min(w.start + w.length, end) - max(w.start, start)) for w in windows)
    return covered / (end - start)


def variants(
    directory: Path,
    days: int = RATE_TRACE_DAYS,
    burn_in_days: int = RATE_TRACE_BURN_IN_DAYS,
    rps: float = RATE_TRACE_TARGET_RPS,
) -> list[Variant]:
    out: list[Variant] = []
    for path in sorted(directory.glob("*.csv")):
        kind = _kind(path)
        if kind == "requests":
            out.append(Variant(path.stem, path, kind))
            out.append(Variant(f"{path.stem}-x{REQUEST_TRACE_SCALE:g}", path, kind, rate_scale=REQUEST_TRACE_SCALE))
        elif kind == "rate":
            recorded = rate_windows(path)
            total = recorded[-1].start + recorded[-1].length
            seconds = min(days * DAY, total)
            warmup = min(burn_in_days * DAY, seconds / 2)
            mean = _mean_rate(recorded, warmup, seconds)
            scale = min(1.0, _two_digits(rps / mean)) if mean > 0 else 1.0
            name = f"{path.stem}-{days}d" if seconds < total else path.stem
            out.append(Variant(name, path, kind, rate_scale=scale, duration=seconds, warmup=warmup))
    return out


def slo_ms(trace: Trace, profile_name: str) -> tuple[int, float]:
    """(SLO in ms, isolated p95 in s) by the rule of the module docstring.

    The isolated latencies are computed as arrays (a week of a rate trace is tens of millions of
    requests), each step the arithmetic of ``ServiceProfile.isolated_latency`` (float64, the same values),
    and the nearest-rank p95 selected, not sorted.
    """
    profile = load_profile(profile_name)
    it = profile.iteration
    inputs = numpy.asarray(trace.input_tokens, dtype=numpy.float64)
    prefill = inputs * profile.prefill.per_token_milliseconds
    prefill /= 1e3
    latency = numpy.asarray(trace.output_tokens, dtype=numpy.float64)
    context = latency / 2
    context += inputs  # input + output / 2
    del inputs
    context *= it.per_context_token_microseconds / 1e6
    context += it.base_milliseconds / 1e3 + it.per_sequence_milliseconds / 1e3 * 1  # one decode iteration
    numpy.maximum(latency, 1.0, out=latency)
    latency *= context
    latency += prefill  # prefill + max(1, output) x iteration
    del context, prefill
    rank = max(1, math.ceil(PERCENTILE / 100 * len(latency) - 1e-9))
    p95 = float(numpy.partition(latency, rank - 1)[rank - 1])
    wanted = SLO_FACTOR * p95
    index = bisect.bisect_left(E2E_BUCKETS, wanted)
    return int(round(E2E_BUCKETS[min(index, len(E2E_BUCKETS) - 1)] * 1000)), p95


def simulate(variant: Variant, slo: int, out: Path, jobs: int) -> tuple[list[str], float]:
    trace = os.path.relpath(variant.path, REPO)
    argv = ["--trace", trace, "--slo-ms", str(slo), "--percentile", str(PERCENTILE)]
    argv += ["--compare", "hpa,keda,kpa,static", "--seed", str(SEED)]
    argv += ["--rerun-seeds", ",".join(map(str, RERUN_SEEDS)), "--warmup", f"{variant.warmup:g}", "--tune", "both"]
    if variant.rate_scale != 1:
        argv += ["--rate-scale", f"{variant.rate_scale:g}"]
    if variant.duration is not None:
        argv += ["--duration", f"{variant.duration:g}"]
    argv += ["--out", os.path.relpath(out, REPO), "--jobs", str(jobs)]
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "inferop.cli", "simulate", *argv], check=True, cwd=REPO, stdout=subprocess.DEVNULL
    )
    return argv, time.monotonic() - started


# -- what-ifs ------------------------------------------------------------------------------------

#: trace -> what-if name -> its numbers (``whatif.replay``'s JSON-safe dict).
WhatIfs = dict[str, dict[str, dict[str, Any]]]


def whatif_names(selected: str = "") -> list[str]:
    """The what-if variants to run, in ``VARIANTS``' order: all, or the comma-separated ``selected``
    plus ``default`` when a prior variant is selected (its final capacity is their reference)."""
    from whatif import DEFAULT, VARIANTS  # bench/whatif.py

    if not selected:
        return list(VARIANTS)
    wanted = {name.strip() for name in selected.split(",") if name.strip()}
    unknown = sorted(wanted - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown what-if {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    if any(VARIANTS[name].needs_reference for name in wanted):
        wanted.add(DEFAULT)
    return [name for name in VARIANTS if name in wanted]


def _whatif(task: tuple[Variant, int, str, Any]) -> tuple[str, str, dict[str, Any]]:
    from whatif import replay

    variant, slo, name, reference = task
    trace, profile = variant.load(), load_profile(DEFAULT_PROFILE)
    numbers = replay(
        name, trace, profile, slo_ms=slo, percentile=PERCENTILE, warmup=variant.warmup, reference=reference
    )
    return variant.name, name, numbers


def whatifs(plan: list[tuple[Variant, int]], jobs: int, names: list[str] | None = None) -> WhatIfs:
    """Every what-if in ``names`` (default all) on every trace of ``plan``, in ``jobs`` processes.

    Two phases per trace: the variants that need no reference first (``default`` among them), then
    the prior variants, each queued as soon as its trace's ``default`` is done, with that run's final
    capacity estimate as the reference (none learned: the prior variants are skipped, and say so).
    """
    from whatif import DEFAULT, VARIANTS, Reference

    names = whatif_names() if names is None else names
    ready = [(v, slo, name, None) for v, slo in plan for name in names if not VARIANTS[name].needs_reference]
    waiting = {v.name: [(v, slo, name) for name in names if VARIANTS[name].needs_reference] for v, slo in plan}
    out: WhatIfs = {}
    running: set[Future[tuple[str, str, dict[str, Any]]]] = set()
    with ProcessPoolExecutor(max(1, jobs), mp_context=multiprocessing.get_context("fork")) as pool:
        while ready or running:
            # The longest traces first, so the workers finish together (a stable sort: default first).
            ready.sort(key=lambda task: -(task[0].duration or 0))
            while ready and len(running) < max(1, jobs):
                running.add(pool.submit(_whatif, ready.pop(0)))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                trace, name, numbers = future.result()
                out.setdefault(trace, {})[name] = numbers
                print(
                    f"  {trace} {name}: {numbers['gpu_hours']:.2f} GPU-h, attainment {numbers['slo_attainment']:.4f}",
                    flush=True,
                )
                if name != DEFAULT:
                    continue
                reference = Reference.of(numbers["capacity"])
                dependents = waiting.pop(trace, [])
                if reference is None and dependents:
                    print(f"  {trace}: {DEFAULT} learned no capacity, prior variants skipped", flush=True)
                    continue
                ready += [(v, slo, prior, reference) for v, slo, prior in dependents]
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


#: Each ratio of inferop's GPU-hours reported per trace: (key, column title).
RATIO_COLUMNS = (
    ("vs_oracle", "/ oracle"),
    ("vs_best_past", "/ best tuned on the past"),
    ("vs_best_scored", "/ best tuned with hindsight"),
    ("vs_static_past", "/ static tuned on the past"),
)
BASELINES = ("hpa", "keda-latency", "keda-queue", "kpa", "static")


def _meets(row: dict[str, Any]) -> bool:
    return bool(row["slo_attainment"] >= PERCENTILE / 100 - 1e-12)


def best_tuned(rows: list[dict[str, Any]], tuned_on: str) -> dict[str, Any] | None:
    """The cheapest baseline row tuned on ``tuned_on`` (``past`` or ``scored``) that meets the goal, of
    one seed's summary rows (None: none meets it)."""
    met = [r for r in rows if r["tuned_on"] == tuned_on and _meets(r)]
    return min(met, key=lambda r: r["gpu_hours"]) if met else None


def _ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """inferop's GPU-hours over the oracle, the best past-tuned and hindsight baselines, static past (one seed)."""
    by = {(r["policy"], r["tuned_on"]): r for r in rows}
    ours = by[("inferop", None)]
    static = by.get(("static", "past"))
    others = {
        "vs_oracle": by[("oracle", None)],
        "vs_best_past": best_tuned(rows, "past"),
        "vs_best_scored": best_tuned(rows, "scored"),
        "vs_static_past": static if static is not None and _meets(static) else None,
    }
    out: dict[str, Any] = {
        key: ours["gpu_hours"] / other["gpu_hours"] if other and other["gpu_hours"] > 0 else None
        for key, other in others.items()
    }
    for key in ("vs_best_past", "vs_best_scored"):
        other = others[key]
        out[key + "_name"] = f"{other['policy']} ({other['tuned_target']:g})" if other else None
    return out


MISSING = "no baseline meets the goal"


def _spread(values: list[float | None], missing: str = "no baseline meets the goal") -> str:
    if not values or any(v is None for v in values):
        return f"- ({missing})" if all(v is None for v in values) else f"- ({missing} on some seeds)"
    known = sorted(v for v in values if v is not None)
    median = known[len(known) // 2] if len(known) % 2 else (known[len(known) // 2 - 1] + known[len(known) // 2]) / 2
    return f"{median:.2f} ({known[0]:.2f}-{known[-1]:.2f})"


def report(rows: list[dict[str, Any]], whatif: WhatIfs, jobs: int, total: float) -> str:
    lines = [
        "# Benchmark: inferop's cost controller vs the autoscalers users run today",
        "",
        "Generated by `make bench` (`bench/run.py`); do not edit by hand. Method: `docs/simulate.md`.",
        "The protocol: every policy starts from the same state (the oracle's size for the first minute, Ready),",
        "runs an unscored burn-in and is scored on the period after it (its requests, the pod time inside it).",
        "inferop runs once with the default CostPolicy; each baseline is tuned twice by a sweep, on the past (the",
        "burn-in alone, as a user tunes on last week) and with hindsight (on the scored period itself). The oracle",
        "is clairvoyant but pays the cold start of every replica it adds. Ratios are inferop's GPU-hours over the",
        "other's, each a median (range) over seeds "
        f"{', '.join(map(str, (SEED, *RERUN_SEEDS)))}; a baseline counts only when it meets the attainment goal.",
        "No goal for the ratios is set here (issue 13); below 1 inferop is cheaper.",
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
        "| trace | scaling | requests | burn-in | scored | isolated p95 | SLO | why |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['scaling']} | {row['requests']:,} | {_duration(row['warmup'])} | "
            f"{_duration(row['scored'])} | {row['isolated_p95']:.2f} s | "
            f"{row['slo'] / 1000:g} s | {SLO_FACTOR:g} x {row['isolated_p95']:.2f} s = "
            f"{SLO_FACTOR * row['isolated_p95']:.2f} s, next bucket bound {row['slo'] / 1000:g} s |"
        )
    lines += [
        "",
        "## Results",
        "",
        "inferop's GPU-hours and SLO attainment (seed 0, scored period), and its ratios:",
        "",
        "| trace | inferop GPU-h | attainment | meets goal | "
        + " | ".join(title for _, title in RATIO_COLUMNS)
        + " | oracle mean replicas |",
        "|---|---:|---:|:-:|" + "---:|" * len(RATIO_COLUMNS) + "---:|",
    ]
    for row in rows:
        ours = row["by_seed"][SEED][("inferop", None)]
        oracle = row["by_seed"][SEED][("oracle", None)]
        cells = [
            _spread([r[key] for r in row["ratios"]], "it misses the goal" if key == "vs_static_past" else MISSING)
            for key, _ in RATIO_COLUMNS
        ]
        replicas = oracle["gpu_hours"] * 3600 / row["scored"] if row["scored"] else math.nan
        lines.append(
            f"| [{row['name']}]({row['name']}/summary.md) | {ours['gpu_hours']:.2f} | {ours['slo_attainment']:.4f} | "
            f"{'yes' if _meets(ours) else 'no'} | " + " | ".join(cells) + f" | {replicas:.1f} |"
        )
    lines += [
        "",
        "The baselines behind the ratios (seed 0): the best tuned on the past / with hindsight.",
        "",
        "| trace | best tuned on the past | best tuned with hindsight |",
        "|---|---|---|",
    ]
    for row in rows:
        first = row["ratios"][0]
        lines.append(
            f"| {row['name']} | {first['vs_best_past_name'] or 'none meets the goal'} | "
            f"{first['vs_best_scored_name'] or 'none meets the goal'} |"
        )
    lines += [
        "",
        "Every policy, per trace, seed 0 (GPU-hours / SLO attainment [tuned target]; `-` = missed the goal):",
        "",
    ]
    columns = [("inferop", None), ("oracle", None)] + [(b, t) for b in BASELINES for t in ("past", "scored")]
    titles = [name if tuned is None else f"{name} ({tuned})" for name, tuned in columns]
    lines += ["| trace | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        cells = []
        for key in columns:
            r = row["by_seed"][SEED].get(key)
            if r is None:
                cells.append("")
                continue
            mark = "" if _meets(r) else " -"
            target = f" [{r['tuned_target']:g}]" if r["tuned_target"] is not None else ""
            cells.append(f"{r['gpu_hours']:.1f} / {r['slo_attainment']:.3f}{mark}{target}")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    if whatif:
        lines += _whatif_table(rows, whatif)
    lines += ["", "## Commands", ""]
    for row in rows:
        lines.append(f"- `inferop simulate {shlex.join(row['argv'])}` ({row['seconds']:.0f} s)")
    analysis = REPO / "bench" / "analysis.md"
    if analysis.exists():
        lines += ["", analysis.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds >= DAY and seconds % DAY == 0:
        return f"{seconds / DAY:g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


#: summary.json's GPU-hours are rounded to 4 decimals: a what-if equal to its row is within this.
SUMMARY_ROUNDING = 0.5e-4 + 1e-12
#: Issue 14's bound on a capacity prior's cost: GPU-hours at most this times the learned-only run's.
PRIOR_GPU_HOURS_BOUND = 1.10
#: The prior variants the issue's goal is judged on (absent is ``default`` itself).
PRIOR_GOAL_VARIANTS = ("default", "prior:+30%", "prior:-30%")


def _whatif_traces(rows: list[dict[str, Any]], whatif: WhatIfs) -> list[str]:
    """The traces with what-if results: the comparison's order, then the others by name."""
    ordered = [row["name"] for row in rows if row["name"] in whatif]
    return ordered + sorted(name for name in whatif if name not in ordered)


def _capacity_text(capacity: dict[str, Any] | None) -> str:
    if not capacity:
        return "none learned"
    unit = "tok/s" if capacity["unit"] == "tokens" else "req/s"
    return f"{capacity['perReplica']:,.0f} {unit} per replica ({capacity['source']}, {capacity['points']} points)"


def _whatif_table(rows: list[dict[str, Any]], whatif: WhatIfs) -> list[str]:
    from whatif import DEFAULT, VARIANTS

    traces = _whatif_traces(rows, whatif)
    names = [name for name in VARIANTS if any(name in whatif[t] for t in traces)]
    by_name = {row["name"]: row for row in rows}
    goal = PERCENTILE / 100
    lines = [
        "",
        "## What-ifs (not the shipped controller)",
        "",
        "`bench/whatif.py` (its docstring says what each variant changes): the inferop replay (seed 0, the same",
        "burn-in and initial replicas) with one thing changed, through the real decide(): a CostPolicy field, a",
        "`PlannerTuning` passed in, or a capacity prior. Each cell: GPU-hours / attainment over the scored period,",
        f"then the GPU-hours over `{DEFAULT}`'s (learned only); `-` marks a missed goal ({goal:g}).",
        "",
        "| variant | " + " | ".join(traces) + " |",
        "|---|" + "---:|" * len(traces),
    ]
    for name in names:
        cells = []
        for trace in traces:
            numbers = whatif[trace].get(name)
            base = whatif[trace].get(DEFAULT)
            if numbers is None:
                cells.append("")
                continue
            mark = "" if numbers["slo_attainment"] >= goal - 1e-12 else " -"
            ratio = f"; {numbers['gpu_hours'] / base['gpu_hours']:.2f}x" if base and base["gpu_hours"] > 0 else ""
            cells.append(f"{numbers['gpu_hours']:.2f} / {numbers['slo_attainment']:.4f}{mark}{ratio}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    checks = []
    for trace in traces:
        base = whatif[trace].get(DEFAULT)
        row = by_name.get(trace)
        if base is None:
            continue
        if row is None:
            checks.append(f"{trace}: no comparison in this run")
            continue
        ours = row["by_seed"][SEED][("inferop", None)]
        same = math.isclose(base["gpu_hours"], ours["gpu_hours"], rel_tol=0, abs_tol=SUMMARY_ROUNDING)
        checks.append(
            f"{trace}: {base['gpu_hours']:.4f} vs {ours['gpu_hours']:.4f} GPU-h ({'same' if same else 'DIFFERENT'})"
        )
    if checks:
        lines += [
            "",
            f"`{DEFAULT}` against the inferop row (seed 0, summary.json's 4 decimals): " + "; ".join(checks) + ".",
        ]
        oracle = [
            f"{t}: {whatif[t][DEFAULT]['gpu_hours'] / by_name[t]['by_seed'][SEED][('oracle', None)]['gpu_hours']:.2f}"
            for t in traces
            if DEFAULT in whatif[t] and t in by_name
        ]
        if oracle:
            lines += ["", f"`{DEFAULT}` over the oracle's GPU-hours: " + "; ".join(oracle) + "."]
    lines += _prior_table(traces, whatif)
    return lines


def _prior_table(traces: list[str], whatif: WhatIfs) -> list[str]:
    """Issue 14's what-if goal per trace: with the prior 30% too high, 30% too low or absent,
    attainment meets the goal and GPU-hours are at most 1.10x the learned-only run's."""
    from whatif import DEFAULT, VARIANTS

    goal = PERCENTILE / 100
    wanted = [
        *PRIOR_GOAL_VARIANTS,
        *(n for n in VARIANTS if VARIANTS[n].needs_reference and n not in PRIOR_GOAL_VARIANTS),
    ]
    lines = [
        "",
        "### The capacity prior",
        "",
        f"Issue 14: with the prior 30% too high, 30% too low and absent, attainment at least {goal:g} and GPU-hours",
        f"at most {PRIOR_GPU_HOURS_BOUND:.2f}x the learned-only run (`{DEFAULT}`). The reference a prior is set from",
        f"is `{DEFAULT}`'s final capacity estimate on the same trace; `prior:exact` is reported, not judged.",
        "",
        "| trace | reference | variant | prior | GPU-h | / default | attainment | final estimate | goal holds |",
        "|---|---|---|---:|---:|---:|---:|---|:-:|",
    ]
    for trace in traces:
        base = whatif[trace].get(DEFAULT)
        if base is None:
            continue
        reference = _capacity_text(base.get("capacity"))
        for name in wanted:
            name_cell, reference_cell = (trace, reference) if name == DEFAULT else ("", "")
            numbers = whatif[trace].get(name)
            if numbers is None:
                continue
            ratio = numbers["gpu_hours"] / base["gpu_hours"] if base["gpu_hours"] > 0 else math.nan
            prior = numbers.get("prior")
            prior_text = "absent" if prior is None else f"{prior['perReplica']:,.0f} ({prior['factor']:g}x)"
            holds = numbers["slo_attainment"] >= goal - 1e-12 and ratio <= PRIOR_GPU_HOURS_BOUND + 1e-12
            verdict = ("yes" if holds else "**no**") if name in PRIOR_GOAL_VARIANTS else ""
            lines.append(
                f"| {name_cell} | {reference_cell} | {name} | {prior_text} | {numbers['gpu_hours']:.2f} | "
                f"{ratio:.2f} | {numbers['slo_attainment']:.4f} | {_capacity_text(numbers.get('capacity'))} | "
                f"{verdict} |"
            )
    return lines


RUN_KEYS = ("name", "scaling", "requests", "isolated_p95", "slo", "argv", "seconds", "warmup", "scored")


def _row(run_info: dict[str, Any], out: Path) -> dict[str, Any]:
    summary = json.loads((out / run_info["name"] / "summary.json").read_text())
    by_seed: dict[int, dict[tuple[str, str | None], dict[str, Any]]] = {}
    for r in summary:
        by_seed.setdefault(r["seed"], {})[(r["policy"], r["tuned_on"])] = r
    ratios = [_ratios([r for r in summary if r["seed"] == seed]) for seed in sorted(by_seed)]
    return {**run_info, "by_seed": by_seed, "ratios": ratios}


def whatif_report(whatif: WhatIfs) -> str:
    """The what-if tables alone, for an ``--out`` without a comparison (``runs.json``)."""
    lines = [
        "# Bench what-ifs",
        "",
        "Generated by `bench/run.py --whatifs --no-compare`; do not edit by hand. No comparison in this",
        "directory: no oracle ratios, and `default` is not checked against an inferop row.",
        *_whatif_table([], whatif),
    ]
    return "\n".join(lines) + "\n"


def rewrite_report(out: Path) -> int:
    """README.md from ``runs.json`` and ``whatif.json`` in ``out`` (without runs.json: whatif.md)."""
    path = out / "whatif.json"
    whatif = json.loads(path.read_text()) if path.exists() else {}
    if not (out / "runs.json").exists():
        if not whatif:
            print(f"no runs.json or whatif.json in {out}", file=sys.stderr)
            return 1
        (out / "whatif.md").write_text(whatif_report(whatif))
        print(f"wrote {out / 'whatif.md'}")
        return 0
    runs = json.loads((out / "runs.json").read_text())
    rows = [_row(r, out) for r in runs["runs"]]
    (out / "README.md").write_text(report(rows, whatif, runs["jobs"], runs["total_seconds"]))
    print(f"wrote {out / 'README.md'}")
    return 0


def default_traces() -> Path:
    """``../shared/data/traces`` beside the repository (for a git worktree, beside its main checkout)."""
    candidates = []
    for query in ("--show-toplevel", "--git-common-dir"):
        found = subprocess.run(["git", "rev-parse", query], capture_output=True, text=True, cwd=REPO)
        if found.returncode == 0:
            path = (REPO / found.stdout.strip()).resolve()
            candidates.append(path if query == "--show-toplevel" else path.parent)
    for root in [*candidates, REPO]:
        directory = root.parent / "shared" / "data" / "traces"
        if directory.is_dir():
            return directory
    return REPO.parent / "shared" / "data" / "traces"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traces", type=Path, default=None, help="trace directory (default ../shared/data/traces)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="results directory")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument(
        "--only", default="", help="comma-separated traces to run, as named in the report (default: all)"
    )
    parser.add_argument("--rate-days", type=int, default=RATE_TRACE_DAYS, help="days of a rate trace replayed")
    parser.add_argument(
        "--rate-burn-in-days", type=int, default=RATE_TRACE_BURN_IN_DAYS, help="of them, days of burn-in"
    )
    parser.add_argument(
        "--rate-rps", type=float, default=RATE_TRACE_TARGET_RPS, help="a rate trace's mean req/s over its scored days"
    )
    parser.add_argument("--whatifs", action="store_true", help="also run the what-ifs of bench/whatif.py")
    parser.add_argument(
        "--whatif",
        default="",
        metavar="NAMES",
        help="comma-separated what-ifs to run (implies --whatifs; default: all); a prior variant brings default, "
        "its reference",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="run only the what-ifs of the selected traces (no inferop simulate comparison), merged into "
        "--out/whatif.json; then README.md is rewritten if --out holds a comparison (runs.json), else whatif.md",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite README.md from the results already in --out"
    )
    args = parser.parse_args()
    if args.report_only:
        return rewrite_report(args.out)
    args.whatifs = args.whatifs or bool(args.whatif)
    if args.no_compare and not args.whatifs:
        parser.error("--no-compare runs only the what-ifs: give --whatifs or --whatif")
    try:
        names = whatif_names(args.whatif)
    except ValueError as error:
        parser.error(str(error))
    directory = args.traces if args.traces is not None else default_traces()
    started = time.monotonic()
    plan = variants(directory, args.rate_days, args.rate_burn_in_days, args.rate_rps)
    if args.only:
        wanted = set(args.only.split(","))
        unknown = sorted(wanted - {v.name for v in plan})
        if unknown:
            print(f"--only: no trace {', '.join(unknown)} in {directory}", file=sys.stderr)
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
        scaling, requests, duration = trace.scaling, len(trace), trace.duration
        del trace
        slos.append((variant, slo))
        if args.no_compare:
            continue
        argv, seconds = simulate(variant, slo, out, args.jobs)
        info = {
            "name": variant.name,
            "scaling": scaling,
            "requests": requests,
            "isolated_p95": isolated,
            "slo": slo,
            "argv": argv,
            "seconds": seconds,
            "warmup": variant.warmup,
            "scored": duration - variant.warmup,
        }
        rows.append(_row(info, args.out))
        first = rows[-1]["ratios"][0]
        print(
            f"  done in {seconds:.0f} s (seed 0): inferop / oracle {first['vs_oracle']:.2f}, "
            + ", ".join(f"{k} {first[k]:.2f}" for k in ("vs_best_past", "vs_best_scored") if first[k] is not None),
            flush=True,
        )
    whatif: WhatIfs = {}
    path = args.out / "whatif.json"
    if args.whatifs:
        print(f"what-ifs: {', '.join(names)} ...", flush=True)
        begun = time.monotonic()
        whatif = whatifs(slos, args.jobs, names)
        print(f"what-ifs done in {(time.monotonic() - begun) / 60:.1f} min", flush=True)
        if args.no_compare and path.exists():  # merged: the results of other traces and variants kept
            merged: WhatIfs = json.loads(path.read_text())
            for trace_name, numbers in whatif.items():
                merged.setdefault(trace_name, {}).update(numbers)
            whatif = merged
        path.write_text(json.dumps(whatif, indent=2, sort_keys=True) + "\n")
    else:
        path.unlink(missing_ok=True)
    if args.no_compare:
        return rewrite_report(args.out)
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
