"""``inferop backtest``: replay a recorded Prometheus range of one InferenceService through ``decide()``.

The I/O edge of :mod:`inferop.cost.backtest`: reads the InferenceService (and its CostPolicy and
GPUClass) from the cluster, runs the cost controller's own queries as range queries with the
CostPolicy interval as the step, reads the replicas that actually ran, and reports the projected
decisions and GPU-hours against what ran. Every error is a CLIError that names the flag and the fix.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from inferop.api import InferenceService
from inferop.api.common import API_VERSION as ISVC_API
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.times import iso_at as _iso
from inferop.cli.errors import CLIError
from inferop.cli.files import load_cost_policy, parse_cost_policy_at, parse_gpuclass_at, parse_isvc_at
from inferop.cli.run import environment_settings
from inferop.cost.backtest import RangeAnswer, Result, replay, series_at, steps
from inferop.cost.queries import PromLabels, ServiceKey, plan_queries, rate_window, service_query_spec
from inferop.cost.rebuild import RebuildFailed, plan_rebuild, rebuild
from inferop.cost.rebuild import grid as rebuild_grid
from inferop.cost.signals import QueryFailed
from inferop.cost.state import Learned
from inferop.cost.window import history_seconds
from inferop.cost.window import seconds as window_seconds
from inferop.reconcile.prometheus import Prometheus
from inferop.tenancy.usage import price_per_replica

#: Where the replicas that actually ran come from, tried in order (first with data wins):
#: kube-state-metrics' Deployment series, then the operator's own gauge.
REPLICA_QUERIES = (
    'max(kube_deployment_status_replicas{namespace="{namespace}",deployment="{name}"})',
    'max(inferop_replicas{namespace="{namespace}",inferenceservice="{name}"})',
)
#: Model load time of new projected replicas when --cold-start is not given (the simulator's
#: llama-8b-h100 profile: weights from a local cache onto one H100, see docs/simulate.md).
DEFAULT_COLD_START = 120.0
_RELATIVE = re.compile(r"^now(?:-(\d+)([smhd]))?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="replay a recorded Prometheus range of one InferenceService through decide()",
        description=(
            "Replay the recorded Prometheus range of one InferenceService through inferop's decide(), one "
            "CostPolicy interval at a time, and report the decisions over time and the projected GPU-hours "
            "against what actually ran (method: docs/backtest.md)."
        ),
    )
    p.add_argument(
        "--prometheus", metavar="URL", help="Prometheus URL (default: the CostPolicy's, then INFEROP_PROMETHEUS_URL)"
    )
    p.add_argument(
        "--isvc",
        required=True,
        metavar="NAMESPACE/NAME",
        help="the InferenceService (read from the current kubeconfig's cluster)",
    )
    p.add_argument("--start", required=True, metavar="T", help="RFC 3339 time, unix seconds, or now-<N>[smhd]")
    p.add_argument("--end", required=True, metavar="T", help="RFC 3339 time, unix seconds, now or now-<N>[smhd]")
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="CostPolicy YAML to try (default: the service's CostPolicy from the cluster, or the default CostPolicy)",
    )
    p.add_argument(
        "--cold-start",
        type=float,
        default=DEFAULT_COLD_START,
        metavar="SECONDS",
        help=f"seconds before a replica the projection adds is ready (default {DEFAULT_COLD_START:g})",
    )
    p.add_argument(
        "--replicas-query",
        metavar="PROMQL",
        help="PromQL for the replicas that actually ran, one "
        "series ({namespace} and {name} are substituted; default: kube-state-metrics, then "
        "inferop_replicas)",
    )
    p.add_argument("--out", metavar="DIR", help="also write backtest.json, backtest.md and backtest.png here")
    p.set_defaults(func=run_backtest)


def parse_time(flag: str, text: str, now: float) -> float:
    """RFC 3339, unix seconds, ``now`` or ``now-<N><s|m|h|d>``, as unix seconds."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = relative.groups()
        return now - (int(amount) * _UNITS[unit] if amount else 0)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CLIError(
            f"{flag}: {text!r} is not a time: use RFC 3339 (2026-11-30T12:00:00Z), unix seconds or now-2h"
        ) from None
    if parsed.tzinfo is None:
        raise CLIError(f"{flag}: {text!r} has no time zone: add Z or an offset such as +01:00")
    return parsed.timestamp()


