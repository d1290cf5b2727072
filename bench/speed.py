"""How fast the simulator is: one policy run over the first ServeGen day at a mean of 20 requests/s.

Not part of the operator. ``bench/analysis.md`` quotes it (timed as a whole process, several runs):

    .venv/bin/python bench/speed.py none          # only draws the trace (rate x0.072, 1.74 M requests)
    .venv/bin/python bench/speed.py static:5      # draws it, then runs one policy (NAME:TARGET, or inferop)

A policy's run time is the second command's CPU time minus the first's; the script also prints both
parts, measured inside the process.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import default_traces  # noqa: E402  # bench/run.py

from inferop.api.costpolicy import CostPolicySpec  # noqa: E402
from inferop.sim.run import default_autoscaling, run_config  # noqa: E402
from inferop.sim.compare import configured  # noqa: E402
from inferop.sim.run import run  # noqa: E402
from inferop.cli.files import load_profile, load_trace  # noqa: E402

TRACE = default_traces() / "servegen_m-large_rate_10min.csv"


def main() -> int:
    spec = sys.argv[1] if len(sys.argv) > 1 else "none"
    started = time.process_time()
    trace = load_trace(sys.argv[2] if len(sys.argv) > 2 else TRACE, rate_scale=0.072, duration=86400.0)
    drawn = time.process_time()
    if spec == "none":
        print(f"draw {drawn - started:.2f} CPU-s ({len(trace):,} requests)", file=sys.stderr)
        return 0
    name, _, target = spec.partition(":")
    config = run_config(10000.0, 95, default_autoscaling(10000, 95), CostPolicySpec())
    policy, config = configured(name, float(target) if target else None, replace(config, initial_replicas=2))
    result = run(trace, load_profile(), policy, config, record=False)
    print(
        f"{spec}: draw {drawn - started:.2f} CPU-s, run {time.process_time() - drawn:.2f} CPU-s; "
        f"{result.gpu_hours:.3f} GPU-h, attainment {result.slo_attainment:.5f}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
