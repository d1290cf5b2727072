"""The decision-phase measurement (bench/phase.py) and the simulator knobs it turns.

Covers: the phases tried start at the bench's own (``CONTROLLER_PHASE``) and span one interval; a bad
step is refused with the flag named; the replay at the bench's phase is the bench's run, and other
phases put every decision at ``phase + k x interval``; the best baseline with hindsight is the cheapest
one tuned on the scored period that meets the goal; a trace's row lists the phases that miss it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from bench import phase
from bench.whatif import DEFAULT, replay

from inferop.api.costpolicy import CostPolicySpec
from inferop.cli.files import load_profile
from inferop.sim.policies import InferopPolicy
from inferop.sim.profile import DEFAULT_PROFILE
from inferop.sim.run import CONTROLLER_PHASE, default_autoscaling, run, run_config
from inferop.sim.trace import Trace

SLO_MS = 5000


def _trace(minutes: int = 30, seed: int = 5) -> Trace:
    rng = random.Random(seed)
    arrival: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(25.0 if minutes * 15 < t < minutes * 35 else 8.0)
        if t >= minutes * 60:
            break
        arrival.append(t)
    inputs = [rng.randint(50, 800) for _ in arrival]
    outputs = [rng.randint(20, 300) for _ in arrival]
    return Trace("phase", "requests", arrival, inputs, outputs, minutes * 60.0, [], "as recorded")


def test_the_phases_start_at_the_benchs_own_and_span_one_interval() -> None:
    assert phase.phases(30.0, 5.0) == [CONTROLLER_PHASE + k * 5 for k in range(6)]
    assert phase.phases(30.0, 7.0) == [7.0, 14.0, 21.0, 28.0, 35.0]
    assert phase.phases(60.0, 30.0, first=0.0) == [0.0, 30.0]
    with pytest.raises(ValueError, match="--step"):
        phase.phases(30.0, 0.0)


def test_the_replay_at_the_benchs_phase_is_the_benchs_run_and_decisions_follow_the_phase() -> None:
    trace, profile = _trace(), load_profile(DEFAULT_PROFILE)
    kwargs: dict[str, Any] = {"slo_ms": SLO_MS, "percentile": 95, "warmup": 300.0}
    bench_run = replay(DEFAULT, trace, profile, **kwargs)
    assert replay(DEFAULT, trace, profile, phase=CONTROLLER_PHASE, **kwargs) == bench_run

    config = run_config(float(SLO_MS), 95, default_autoscaling(SLO_MS, 95), CostPolicySpec(), 300.0)
    interval = CostPolicySpec().interval_seconds
    for shift in (1.0, 16.0, 29.0):
        policy = InferopPolicy(first_decision=shift)
        run(trace, profile, policy, replace(config, controller_phase=shift % policy.period))
        times = [t for t, _, _ in policy.decisions]
        assert times and times[0] == pytest.approx(shift)
        assert all((t - shift) % interval == pytest.approx(0.0, abs=1e-6) for t in times), shift
    # The default decides at the simulator's controller phase, every interval.
    policy = InferopPolicy()
    run(trace, profile, policy, config)
    assert policy.decisions[0][0] == pytest.approx(CONTROLLER_PHASE)


def test_the_best_baseline_with_hindsight_is_the_cheapest_scored_one_meeting_the_goal() -> None:
    keys = ("policy", "tuned_on", "tuned_target", "gpu_hours", "slo_attainment", "seed")
    rows = [
        ("inferop", None, None, 1.0, 0.99, 0),
        ("static", "scored", 4, 3.0, 0.96, 0),
        ("kpa", "scored", 8, 2.0, 0.94, 0),
        ("hpa", "past", 60, 2.5, 0.97, 0),
        ("static", "scored", 3, 2.2, 0.95, 1),
    ]
    summary = [dict(zip(keys, row, strict=True)) for row in rows]
    assert phase.best_hindsight(summary) == ("static (4)", 3.0)
    assert phase.best_hindsight(summary, seed=1) == ("static (3)", 2.2)
    assert phase.best_hindsight(summary, seed=2) is None


def test_a_traces_row_lists_the_phases_that_miss_the_goal() -> None:
    runs = [
        {"phase": 7.0, "gpu_hours": 3.0, "slo_attainment": 0.96},
        {"phase": 12.0, "gpu_hours": 3.3, "slo_attainment": 0.93},
        {"phase": 17.0, "gpu_hours": 2.7, "slo_attainment": 0.951},
    ]
    row = phase.summarize("t", runs, ("static (4)", 3.0))
    assert row["missed"] == [12.0]
    assert row["gpu_hours"] == {"min": 2.7, "median": 3.0, "max": 3.3}
    assert row["ratio"]["max"] == pytest.approx(1.1)
    text = phase.report([row], 5.0, 30.0, 1.0)
    assert "| t | 2.70 / 3.00 / 3.30 | 0.9300 / 0.9510 / 0.9600 | 1 of 3: 12 s | 0.90 / 1.00 / 1.10 |" in text
    assert "| 12 s | 3.30 / 0.9300 - |" in text and "| 7 s | 3.00 / 0.9600 |" in text
    assert phase.summarize("t", runs, None).get("ratio") is None


def test_a_bad_step_is_refused_with_the_flag_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert phase.main(["--step", "0", "--out", "/nonexistent"]) == 2
    assert "--step: must be a positive number of seconds" in capsys.readouterr().err
    assert phase.main(["--only", "nope", "--out", "/nonexistent"]) == 2
    assert "--only: no one-hour trace named nope" in capsys.readouterr().err
