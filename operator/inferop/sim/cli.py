"""``inferop simulate``: replay a trace through our policy, the oracle and tuned baselines.

The main CLI registers the subcommand with :func:`add_parser` and prints ``error: <message>``
(exit 2) for a :class:`SimError`; every SimError message starts with the flag it is about.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from inferop.api.costpolicy import CostPolicySpec
from inferop.api.inferenceservice import Autoscaling, InferenceService
from inferop.api.validation import InvalidObject, describe_validation_error, parse_isvc
from inferop.cost.queries import rate_window
from inferop.sim.compare import TUNINGS, compare
from inferop.sim.engine import CoreMissing, require_core
from inferop.sim.policies import BASELINES, COMPARE_NAMES
from inferop.sim.profile import DEFAULT_PROFILE, ProfileError, ServiceProfile, load_profile
from inferop.sim.report import ReportInfo, write
from inferop.sim.run import SCRAPE_INTERVAL, RunConfig
from inferop.sim.trace import Trace, TraceError, load_trace

#: maxReplicas when no --isvc is given.
DEFAULT_MAX_REPLICAS = 100
PERCENTILES = (50, 90, 95, 99)
#: The burn-in when --warmup is not given (seconds).
DEFAULT_WARMUP = 900.0
#: --tune values and the tunings they run (compare.TUNINGS).
TUNE_CHOICES = {"past": ("past",), "scored": ("scored",), "both": TUNINGS}


class SimError(Exception):
    """Bad input to ``inferop simulate``; the message names the flag."""


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


def _load_yaml(flag: str, path: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d is not None]
    except OSError as err:
        raise SimError(f"{flag}: {path}: cannot read file: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise SimError(f"{flag}: {path}: not valid YAML: {err}".splitlines()[0]) from None
    if not all(isinstance(d, dict) for d in docs):
        raise SimError(f"{flag}: {path}: expected Kubernetes objects (mappings)")
    return docs


def _isvc(path: str | None, slo_ms: int, percentile: int, profile: ServiceProfile) -> Autoscaling:
    if path is None:
        return default_autoscaling(slo_ms, percentile)
    docs = [d for d in _load_yaml("--isvc", path) if d.get("kind") == "InferenceService"]
    if len(docs) != 1:
        raise SimError(f"--isvc: {path}: expected exactly one InferenceService, found {len(docs)}")
    try:
        isvc: InferenceService = parse_isvc(docs[0])
    except InvalidObject as err:
        raise SimError(f"--isvc: {path}: {err}") from None
    autoscaling = isvc.spec.autoscaling
    if autoscaling is None:
        raise SimError(f"--isvc: {path}: spec.autoscaling is required (a fixed-size service has nothing to simulate)")
    gpu = isvc.spec.resources.gpu
    if gpu is not None and gpu.count != profile.gpus_per_replica:
        raise SimError(
            f"--isvc: {path}: spec.resources.gpu.count is {gpu.count} but profile {profile.name} models "
            f"{profile.gpus_per_replica} GPU(s) per replica; pass a --profile for that shape"
        )
    metric = autoscaling.slo.latency.metric if autoscaling.slo is not None else "e2e"
    if metric == "itl":
        raise SimError(f"--isvc: {path}: spec.autoscaling.slo.latency.metric itl is not simulated (use e2e or ttft)")
    slo = {"latency": {"metric": metric, "percentile": percentile, "targetMilliseconds": slo_ms}}
    data = autoscaling.model_dump(by_alias=True, exclude_none=True, mode="json")
    data["slo"] = slo
    return Autoscaling.model_validate(data)


def load_cost_policy(path: str | None) -> CostPolicySpec:
    if path is None:
        return CostPolicySpec()
    docs = [d for d in _load_yaml("--policy", path) if d.get("kind") == "CostPolicy"]
    if len(docs) != 1:
        raise SimError(f"--policy: {path}: expected exactly one CostPolicy, found {len(docs)}")
    spec = docs[0].get("spec") or {}
    try:
        return CostPolicySpec.model_validate(spec)
    except ValidationError as err:
        problem = describe_validation_error(err)
        where = f"spec.{problem.field}: " if problem.field else ""
        raise SimError(f"--policy: {path}: {where}{problem.message}") from None


def _baselines(text: str) -> list[str]:
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part not in COMPARE_NAMES:
            known = ", ".join(COMPARE_NAMES)
            raise SimError(f"--compare: unknown baseline {part!r} (known: {known})")
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
            raise SimError(f"--rerun-seeds: not a whole number: {part!r}") from None
        if value == seed or value in seeds:
            raise SimError(f"--rerun-seeds: seed {value} is given twice (--seed is {seed})")
        seeds.append(value)
    return seeds


def _window_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(int(text[:-1]) * units[text[-1]])


def run_config(
    slo_ms: float, percentile: int, autoscaling: Autoscaling, cost_policy: CostPolicySpec, warmup: float = 0.0
) -> RunConfig:
    """The shared settings of one comparison; the rate window is the operator's (queries.rate_window)."""
    return RunConfig(
        warmup=warmup,
        slo_ms=slo_ms,
        percentile=percentile,
        metric=autoscaling.slo.latency.metric if autoscaling.slo is not None else "e2e",
        min_replicas=autoscaling.min_replicas,
        max_replicas=autoscaling.max_replicas,
        autoscaling=autoscaling,
        cost_policy=cost_policy,
        scrape_interval=SCRAPE_INTERVAL,
        rate_window=_window_seconds(rate_window(cost_policy.interval_seconds, int(SCRAPE_INTERVAL))),
    )