def _service_ref(text: str) -> tuple[str, str]:
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise CLIError(f"--isvc: {text!r} is not NAMESPACE/NAME (for example --isvc team-a/chat)")
    return namespace, name


def _read_cluster(namespace: str, name: str) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """The InferenceService, its CostPolicy (None when absent) and its GPUClass (None when absent or CPU)."""
    from inferop.reconcile.kube import Kube, KubeError, load_config, path

    try:
        load_config()
    except Exception as err:  # noqa: BLE001 - any kubeconfig problem is the same advice
        raise CLIError(f"--isvc: cannot load a kubeconfig ({err}): set KUBECONFIG") from None
    kube = Kube()
    try:
        body = kube.get(path(ISVC_API, "InferenceService", namespace, name))
        if body is None:
            raise CLIError(
                f"--isvc: InferenceService {namespace}/{name} not found (kubectl get infsvc -n {namespace})"
            )
        spec = body.get("spec") or {}
        policy_name = (spec.get("autoscaling") or {}).get("policy") or "default"
        policy = kube.get(path(ISVC_API, "CostPolicy", None, policy_name))
        gpu_class = ((spec.get("resources") or {}).get("gpu") or {}).get("class")
        gpuclass = kube.get(path(ISVC_API, "GPUClass", None, gpu_class)) if gpu_class else None
    except KubeError as err:
        raise CLIError(f"--isvc: reading {namespace}/{name} from the cluster failed: {err}") from None
    return body, policy, gpuclass


def _policy(flag_file: str | None, stored: dict[str, Any] | None) -> tuple[CostPolicySpec, str]:
    if flag_file:
        return load_cost_policy("--policy", flag_file), flag_file
    if stored is None:
        return CostPolicySpec(), "the default CostPolicy (none stored in the cluster)"
    name = stored["metadata"]["name"]
    where = f"--policy: the stored CostPolicy {name} is invalid (pass --policy FILE)"
    return parse_cost_policy_at(where, stored.get("spec") or {}), f"CostPolicy {name} (from the cluster)"


def _actual_replicas(
    source: Prometheus, override: str | None, namespace: str, name: str, start: float, end: float, step: float
) -> tuple[list[dict[str, Any]], str]:
    candidates = [override] if override else list(REPLICA_QUERIES)
    for template in candidates:
        assert template is not None
        promql = template.replace("{namespace}", namespace).replace("{name}", name)
        answer = source.query_range(promql, start, end, step)
        if isinstance(answer, QueryFailed):
            flag = "--replicas-query" if override else "--prometheus"
            raise CLIError(f"{flag}: {answer.message}")
        if answer:
            return answer, promql
    if override:
        raise CLIError(f"--replicas-query: no data for {override!r} between --start and --end")
    raise CLIError(
        "--replicas-query: no replica series between --start and --end (tried kube-state-metrics' "
        "kube_deployment_status_replicas and inferop_replicas): install kube-state-metrics, scrape the operator's "
        "/metrics, or pass --replicas-query"
    )


def _rebuilt_state(
    source: Prometheus,
    isvc: InferenceService,
    policy: CostPolicySpec,
    window: str,
    labels: PromLabels,
    start: float,
    interval: float,
) -> tuple[Learned | None, str]:
    """The learned state a running operator would hold at ``start``: rebuilt, as on the operator's start,
    from the CostPolicy's history window before it (``cost.rebuild``). None (and why) when it failed."""
    keep = history_seconds(policy)
    plan = plan_rebuild([service_query_spec(isvc)], window=window, labels=labels)
    grid_times = rebuild_grid(start - interval, keep, interval)
    answers: dict[str, Any] = {
        text: source.query_range(text, grid_times[0], grid_times[-1], interval) if grid_times else []
        for text in plan.queries
    }
    result = rebuild(plan, answers, grid_times, keep_seconds=keep).get(ServiceKey(isvc.namespace, isvc.name))
    if result is None or isinstance(result, RebuildFailed):
        reason = result.reason if result is not None else "the service has no series to rebuild from"
        return None, f"not rebuilt ({reason}): the replay starts from an empty state"
    return result, (
        f"rebuilt from the {keep / 3600:g} h before --start: {len(result.points)} capacity points, "
        f"{len(result.load)} load samples ({result.unit}/s)"
    )


