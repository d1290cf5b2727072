"""Where a bench run misses its SLO: the trace's requests that miss it, per 5-minute bucket of arrival.

Not part of the operator. ``bench/analysis.md`` quotes it to show where a policy spends its error budget
(for example the first burst of ``azure2023_conv-x8``):

    .venv/bin/python bench/misses.py azure2023_conv-x8            # inferop, the bench's replay
    .venv/bin/python bench/misses.py azure2023_conv-x8 kpa:14     # a baseline at a target

Each number is the share of the scored requests (those after the bench's burn-in) that arrived in that
bucket and missed the SLO, so the numbers add up to 1 - attainment (the burn-in's buckets show 0).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402  # bench/run.py

from inferop.api.costpolicy import CostPolicySpec  # noqa: E402
from inferop.sim import run as sim_run  # noqa: E402
from inferop.sim.run import default_autoscaling, run_config  # noqa: E402
from inferop.sim.compare import configured  # noqa: E402
from inferop.sim.oracle import first_interval_replicas  # noqa: E402
from inferop.cli.files import load_profile  # noqa: E402
from inferop.sim.profile import DEFAULT_PROFILE  # noqa: E402

BUCKET_SECONDS = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("variant", help="a bench trace variant, e.g. azure2023_conv-x8")
    parser.add_argument("policy", nargs="?", default="inferop", help="inferop, or NAME:TARGET for a baseline")
    parser.add_argument("--traces", type=Path, default=bench.default_traces())
    args = parser.parse_args()
    found = [v for v in bench.variants(args.traces) if v.name == args.variant]
    if not found:
        names = ", ".join(v.name for v in bench.variants(args.traces))
        parser.error(f"variant: no trace variant {args.variant!r}; one of: {names}")
    trace = found[0].load()
    slo, _ = bench.slo_ms(trace, DEFAULT_PROFILE)
    profile = load_profile(DEFAULT_PROFILE)
    autoscaling = default_autoscaling(slo, bench.PERCENTILE)
    config = run_config(float(slo), bench.PERCENTILE, autoscaling, CostPolicySpec(), found[0].warmup)
    config = replace(config, initial_replicas=config.clamp(first_interval_replicas(trace, profile, config)))
    name, _, target = args.policy.partition(":")
    if name != "inferop" and not target:
        parser.error(f"policy: {args.policy!r} needs a target, e.g. kpa:14")
    policy, config = configured(name, float(target) if target else None, config)

    latencies: list[float] = []
    result = sim_run.run(trace, profile, policy, config, record=False, scored_latencies=latencies)
    scored = trace.arrival[len(trace.arrival) - len(latencies) :]
    total = len(scored)
    buckets = int(max(trace.arrival) // BUCKET_SECONDS) + 1
    missed = [0] * buckets
    for arrival, latency in zip(scored, latencies, strict=True):
        if not latency * 1000 <= slo:
            missed[int(arrival // BUCKET_SECONDS)] += 1
    print(f"{args.variant} {args.policy}: {result.gpu_hours:.2f} GPU-h, attainment {result.slo_attainment:.4f}")
    print(
        f"% of the {total} scored requests (after the {config.warmup:g} s burn-in) missing the {slo} ms SLO, "
        f"per {BUCKET_SECONDS // 60} minutes of the trace:"
    )
    print(" ".join(f"{100 * m / total:.2f}" for m in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
