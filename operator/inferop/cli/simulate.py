"""``inferop simulate``: replay a trace through our policy, the oracle and tuned baselines.

The command line of :mod:`inferop.sim` (which is pure): flags, the files (``inferop.cli.files``) and
the report directory (summary.json, summary.md, sweep.json, one PNG per policy). Every
:class:`~inferop.cli.errors.CLIError` here starts with the flag it is about.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from inferop.api.inferenceservice import Autoscaling
from inferop.cli.errors import CLIError
from inferop.cli.files import load_cost_policy, load_isvc, load_service_profile, load_trace_file
from inferop.sim.compare import TUNINGS, Comparison, compare
from inferop.sim.engine import CoreMissing, require_core
from inferop.sim.policies import BASELINES, COMPARE_NAMES
from inferop.sim.profile import DEFAULT_PROFILE, ServiceProfile
from inferop.sim.report import ReportInfo, seed_ratios, summary_markdown, summary_rows, sweep_json
from inferop.sim.run import RunConfig, RunResult, default_autoscaling, run_config
from inferop.sim.trace import Trace

PERCENTILES = (50, 90, 95, 99)
#: The burn-in when --warmup is not given (seconds).
DEFAULT_WARMUP = 900.0
#: --tune values and the tunings they run (compare.TUNINGS).
TUNE_CHOICES = {"past": ("past",), "scored": ("scored",), "both": TUNINGS}


def add_parser(subparsers: Any) -> None:
    """Register ``simulate`` on the main CLI's subparsers."""
    p = subparsers.add_parser(
        "simulate",
        help="replay a request trace through inferop's decide() and tuned baselines (HPA, KEDA, KPA, static)",
        description=(
            "Replay a request trace (per-request or rate-window CSV) through one service model under inferop's "
            "cost controller, a clairvoyant oracle and optionally tuned baselines; write summary.json, "
            "summary.md, sweep.json and one PNG per policy to --out."
        ),
    )
    p.add_argument("--trace", required=True, metavar="FILE", help="trace CSV (arrival_s,... or category_model,...)")
    p.add_argument("--slo-ms", required=True, type=float, metavar="MS", help="latency SLO target in milliseconds")
    p.add_argument("--percentile", type=int, default=95, metavar="P", help="SLO percentile: 50, 90, 95 or 99")
    p.add_argument("--isvc", metavar="FILE", help="InferenceService YAML (replica bounds, targets, SLO metric)")
    p.add_argument("--policy", metavar="FILE", help="CostPolicy YAML for inferop (default: the default CostPolicy)")
    p.add_argument(
        "--compare",
        default="",
        metavar="LIST",
        help="baselines to tune and compare: hpa,keda,kpa,static (keda = keda-latency and keda-queue)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed for generated arrivals and token counts")
    p.add_argument(
        "--rerun-seeds",
        default="",
        metavar="LIST",
        help="also replay inferop, the oracle and every kept baseline setting on these seeds (e.g. 1,2)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=DEFAULT_WARMUP,
        metavar="S",
        help=f"unscored burn-in at the start of the selected range, seconds (default {DEFAULT_WARMUP:g})",
    )
    p.add_argument(
        "--tune",
        default="both",
        choices=tuple(TUNE_CHOICES),
        help="tune each baseline on the past (the burn-in), on the scored period (hindsight), or both (default)",
    )
    p.add_argument("--category", metavar="NAME", help="the category_model to replay from a multi-model rate trace")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--profile", default=DEFAULT_PROFILE, metavar="NAME|FILE", help=f"service profile (default {DEFAULT_PROFILE})"
    )
    p.add_argument(
        "--rate-scale", type=float, default=1.0, metavar="X", help="scale the request rate (thinning or copies)"
    )
    p.add_argument("--start", type=float, default=0.0, metavar="S", help="simulate from this second of the trace")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="simulate this many seconds")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes for the baseline sweeps")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run_simulate)


def _isvc(path: str | None, slo_ms: int, percentile: int, profile: ServiceProfile) -> Autoscaling:
    if path is None:
        return default_autoscaling(slo_ms, percentile)
    isvc = load_isvc("--isvc", path)
    autoscaling = isvc.spec.autoscaling
    if autoscaling is None:
        raise CLIError(f"--isvc: {path}: spec.autoscaling is required (a fixed-size service has nothing to simulate)")
    gpu = isvc.spec.resources.gpu
    if gpu is not None and gpu.count != profile.gpus_per_replica:
        raise CLIError(
            f"--isvc: {path}: spec.resources.gpu.count is {gpu.count} but profile {profile.name} models "
            f"{profile.gpus_per_replica} GPU(s) per replica; pass a --profile for that shape"
        )
    metric = autoscaling.slo.latency.metric if autoscaling.slo is not None else "e2e"
    if metric == "itl":
        raise CLIError(f"--isvc: {path}: spec.autoscaling.slo.latency.metric itl is not simulated (use e2e or ttft)")
    slo = {"latency": {"metric": metric, "percentile": percentile, "targetMilliseconds": slo_ms}}
    data = autoscaling.model_dump(by_alias=True, exclude_none=True, mode="json")
    data["slo"] = slo
    return Autoscaling.model_validate(data)


