"""Scale to zero in the simulator (issue 16): GPU-hours saved against the same policy with
``minReplicas: 1``, and the SLO attainment it costs.

    .venv/bin/python bench/zero.py [--days 3] [--seed 1] [--slo-ms 5000] [--out bench/results]

The trace (stated in the report): a sparse, seeded per-request trace of a dev/test endpoint with idle
hours: each day a few working sessions (3 by default, 30-90 minutes each, starting between 08:00 and
18:00) of Poisson arrivals at 0.1-1 request/s, and nothing else (nights and the gaps between sessions
are idle). Token counts: log-normal as in ``sim/trace.py`` (median 760 in, 151 out), clipped.

Policies, all on the shipped ``llama-8b-h100`` profile (cold start 120 s) and the default CostPolicy:
- ``inferop`` with ``minReplicas: 1`` (the baseline to save against);
- ``inferop`` with ``minReplicas: 0`` and ``scaleToZero.idleSeconds`` 60, 300 (the default) and 900;
- Knative's KPA (target concurrency 8) with ``minScale: 1`` and with its own scale to zero (stable
  window 60 s + 30 s grace).

The first request after zero waits one cold start (held, as by the activator) and counts against the
SLO. Writes ``<out>/zero.json`` and ``<out>/zero.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from inferop.api.costpolicy import CostPolicySpec  # noqa: E402
from inferop.api.inferenceservice import Autoscaling  # noqa: E402
from inferop.cli.files import load_profile  # noqa: E402
from inferop.sim.policies import InferopPolicy, make_baseline  # noqa: E402
from inferop.sim.profile import DEFAULT_PROFILE  # noqa: E402
from inferop.sim.run import Policy, RunResult, run, run_config  # noqa: E402
from inferop.sim.trace import Trace  # noqa: E402
from inferop.sim.zero import KPA_IDLE_SECONDS, ZeroPolicy  # noqa: E402

KPA_TARGET = 8.0


def sparse_trace(days: int, seed: int, sessions: int = 3) -> tuple[Trace, list[tuple[float, float, float]]]:
    rng = random.Random(seed)
    arrival: list[float] = []
    spans: list[tuple[float, float, float]] = []
    for day in range(days):
        for _ in range(sessions):
            start = day * 86400 + rng.uniform(8 * 3600, 18 * 3600)
            length = rng.uniform(30 * 60, 90 * 60)
            rate = rng.uniform(0.1, 1.0)
            spans.append((start, length, rate))
            t = start
            while True:
                t += rng.expovariate(rate)
                if t >= start + length:
                    break
                arrival.append(t)
    arrival.sort()
    inputs = [min(16384, max(1, round(math.exp(rng.gauss(6.633, 0.985))))) for _ in arrival]
    outputs = [min(4096, max(1, round(math.exp(rng.gauss(5.019, 0.859))))) for _ in arrival]
    trace = Trace("sparse-dev", "requests", arrival, inputs, outputs, float(days * 86400), [], "synthetic, seeded")
    return trace, sorted(spans)


def autoscaling(slo_ms: float, idle: int | None) -> Autoscaling:
    spec: dict[str, Any] = {
        "minReplicas": 1 if idle is None else 0,
        "maxReplicas": 8,
        "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": int(slo_ms)}},
    }
    if idle is not None:
        spec["scaleToZero"] = {"idleSeconds": idle}
    return Autoscaling.model_validate(spec)


def one(trace: Trace, name: str, policy: Policy, slo_ms: float, idle: int | None) -> dict[str, Any]:
    profile = load_profile(str(ROOT / "operator" / "inferop" / "sim" / "profiles" / f"{DEFAULT_PROFILE}.yaml"))
    config = run_config(slo_ms, 95, autoscaling(slo_ms, idle), CostPolicySpec())
    started = time.monotonic()
    result: RunResult = run(trace, profile, policy, config)
    zeros = getattr(policy, "zeros", 0)
    wakes = getattr(policy, "wakes", 0)
    return {
        "policy": name,
        "gpu_hours": round(result.gpu_hours, 3),
        "cost_usd": round(result.cost_usd, 2),
        "slo_attainment": round(result.slo_attainment, 5),
        "p95_ms": round(result.p95_ms),
        "p99_ms": round(result.p99_ms),
        "requests": result.requests,
        "scale_events": result.scale_events,
        "zeros": zeros,
        "wakes": wakes,
        "seconds": round(time.monotonic() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slo-ms", type=float, default=5000.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    trace, spans = sparse_trace(args.days, args.seed)
    busy_hours = sum(length for _, length, _ in spans) / 3600
    rows = [
        one(trace, "inferop, minReplicas 1", InferopPolicy(), args.slo_ms, None),
        *(
            one(trace, f"inferop, scaleToZero idleSeconds {idle}", ZeroPolicy(InferopPolicy(), float(idle)),
                args.slo_ms, idle)
            for idle in (60, 300, 900)
        ),
        one(trace, f"kpa (target {KPA_TARGET:g}), minScale 1", make_baseline("kpa", KPA_TARGET), args.slo_ms, None),
        one(trace, f"kpa (target {KPA_TARGET:g}), scale to zero", ZeroPolicy(
            make_baseline("kpa", KPA_TARGET), KPA_IDLE_SECONDS, mode="concurrency"), args.slo_ms, 300),
    ]
    base = rows[0]
    kpa_base = rows[4]
    for row in rows:
        ref = kpa_base if row["policy"].startswith("kpa") else base
        row["gpu_hours_saved"] = round(ref["gpu_hours"] - row["gpu_hours"], 3)
        row["attainment_cost_points"] = round((ref["slo_attainment"] - row["slo_attainment"]) * 100, 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "trace": f"sparse-dev: {args.days} days, seed {args.seed}, {len(trace.arrival)} requests in {len(spans)} "
                 f"sessions ({busy_hours:.1f} busy hours of {args.days * 24})",
        "profile": DEFAULT_PROFILE, "slo": f"p95 e2e <= {args.slo_ms:g} ms", "kpa_idle_seconds": KPA_IDLE_SECONDS,
    }
    (out / "zero.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = [
        "# Scale to zero: GPU-hours saved and the attainment it costs (simulated)",
        "",
        f"Generated by `make bench-zero` (`bench/zero.py`). Trace: {meta['trace']}; profile `{DEFAULT_PROFILE}`"
        f" (cold start 120 s); SLO {meta['slo']}; default CostPolicy. Savings are against the same policy with"
        " `minReplicas: 1` (KPA against KPA with `minScale: 1`). The first request after zero waits one cold"
        " start, held (as by the activator), and counts against the SLO.",
        "",
        "| policy | GPU-hours | saved | $ | SLO attainment | cost (points) | p95 ms | p99 ms | to zero | wakes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['policy']} | {r['gpu_hours']:.2f} | {r['gpu_hours_saved']:.2f} | {r['cost_usd']:.2f} | "
            f"{r['slo_attainment'] * 100:.2f}% | {r['attainment_cost_points']:.2f} | {r['p95_ms']} | {r['p99_ms']} | "
            f"{r['zeros']} | {r['wakes']} |"
        )
    lines += [
        "",
        "How to read it: a service busy a few hours a day pays for the idle hours at `minReplicas: 1`; at zero",
        "it pays only while a pod runs (idleSeconds + the rate window after the last request, plus one cold",
        "start per wake). The price is the requests that arrive while it is at zero or waking: each waits up",
        "to one cold start. A longer idleSeconds wakes less often (fewer slow requests) and saves less.",
        "",
    ]
    (out / "zero.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