def default_autoscaling(slo_ms: int, percentile: int) -> Autoscaling:
    """The InferenceService autoscaling used without --isvc: the latency SLO alone, maxReplicas 100.

    No per-pod ``targets``: inferop's promise is scaling on the SLO without hand-tuned thresholds, and a
    queue-depth target makes the rendered HPA (through a metrics adapter) chase every burst's backlog
    (``docs/simulate.md``). Pass ``--isvc`` to simulate a service with targets.
    """
    spec = {
        "minReplicas": 1,
        "maxReplicas": DEFAULT_MAX_REPLICAS,
        "slo": {"latency": {"metric": "e2e", "percentile": percentile, "targetMilliseconds": slo_ms}},
    }
    return Autoscaling.model_validate(spec)


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
        raise SimError(f"--slo-ms: must be a whole number of milliseconds > 0, got {args.slo_ms:g}")
    if args.percentile not in PERCENTILES:
        raise SimError(f"--percentile: must be one of {', '.join(map(str, PERCENTILES))}, got {args.percentile}")
    if args.jobs < 1:
        raise SimError(f"--jobs: must be at least 1, got {args.jobs}")
    try:
        require_core()
    except CoreMissing as err:
        raise SimError(f"simulate: {err}") from None
    if not args.warmup >= 0:
        raise SimError(f"--warmup: must be >= 0 seconds, got {args.warmup:g}")
    tunings = TUNE_CHOICES[args.tune]
    baselines = _baselines(args.compare)
    if baselines and "past" in tunings and args.warmup == 0:
        raise SimError(f"--tune: {args.tune} tunes baselines on the burn-in, which --warmup 0 leaves empty; use scored")
    reruns = _seeds(args.rerun_seeds, args.seed)
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SimError("--out: the PNG plots need matplotlib (pip install it) or --no-plots") from None
    try:
        profile = load_profile(args.profile)
    except ProfileError as err:
        raise SimError(f"--profile: {err}") from None
    autoscaling = _isvc(args.isvc, int(args.slo_ms), args.percentile, profile)
    cost_policy = load_cost_policy(args.policy)

    def load(seed: int) -> Trace:
        try:
            return load_trace(
                args.trace,
                seed=seed,
                rate_scale=args.rate_scale,
                start=args.start,
                duration=args.duration,
                category=args.category,
            )
        except TraceError as err:
            text = str(err)
            flag = err.option or (
                "--rate-scale"
                if "rate scale" in text
                else "--start/--duration"
                if "time range" in text
                else "--trace"
            )
            raise SimError(f"{flag}: {err}") from None

    trace = load(args.seed)
    if args.warmup >= trace.duration:
        raise SimError(
            f"--warmup: the burn-in ({args.warmup:g} s) must be shorter than the trace's {trace.duration:g} s "
            "(nothing would be scored)"
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SimError(f"--out: {out} exists and is not a directory")
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
        raise SimError(f"--out: cannot write to {out}: {err.strerror}") from None
    print((out / "summary.md").read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``simulate`` on its own (``python -m inferop.sim.cli``), as the main CLI would."""
    parser = argparse.ArgumentParser(prog="inferop")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except SimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