def run_backtest(args: argparse.Namespace) -> int:
    now = time.time()
    namespace, name = _service_ref(args.isvc)
    # Whole seconds: Prometheus answers a range at start + k x step, and the client sends whole seconds.
    start = float(math.floor(parse_time("--start", args.start, now)))
    end = float(math.floor(parse_time("--end", args.end, now)))
    if end <= start:
        raise CLIError("--end: must be after --start")
    if args.cold_start < 0:
        raise CLIError("--cold-start: must be 0 or more seconds")
    body, stored_policy, gpuclass_body = _read_cluster(namespace, name)
    isvc = parse_isvc_at(f"--isvc: {namespace}/{name} is invalid", body)
    if isvc.spec.autoscaling is None:
        raise CLIError(f"--isvc: {namespace}/{name} has no spec.autoscaling: there is nothing to backtest")
    policy, policy_source = _policy(args.policy, stored_policy)
    env = environment_settings()
    url = args.prometheus or policy.prometheus.url or env.prometheus_url
    if not url:
        raise CLIError("--prometheus: no Prometheus URL: pass --prometheus, or set INFEROP_PROMETHEUS_URL")
    gpuclass = None
    if gpuclass_body is not None:
        gpuclass = parse_gpuclass_at("--isvc: the service's GPUClass is invalid", gpuclass_body)
    price, currency = price_per_replica(isvc, gpuclass)
    gpu = isvc.spec.resources.gpu
    if price > 0:
        price_note = f"{price} {currency} per replica-hour, GPUClass {gpu.class_ if gpu else ''}"
    elif gpu is None:
        price_note = "CPU-only: inferop prices GPUs only"
    else:
        price_note = f"no price: GPUClass {gpu.class_} is missing or has no spec.price"

    interval = float(policy.interval_seconds)
    times = steps(start, end, interval)
    # The operator's window: INFEROP_RATE_WINDOW when it ran with one, else the CostPolicy's.
    window = env.rate_window or rate_window(policy.interval_seconds)
    labels = replace(PromLabels.from_policy(policy), only=ServiceKey(namespace, name))
    try:
        plan = plan_queries([service_query_spec(isvc)], window=window, labels=labels)
    except ValueError as err:
        raise CLIError(f"INFEROP_RATE_WINDOW: {err}") from None
    source = Prometheus(url, timeout=60.0)
    answers: dict[Any, RangeAnswer] = {}
    for query in plan.queries:
        answers[query] = source.query_range(query.promql, start, times[-1], interval)
    failed = [a for a in answers.values() if isinstance(a, QueryFailed)]
    if failed and len(failed) == len(answers):
        raise CLIError(f"--prometheus: every query failed; the first: {failed[0].message}")
    matrix, replicas_query = _actual_replicas(source, args.replicas_query, namespace, name, start, times[-1], interval)
    learned, rebuilt_note = _rebuilt_state(source, isvc, policy, window, labels, start, interval)
    result = replay(
        isvc,
        policy,
        plan,
        answers,
        times,
        series_at(matrix, times),
        cold_start_seconds=args.cold_start,
        price_per_replica_hour=float(price),
        currency=currency,
        learned=learned,
        window_seconds=window_seconds(window),
    )
    report = {
        "command": shlex.join(["inferop", "backtest", *_argv(args)]),
        "isvc": f"{namespace}/{name}",
        "prometheus": url,
        "start": _iso(start),
        "end": _iso(end),
        "policy": policy_source,
        "rate_window": window,
        "price": price_note,
        "cold_start_seconds": args.cold_start,
        "replicas_query": replicas_query,
        "learned_state": rebuilt_note,
        "queries": [q.promql for q in plan.queries],
        "failed_queries": [a.message for a in failed],
        "summary": result.summary(),
        "steps": [s.to_json() for s in result.steps],
    }
    text = markdown(report, result)
    print(text)
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "backtest.json").write_text(json.dumps(report, indent=2) + "\n")
            (out / "backtest.md").write_text(text + "\n")
            plot(result, isvc, out / "backtest.png")
        except OSError as err:
            raise CLIError(f"--out: cannot write {out}: {err.strerror} (the report is printed above)") from None
        print(f"wrote {out / 'backtest.json'}, {out / 'backtest.md'}, {out / 'backtest.png'}")
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    parts = ["--isvc", args.isvc, "--start", args.start, "--end", args.end]
    for flag, value in (
        ("--prometheus", args.prometheus),
        ("--policy", args.policy),
        ("--replicas-query", args.replicas_query),
        ("--out", args.out),
    ):
        if value:
            parts += [flag, value]
    if args.cold_start != DEFAULT_COLD_START:
        parts += ["--cold-start", f"{args.cold_start:g}"]
    return parts