def _baselines(text: str) -> list[str]:
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part not in COMPARE_NAMES:
            known = ", ".join(COMPARE_NAMES)
            raise CLIError(f"--compare: unknown baseline {part!r} (known: {known})")
        for name in COMPARE_NAMES[part]:
            if name not in names:
                names.append(name)
    return [n for n in BASELINES if n in names]


def _seeds(text: str, seed: int) -> list[int]:
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise CLIError(f"--rerun-seeds: not a whole number: {part!r}") from None
        if value == seed or value in seeds:
            raise CLIError(f"--rerun-seeds: seed {value} is given twice (--seed is {seed})")
        seeds.append(value)
    return seeds


def command_line(args: argparse.Namespace) -> str:
    parts = ["inferop", "simulate", "--trace", args.trace, "--slo-ms", f"{args.slo_ms:g}"]
    parts += ["--percentile", str(args.percentile)]
    for flag, value in (("--isvc", args.isvc), ("--policy", args.policy)):
        if value:
            parts += [flag, value]
    if args.compare:
        parts += ["--compare", args.compare]
    parts += ["--seed", str(args.seed)]
    if args.profile != DEFAULT_PROFILE:
        parts += ["--profile", args.profile]
    if args.rate_scale != 1:
        parts += ["--rate-scale", f"{args.rate_scale:g}"]
    if args.start:
        parts += ["--start", f"{args.start:g}"]
    if args.duration is not None:
        parts += ["--duration", f"{args.duration:g}"]
    if args.category is not None:
        parts += ["--category", args.category]
    parts += ["--warmup", f"{args.warmup:g}", "--tune", args.tune]
    if args.rerun_seeds:
        parts += ["--rerun-seeds", args.rerun_seeds]
    parts += ["--out", args.out]
    return shlex.join(parts)


def run_simulate(args: argparse.Namespace) -> int:
    if not args.slo_ms > 0 or args.slo_ms != int(args.slo_ms):
        raise CLIError(f"--slo-ms: must be a whole number of milliseconds > 0, got {args.slo_ms:g}")
    if args.percentile not in PERCENTILES:
        raise CLIError(f"--percentile: must be one of {', '.join(map(str, PERCENTILES))}, got {args.percentile}")
    if args.jobs < 1:
        raise CLIError(f"--jobs: must be at least 1, got {args.jobs}")
    try:
        require_core()
    except CoreMissing as err:
        raise CLIError(f"simulate: {err}") from None
    if not args.warmup >= 0:
        raise CLIError(f"--warmup: must be >= 0 seconds, got {args.warmup:g}")
    tunings = TUNE_CHOICES[args.tune]
    baselines = _baselines(args.compare)
    if baselines and "past" in tunings and args.warmup == 0:
        raise CLIError(f"--tune: {args.tune} tunes baselines on the burn-in, which --warmup 0 leaves empty; use scored")
    reruns = _seeds(args.rerun_seeds, args.seed)
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("--out: the PNG plots need matplotlib (pip install it) or --no-plots") from None
    profile = load_service_profile("--profile", args.profile)
    autoscaling = _isvc(args.isvc, int(args.slo_ms), args.percentile, profile)
    cost_policy = load_cost_policy("--policy", args.policy)

    def load(seed: int) -> Trace:
        return load_trace_file(
            args.trace,
            seed=seed,
            rate_scale=args.rate_scale,
            start=args.start,
            duration=args.duration,
            category=args.category,
        )

    trace = load(args.seed)
    if args.warmup >= trace.duration:
        raise CLIError(
            f"--warmup: the burn-in ({args.warmup:g} s) must be shorter than the trace's {trace.duration:g} s "
            "(nothing would be scored)"
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out: {out} exists and is not a directory")
    config = run_config(float(args.slo_ms), args.percentile, autoscaling, cost_policy, args.warmup)

    def progress(message: str) -> None:
        print(f"[{trace.name}] {message}", file=sys.stderr, flush=True)

    comparison = compare(
        trace,
        profile,
        config,
        baselines,
        tunings=tunings if baselines else (),
        jobs=args.jobs,
        progress=progress,
        reruns=[(seed, functools.partial(load, seed)) for seed in reruns],
    )
    info = ReportInfo(
        trace=trace.name,
        seed=args.seed,
        scaling=trace.scaling,
        requests=len(trace),
        duration=trace.duration,
        profile=profile.name,
        command=command_line(args),
        warmup=args.warmup,
    )
    try:
        write(out, comparison, config, info, plots=not args.no_plots)
    except OSError as err:
        raise CLIError(f"--out: cannot write to {out}: {err.strerror}") from None
    print((out / "summary.md").read_text())
    return 0


def _plot(result: RunResult, config: RunConfig, path: Path, title: str) -> None:
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
    """summary.json, summary.md, sweep.json and (with ``plots``) one PNG per policy into ``out``."""
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
            _plot(result, config, path, title)
            written.append(path)
    return written
