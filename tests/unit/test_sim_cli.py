"""``inferop simulate`` end to end (inferop.cli.simulate) on a tiny generated trace.

Covers: the subcommand's registration (``add_parser`` sets ``func=run_simulate``); a full comparison
writing summary.json with exactly the specified keys, one row per policy (inferop, oracle and every
baseline variant) with tuned_target null only for inferop and the oracle, summary.md, sweep.json and
one PNG per policy; the same seed giving the same summary; both trace formats; an InferenceService
and a CostPolicy read from files; bad input raising CLIError whose message starts with the flag.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import pytest

from inferop.cli import main as inferop_main
from inferop.cli.errors import CLIError
from inferop.cli.simulate import add_parser, run_simulate
from inferop.sim.report import SUMMARY_KEYS
from inferop.sim.trace import RATE_HEADER, REQUEST_HEADER


def main(argv: list[str]) -> int:
    return inferop_main(["simulate", *argv])


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inferop")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["simulate", *argv])


#: The tiny trace's burst starts at 200 s: the first three minutes are the burn-in (the "past").
WARMUP = ["--warmup", "180"]


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes of requests: 1/s, then 15/s for three minutes, then 1/s again."""
    rng = random.Random(11)
    rows, t = [], 0.0
    while t < 600:
        t += rng.expovariate(15.0 if 200 < t < 380 else 1.0)
        rows.append(f"{t:.4f},{rng.randint(200, 2000)},{rng.randint(10, 200)}")
    path = tmp_path_factory.mktemp("trace") / "tiny.csv"
    path.write_text(",".join(REQUEST_HEADER) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def compared(trace_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    argv = ["--trace", str(trace_file), "--slo-ms", "5000", "--compare", "hpa,keda,kpa,static", *WARMUP]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def test_add_parser_registers_simulate() -> None:
    args = parse(["--trace", "t.csv", "--slo-ms", "500", "--out", "o"])
    assert args.func is run_simulate
    assert (args.percentile, args.seed, args.compare) == (95, 0, "")


BASELINE_ROWS = [(b, t) for b in ("hpa", "keda-latency", "keda-queue", "kpa", "static") for t in ("past", "scored")]


def test_summary_json_has_one_row_per_policy_and_tuning_with_exactly_the_keys(compared: Path) -> None:
    rows = json.loads((compared / "summary.json").read_text())
    assert [(r["policy"], r["tuned_on"]) for r in rows] == [("inferop", None), ("oracle", None), *BASELINE_ROWS]
    for row in rows:
        assert tuple(row) == SUMMARY_KEYS
        assert set(row) == {
            "policy", "tuned_target", "tuned_on", "gpu_hours", "cost_usd", "slo_attainment",
            "p95_ms", "p99_ms", "scale_events", "trace", "seed", "warmup_s", "scored_s",
        }  # fmt: skip
        assert row["trace"] == "tiny" and row["seed"] == 0
        assert (row["warmup_s"], row["scored_s"]) == (180, 602 - 180)
        assert row["gpu_hours"] > 0 and 0 <= row["slo_attainment"] <= 1
        assert row["cost_usd"] == pytest.approx(row["gpu_hours"] * 4.10, abs=0.01)
        assert (row["tuned_target"] is None) == (row["policy"] in ("inferop", "oracle"))
    oracle = rows[1]
    assert all(oracle["gpu_hours"] <= r["gpu_hours"] for r in rows if r["slo_attainment"] >= 0.95)
    # Tuned on a quiet past, static keeps fewer replicas than the burst needs: it misses the goal.
    static = {r["tuned_on"]: r for r in rows if r["policy"] == "static"}
    assert static["past"]["tuned_target"] < static["scored"]["tuned_target"]
    assert static["past"]["slo_attainment"] < 0.95 <= static["scored"]["slo_attainment"]


def test_outputs_include_the_table_the_sweeps_and_a_plot_per_policy(compared: Path) -> None:
    table = (compared / "summary.md").read_text()
    assert "| policy | tuned on | tuned target | GPU-hours |" in table and "- the oracle: **" in table
    assert "the best baseline tuned on the past" in table and "static tuned on the past" in table
    sweeps = json.loads((compared / "sweep.json").read_text())
    assert set(sweeps) == {"past", "scored"}
    for tuning in sweeps.values():
        assert set(tuning) == {"hpa", "keda-latency", "keda-queue", "kpa", "static"}
        assert all(len(s["tried"]) >= 2 for s in tuning.values())
    plots = ["inferop", "oracle", *(f"{b}-{t}" for b, t in BASELINE_ROWS)]
    for name in plots:
        assert (compared / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_same_seed_gives_the_same_summary(trace_file: Path, compared: Path, tmp_path: Path) -> None:
    argv = ["--trace", str(trace_file), "--slo-ms", "5000", "--compare", "hpa,keda,kpa,static", *WARMUP]
    assert main([*argv, "--out", str(tmp_path), "--no-plots", "--jobs", "2"]) == 0
    assert (tmp_path / "summary.json").read_text() == (compared / "summary.json").read_text()


def test_rate_traces_isvc_and_policy_files_are_read(tmp_path: Path) -> None:
    trace = tmp_path / "rates.csv"
    trace.write_text(",".join(RATE_HEADER) + "\nm,0,2.0,3,1.0,1.5\nm,600,6.0,3,3.0,2.0\n")
    isvc = tmp_path / "isvc.yaml"
    isvc.write_text(
        "apiVersion: inferop.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: chat}\n"
        "spec:\n  model: {uri: hf://org/m}\n  resources: {gpu: {class: h100, count: 1}}\n"
        "  autoscaling: {minReplicas: 1, maxReplicas: 6, slo: {latency: {metric: ttft, targetMilliseconds: 1}}}\n"
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: inferop.dev/v1alpha1\nkind: CostPolicy\nmetadata: {name: p}\nspec: {intervalSeconds: 60}\n"
    )
    out = tmp_path / "out"
    argv = ["--trace", str(trace), "--slo-ms", "1000", "--isvc", str(isvc), "--policy", str(policy), "--seed", "3"]
    assert main([*argv, "--rerun-seeds", "4", "--out", str(out), "--no-plots"]) == 0
    rows = json.loads((out / "summary.json").read_text())
    assert [(r["policy"], r["seed"]) for r in rows] == [("inferop", 3), ("oracle", 3), ("inferop", 4), ("oracle", 4)]
    assert rows[0]["trace"] == "rates" and (rows[0]["warmup_s"], rows[0]["scored_s"]) == (900, 300)
    assert rows[0]["p99_ms"] != rows[2]["p99_ms"]  # another seed draws other arrivals
    table = (out / "summary.md").read_text()
    assert "p95 ttft latency <= 1000 ms" in table
    assert "Over seeds 3, 4 (median, range" in table
    parallel = tmp_path / "parallel"
    assert main([*argv, "--rerun-seeds", "4", "--out", str(parallel), "--no-plots", "--jobs", "2"]) == 0
    assert (parallel / "summary.json").read_bytes() == (out / "summary.json").read_bytes()


def rate_file(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(RATE_HEADER) + "\n" + "\n".join(rows) + "\n")
    return path


def test_a_multi_model_rate_trace_needs_a_category_and_replays_only_it(tmp_path: Path) -> None:
    a_rows = ["m-small,0,1.0,3,1.0,1.5", "m-small,600,1.0,3,1.0,1.5"]
    b_rows = ["m-large,0,3.0,3,1.0,1.5", "m-large,600,6.0,3,3.0,2.0"]
    mixed = rate_file(tmp_path / "mixed" / "rates.csv", [a_rows[0], b_rows[0], a_rows[1], b_rows[1]])
    alone = rate_file(tmp_path / "alone" / "rates.csv", b_rows)
    argv = ["--slo-ms", "5000", "--warmup", "600", "--no-plots"]
    for trace, extra in ((mixed, ["--category", "m-large"]), (alone, [])):
        assert main(["--trace", str(trace), *argv, *extra, "--out", str(trace.parent / "out")]) == 0
    picked = json.loads((mixed.parent / "out" / "summary.json").read_text())
    assert picked == json.loads((alone.parent / "out" / "summary.json").read_text())
    cases = [
        ([], "^--category: .*the trace holds 2 categories \\(m-small, m-large\\); choose one with --category NAME"),
        (["--category", "m-tiny"], "^--category: .*'m-tiny' is not in the trace; categories found: m-small, m-large"),
    ]
    for extra, message in cases:
        args = parse(["--trace", str(mixed), *argv, *extra, "--out", str(tmp_path / "o")])
        with pytest.raises(CLIError, match=message):
            run_simulate(args)


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--slo-ms", "0"], "--slo-ms"),
        (["--slo-ms", "12.5"], "--slo-ms"),
        (["--percentile", "97"], "--percentile"),
        (["--compare", "hpa,vpa"], "--compare"),
        (["--rate-scale", "0"], "--rate-scale"),
        (["--jobs", "0"], "--jobs"),
        (["--profile", "no-such-gpu"], "--profile"),
        (["--warmup", "-1"], "--warmup"),
        (["--warmup", "602"], "--warmup"),
        (["--warmup", "0", "--compare", "static"], "--tune"),
        (["--warmup", "0", "--compare", "static", "--tune", "past"], "--tune"),
        (["--rerun-seeds", "1,x"], "--rerun-seeds"),
        (["--rerun-seeds", "0"], "--rerun-seeds"),
        (["--category", "m-large"], "--category"),
    ],
)
def test_bad_values_name_the_flag(trace_file: Path, tmp_path: Path, extra: list[str], flag: str) -> None:
    args = parse(["--trace", str(trace_file), "--slo-ms", "500", "--out", str(tmp_path), *extra])
    with pytest.raises(CLIError, match=f"^{flag}: "):
        run_simulate(args)


def test_bad_files_name_the_flag(tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    good.write_text(",".join(REQUEST_HEADER) + "\n1,10,10\n")
    bad_trace = tmp_path / "bad.csv"
    bad_trace.write_text("time,tokens\n1,2\n")
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        "apiVersion: inferop.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: x}\n"
        "spec: {model: {uri: hf://o/m}, replicas: 2}\n"
    )
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("kind: CostPolicy\nspec: {intervalSeconds: 1}\n")
    cases = [
        (["--trace", str(tmp_path / "missing.csv")], "--trace: .*cannot read file"),
        (["--trace", str(bad_trace)], "--trace: .*unknown header"),
        (["--trace", str(good), "--isvc", str(fixed)], "--isvc: .*spec.autoscaling is required"),
        (["--trace", str(good), "--isvc", str(tmp_path / "none.yaml")], "--isvc: .*cannot read file"),
        (["--trace", str(good), "--policy", str(bad_policy)], "--policy: .*spec.intervalSeconds"),
    ]
    for argv, message in cases:
        args = parse([*argv, "--slo-ms", "500", "--out", str(tmp_path / "o")])
        with pytest.raises(CLIError, match=f"^{message}"):
            run_simulate(args)


def test_main_prints_the_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--trace", str(tmp_path / "x.csv"), "--slo-ms", "100", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: --trace: ")


