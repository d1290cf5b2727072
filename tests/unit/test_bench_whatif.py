"""The bench's what-ifs of the planner (bench/whatif.py) and their runner and report (bench/run.py).

Covers: a prior variant sets ``spec.autoscaling.capacity`` to its factor times the reference (tokens/s
a whole number, requests/s a decimal string) and refuses to run without one; the runner replays the
prior variants after ``default`` with its final capacity estimate as their reference, and selecting a
prior variant brings ``default``; a variant's PlannerTuning and CostPolicy reach the real decide();
no run changes a module global of the planner or the simulator's policies; the report judges issue
14's prior goal (attainment at the goal and GPU-hours at most 1.10x the learned-only run's).
"""

from __future__ import annotations

import random
import types
from pathlib import Path
from typing import Any

import pytest
from bench import whatif
from bench.whatif import DEFAULT, VARIANTS, Reference, replay

import inferop.cost.bounds
import inferop.cost.capacity
import inferop.cost.decide
import inferop.cost.forecast
import inferop.cost.guard
import inferop.cost.plan
import inferop.cost.reading
import inferop.cost.stabilize
import inferop.cost.tuning
import inferop.sim.policies as policies
from inferop.api.inferenceservice import Autoscaling
from inferop.cli.files import load_profile
from inferop.sim.profile import DEFAULT_PROFILE
from inferop.sim.run import default_autoscaling
from inferop.sim.trace import Trace

PLANNER_MODULES = (
    inferop.cost.decide,
    inferop.cost.capacity,
    inferop.cost.forecast,
    inferop.cost.guard,
    inferop.cost.stabilize,
    inferop.cost.bounds,
    inferop.cost.reading,
    inferop.cost.plan,
    inferop.cost.tuning,
    policies,
    whatif,
)
SLO_MS = 5000
WARMUP = 600.0


def _arrivals(minutes: int = 40, seed: int = 3) -> list[tuple[float, int, int]]:
    """A quiet start, a busy middle, a quiet end: enough steady intervals to learn a capacity."""
    rng = random.Random(seed)
    out: list[tuple[float, int, int]] = []
    t = 0.0
    while True:
        busy = minutes * 20 < t < minutes * 40
        t += rng.expovariate(30.0 if busy else 10.0)
        if t >= minutes * 60:
            return out
        out.append((t, rng.randint(50, 800), rng.randint(20, 300)))


def _trace() -> Trace:
    arrivals = _arrivals()
    return Trace(
        "whatif",
        "requests",
        [a for a, _, _ in arrivals],
        [i for _, i, _ in arrivals],
        [o for _, _, o in arrivals],
        2400.0,
        [],
        "as recorded",
    )


def _replay(name: str, reference: Reference | None = None) -> dict[str, Any]:
    profile = load_profile(DEFAULT_PROFILE)
    return replay(name, _trace(), profile, slo_ms=SLO_MS, percentile=95, warmup=WARMUP, reference=reference)


def _snapshot(module: types.ModuleType) -> dict[str, Any]:
    return dict(vars(module))


def test_a_prior_variant_sets_the_prior_to_its_factor_times_the_reference() -> None:
    base = default_autoscaling(SLO_MS, 95)
    tokens = Reference(4000.0, "tokens", "learned", 12)
    wanted = {"prior:exact": 4000, "prior:+30%": 5200, "prior:-30%": 2800}
    for name, value in wanted.items():
        capacity = VARIANTS[name].autoscaling(base, tokens).capacity
        assert capacity is not None and capacity.tokens_per_second_per_replica == value, name
        assert capacity.requests_per_second_per_replica is None
    requests = VARIANTS["prior:-30%"].autoscaling(base, Reference(2.5, "requests", "learned", 3)).capacity
    assert requests is not None and requests.requests_per_second_per_replica == "1.7500"
    assert requests.per_replica("requests") == pytest.approx(1.75)
    # The result is still a valid spec (what the operator would accept).
    assert Autoscaling.model_validate(VARIANTS["prior:+30%"].autoscaling(base, tokens).model_dump(by_alias=True))
    assert VARIANTS[DEFAULT].autoscaling(base, tokens).capacity is None
    with pytest.raises(ValueError, match="reference"):
        VARIANTS["prior:+30%"].autoscaling(base, None)