def markdown(report: dict[str, Any], result: Result) -> str:
    """The report a reader sees: the totals, then every step where the projection changed."""
    s = report["summary"]
    ratio = f"{s['ratio']:.2f}x" if s["ratio"] is not None else "n/a (nothing ran)"
    lines = [
        f"# Backtest of {report['isvc']}: {report['start']} to {report['end']}",
        "",
        f"`{report['command']}`",
        "",
        f"- policy: {report['policy']}; {s['steps']} decisions every {s['interval_seconds']:g} s; "
        f"rate window {report['rate_window']}; cold start {report['cold_start_seconds']:g} s",
        f"- what ran: `{report['replicas_query']}`",
        f"- learned state at --start: {report.get('learned_state', 'not rebuilt')}",
        f"- GPU-hours: actually ran **{s['actual_gpu_hours']:.2f}**, inferop projected "
        f"**{s['projected_gpu_hours']:.2f}** ({ratio}); cost {s['actual_cost']:.2f} -> {s['projected_cost']:.2f} "
        f"{s['currency']} ({report['price']})",
        f"- projected scale events: {s['scale_events']}; reasons: "
        + ", ".join(f"{k} {v}" for k, v in s["reasons"].items()),
        f"- optimistic steps (projected fewer replicas than ran, judged by the larger fleet's latency): "
        f"{s['optimistic_steps']} of {s['steps']}",
    ]
    if s["steps_without_actual_replicas"]:
        lines.append(f"- steps without a replicas sample (charged 0 as actual): {s['steps_without_actual_replicas']}")
    if report["failed_queries"]:
        lines.append(f"- failed queries (their signals read as missing): {'; '.join(report['failed_queries'])}")
    lines += ["", "| time | ran | inferop | reason | message |", "|---|---:|---:|---|---|"]
    previous: tuple[int, str] | None = None
    for step in result.steps:
        if (step.projected, step.reason) == previous:
            continue
        previous = (step.projected, step.reason)
        message = step.message.replace("|", "/")
        ran = "-" if step.actual is None else str(step.actual)
        lines.append(f"| {_iso(step.time)} | {ran} | {step.current} -> {step.projected} | {step.reason} | {message} |")
    return "\n".join(lines)


def plot(result: Result, isvc: InferenceService, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = result.steps[0].time if result.steps else 0.0
    hours = [(s.time - t0) / 3600 for s in result.steps]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.step(
        hours,
        [s.actual if s.actual is not None else float("nan") for s in result.steps],
        where="post",
        label="actually ran",
    )
    ax1.step(hours, [s.projected for s in result.steps], where="post", label="inferop (projected)")
    ax1.set_ylabel("replicas")
    ax1.legend(loc="upper right")
    latency = [s.latency_ms if s.latency_ms is not None else float("nan") for s in result.steps]
    ax2.plot(hours, latency, lw=0.8, label="observed latency")
    slo = isvc.spec.autoscaling.slo if isvc.spec.autoscaling else None
    if slo is not None:
        ax2.axhline(slo.latency.target_milliseconds, color="red", ls="--", label="SLO")
    ax2.set_ylabel("ms")
    ax2.set_xlabel("hours from --start")
    ax2.legend(loc="upper right")
    fig.suptitle(f"backtest {isvc.namespace}/{isvc.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