def test_without_the_compiled_core_simulate_says_how_to_install_it(
    trace_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "inferop_simcore", None)  # the operator image ships without it
    args = parse(["--trace", str(trace_file), "--slo-ms", "500", "--out", str(tmp_path)])
    with pytest.raises(CLIError, match=r"^simulate: .*inferop_simcore.*make install"):
        run_simulate(args)


THREE_MISTAKES_POLICY = "kind: CostPolicy\nspec: {intervalSeconds: 1, bogus: 2, prometheus: {url: 5}}\n"
THREE_MISTAKES_ISVC = (
    "apiVersion: inferop.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: x}\n"
    "spec: {model: {uri: 'ftp://x/y'}, resources: {gpu: {class: h100, count: 0}},\n"
    "       autoscaling: {minReplicas: 5, maxReplicas: 3}}\n"
)


@pytest.mark.parametrize(
    ("flag", "text", "paths"),
    [
        ("--policy", THREE_MISTAKES_POLICY, ["spec.intervalSeconds:", "spec.prometheus.url:", "spec.bogus:"]),
        ("--isvc", THREE_MISTAKES_ISVC, ["spec.model.uri", "spec.resources.gpu.count", "spec.autoscaling.minReplicas"]),
    ],
)
def test_every_problem_of_an_input_file_is_printed_with_its_path(
    trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, text: str, paths: list[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["--trace", str(trace_file), "--slo-ms", "500", flag, str(bad), "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"error: {flag}: {bad}: 3 problems:"
    assert [line.split()[0] for line in lines[1:]] == paths


def test_a_scale_to_zero_isvc_scales_inferop_and_kpa_to_zero_in_an_idle_gap(tmp_path: Path) -> None:
    """``--isvc`` with ``scaleToZero``: inferop and the KPA baseline go to zero in a long idle gap
    (sim/zero.py), so they cost less than the same trace with minReplicas 1."""
    rows = ["arrival_s,input_tokens,output_tokens"]
    rows += [f"{t},200,40" for t in range(0, 600, 5)] + [f"{7800 + t},200,40" for t in range(0, 600, 5)]
    trace = tmp_path / "sparse.csv"
    trace.write_text("\n".join(rows) + "\n")
    results = {}
    for name, auto in (("zero", "minReplicas: 0\n    scaleToZero: {idleSeconds: 300}"), ("one", "minReplicas: 1")):
        isvc = tmp_path / f"{name}.yaml"
        isvc.write_text(
            "apiVersion: inferop.dev/v1alpha1\nkind: InferenceService\nmetadata: {name: dev}\nspec:\n"
            "  model: {uri: 'hf://org/m'}\n  autoscaling:\n"
            f"    {auto}\n    maxReplicas: 4\n"
            "    slo: {latency: {metric: e2e, percentile: 95, targetMilliseconds: 5000}}\n"
        )
        out = tmp_path / name
        argv = ["--trace", str(trace), "--slo-ms", "5000", "--isvc", str(isvc), "--compare", "kpa"]
        assert main([*argv, "--out", str(out), "--no-plots"]) == 0
        results[name] = {(r["policy"], r["tuned_on"]): r for r in json.loads((out / "summary.json").read_text())}
    for key in (("inferop", None), ("kpa", "scored")):
        assert results["zero"][key]["gpu_hours"] < results["one"][key]["gpu_hours"] - 1.0, key