def test_the_reference_is_the_default_runs_final_capacity_and_no_run_changes_a_module_global() -> None:
    before = {module.__name__: _snapshot(module) for module in PLANNER_MODULES}
    learned = _replay(DEFAULT)
    assert learned["capacity"] is not None and learned["capacity"]["source"] == "learned"
    reference = Reference.of(learned["capacity"])
    assert reference is not None and reference.unit == "tokens"  # the simulator exports token counters
    high = _replay("prior:+30%", reference)
    assert high["prior"] == {
        "factor": 1.3,
        "perReplica": float(round(1.3 * learned["capacity"]["perReplica"])),
        "unit": "tokens",
        "reference": learned["capacity"]["perReplica"],
    }
    for name in VARIANTS:
        _replay(name, reference if VARIANTS[name].needs_reference else None)
    # The same replay again gives the same numbers: nothing a variant set stayed behind.
    assert _replay(DEFAULT) == learned
    for module in PLANNER_MODULES:
        after = _snapshot(module)
        assert after.keys() == before[module.__name__].keys(), module.__name__
        changed = [k for k, v in after.items() if v is not before[module.__name__][k]]
        assert not changed, f"{module.__name__}: {changed} changed"


def test_a_variants_tuning_and_cost_policy_reach_the_real_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    real = policies.decide

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(policies, "decide", spy)
    _replay("no-probe")
    assert seen and all(kw["tuning"].probe_factor == 1.0 for kw in seen)
    assert all(kw["tuning"].forecast and kw["tuning"].sampling_z > 0 for kw in seen)  # the rest the default's
    seen.clear()
    _replay("no-forecast")
    assert seen and all(kw["tuning"] is None and not kw["policy"].planner.forecast for kw in seen)
    seen.clear()
    _replay("prior:-30%", Reference(3000.0, "tokens", "learned", 5))
    assert seen and all(kw["autoscaling"].capacity.tokens_per_second_per_replica == 2100 for kw in seen)


def test_the_runner_replays_the_prior_variants_with_the_default_runs_capacity(tmp_path: Path) -> None:
    from bench import run as bench_run

    assert bench_run.whatif_names("prior:-30%") == [DEFAULT, "prior:-30%"]
    assert bench_run.whatif_names() == list(VARIANTS)
    with pytest.raises(ValueError, match="unknown what-if no-such"):
        bench_run.whatif_names("no-such")
    path = tmp_path / "whatif.csv"
    path.write_text("arrival_s,input_tokens,output_tokens\n" + "".join(f"{a:.6f},{i},{o}\n" for a, i, o in _arrivals()))
    variant = bench_run.Variant("whatif", path, "requests", warmup=WARMUP)
    out = bench_run.whatifs([(variant, SLO_MS)], jobs=1, names=bench_run.whatif_names("prior:+30%,no-probe"))
    assert set(out["whatif"]) == {DEFAULT, "prior:+30%", "no-probe"}
    learned = out["whatif"][DEFAULT]["capacity"]["perReplica"]
    assert out["whatif"]["prior:+30%"]["prior"]["reference"] == learned
    assert out["whatif"]["prior:+30%"]["prior"]["perReplica"] == round(1.3 * learned)


def _rows(lines: list[str]) -> dict[str, str]:
    """The prior table's rows by their variant (the third cell)."""
    rows = [line for line in lines if line.startswith("|") and not line.startswith(("| trace", "|---"))]
    return {[cell.strip() for cell in line.strip("|").split("|")][2]: line for line in rows}


def test_the_report_judges_the_prior_goal() -> None:
    from bench import run as bench_run

    capacity = {"perReplica": 4000.0, "unit": "tokens", "source": "learned", "points": 10}

    def numbers(gpu_hours: float, attainment: float, factor: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"gpu_hours": gpu_hours, "slo_attainment": attainment, "capacity": capacity}
        if factor is not None:
            out["prior"] = {"factor": factor, "perReplica": 4000 * factor, "unit": "tokens", "reference": 4000.0}
        return out

    results = {
        "t": {
            DEFAULT: numbers(10.0, 0.96),
            "prior:+30%": numbers(11.5, 0.97, 1.3),  # 1.15x the learned-only run: misses
            "prior:-30%": numbers(10.9, 0.955, 0.7),  # 1.09x, at the goal: holds
        }
    }
    lines = _rows(bench_run._prior_table(["t"], results))
    assert lines[DEFAULT].endswith("| yes |")
    assert lines["prior:+30%"].endswith("| **no** |") and "| 1.15 |" in lines["prior:+30%"]
    assert lines["prior:-30%"].endswith("| yes |")
    results["t"]["prior:-30%"] = numbers(9.0, 0.94, 0.7)  # cheaper but under the goal: misses
    lines = _rows(bench_run._prior_table(["t"], results))
    assert lines["prior:-30%"].endswith("| **no** |")
