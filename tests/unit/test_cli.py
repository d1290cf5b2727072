"""The ``inferop`` command line, as a user runs it.

Covers: ``inferop render -f examples/llm-vllm.yaml -f examples/gpuclasses.yaml`` prints the Deployment,
Service and HPA and exits 0 (also through the installed console script); bad input — a missing GPU
class, invalid values, unreadable files, bad YAML, no InferenceService — exits 2 with exactly one line on
stderr that names the field or the file, and prints nothing on stdout; ``-n`` and stdin; the output is
plain YAML; ``inferop crds`` writes what the models generate and ``--check`` passes on the repo and
fails (exit 2, naming the file) on a stale, incomplete or polluted directory.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferop.api.crdgen import render_crd_files
from inferop.cli import main

REPO = Path(__file__).resolve().parents[2]
LLM = str(REPO / "examples" / "llm-vllm.yaml")
GPUS = str(REPO / "examples" / "gpuclasses.yaml")
CPU = str(REPO / "examples" / "cpu-embeddings.yaml")
INFEROP = Path(sys.executable).parent / "inferop"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def write(tmp_path: Path, name: str, docs: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def isvc(spec: dict[str, Any], name: str = "bad") -> dict[str, Any]:
    return {"apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService", "metadata": {"name": name},
            "spec": {"model": {"uri": "hf://org/m"}, **spec}}


# --- render -----------------------------------------------------------------------------------------


def test_render_gpu_example_prints_deployment_service_and_hpa(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "render", "-f", LLM, "-f", GPUS)
    assert code == 0 and err == ""
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    resources = docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"


def test_file_order_does_not_matter(capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "render", "-f", LLM, "-f", GPUS)
    code, second, _ = run(capsys, "render", "-f", GPUS, "-f", LLM)
    assert code == 0 and first == second


def test_render_several_services_in_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "-f", LLM, "-f", CPU, "-f", GPUS)
    assert code == 0
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out)]
    assert ("Deployment", "chat") in kinds and ("Deployment", "embed") in kinds
    assert ("HorizontalPodAutoscaler", "embed") not in kinds  # fixed replicas


def test_namespace_flag_applies_to_objects_without_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "render", "-n", "team-a", "-f", CPU)
    assert code == 0
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(out)} == {"team-a"}
    with_ns = isvc({})
    with_ns["metadata"]["namespace"] = "mine"
    code, out, _ = run(capsys, "render", "-n", "team-a", "-f", write(tmp_path, "ns.yaml", [with_ns]))
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(out)} == {"mine"}


def test_render_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(Path(CPU).read_text()))
    code, out, _ = run(capsys, "render", "-f", "-")
    assert code == 0 and "name: embed" in out


def test_missing_gpu_class_exits_2_with_one_line_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "render", "-f", LLM)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert "spec.resources.gpu.class" in line and '"h100"' in line
    assert "llm-vllm.yaml" in line and "InferenceService chat" in line


@pytest.mark.parametrize(("docs", "field"), [
    ([isvc({"replicas": 2, "autoscaling": {"maxReplicas": 3}})], "spec.replicas and spec.autoscaling"),
    ([isvc({"autoscaling": {"minReplicas": 5, "maxReplicas": 3}})], "spec.autoscaling.minReplicas"),
    ([isvc({"model": {"uri": "ftp://x/y"}})], "spec.model.uri"),
    ([isvc({"replicas": -1})], "spec.replicas"),
    ([isvc({"resources": {"gpu": {"class": "h100", "count": 0}}})], "spec.resources.gpu.count"),
    ([isvc({"runtime": {"name": "custom"}})], "spec.runtime.image"),
    ([isvc({"scaling": {}})], "spec.scaling"),
    ([isvc({"runtime": {"name": "tgi"}, "autoscaling": {"maxReplicas": 2, "slo": {"latency": {
        "metric": "ttft", "targetMilliseconds": 100}}}})], "spec.autoscaling.slo.latency.metric"),
    ([{"apiVersion": "inferop.dev/v1alpha1", "kind": "GPUClass", "metadata": {"name": "g"},
       "spec": {"price": {"perGPUHour": 4.1}}}, isvc({})], "spec.price.perGPUHour"),
])
def test_invalid_values_exit_2_naming_the_field(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                docs: list[dict[str, Any]], field: str) -> None:
    code, out, err = run(capsys, "render", "-f", write(tmp_path, "bad.yaml", docs))
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert field in line and "bad.yaml" in line


def test_unreadable_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "render", "-f", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml" in one_error_line(err)


def test_invalid_yaml_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: InferenceService\nspec: [unclosed\n")
    code, _, err = run(capsys, "render", "-f", str(path))
    assert code == 2 and "broken.yaml" in one_error_line(err)


def test_non_object_document_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    code, _, err = run(capsys, "render", "-f", str(path))
    assert code == 2 and "list.yaml" in one_error_line(err)


def test_no_inference_service_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "render", "-f", GPUS)
    assert code == 2 and out == "" and "no InferenceService" in one_error_line(err)


def test_render_output_is_plain_yaml_without_anchors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "render", "-f", write(tmp_path, "s3.yaml", [isvc({"model": {"uri": "s3://b/m"}})]))
    assert code == 0
    assert "&id" not in out and "*id" not in out


# --- crds -------------------------------------------------------------------------------------------


def test_crds_check_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "crds", "--check", "--out", str(REPO / "crds"))
    assert code == 0 and err == ""


def test_crds_writes_what_the_models_generate_and_then_checks_clean(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    out_dir = tmp_path / "generated"
    code, out, _ = run(capsys, "crds", "--out", str(out_dir))
    assert code == 0
    files = render_crd_files()
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (out_dir / name).read_text() == text
        assert name in out
    assert run(capsys, "crds", "--check", "--out", str(out_dir))[0] == 0


@pytest.fixture()
def crd_copy(tmp_path: Path) -> Path:
    target = tmp_path / "crds"
    shutil.copytree(REPO / "crds", target)
    return target


def test_crds_check_fails_on_an_edited_file(capsys: pytest.CaptureFixture[str], crd_copy: Path) -> None:
    stale = crd_copy / "inferop.dev_gpuclasses.yaml"
    stale.write_text(stale.read_text().replace("nvidia.com/gpu", "nvidia.com/gpus", 1))
    code, _, err = run(capsys, "crds", "--check", "--out", str(crd_copy))
    line = one_error_line(err)
    assert code == 2 and "inferop.dev_gpuclasses.yaml" in line and "make crds" in line
    assert "inferop.dev_tenants.yaml" not in line


def test_crds_check_fails_on_a_missing_file(capsys: pytest.CaptureFixture[str], crd_copy: Path) -> None:
    (crd_copy / "inferop.dev_tenants.yaml").unlink()
    code, _, err = run(capsys, "crds", "--check", "--out", str(crd_copy))
    assert code == 2 and "inferop.dev_tenants.yaml" in one_error_line(err)


def test_crds_check_fails_on_a_leftover_file(capsys: pytest.CaptureFixture[str], crd_copy: Path) -> None:
    (crd_copy / "inferop.dev_oldthings.yaml").write_text("kind: CustomResourceDefinition\n")
    code, _, err = run(capsys, "crds", "--check", "--out", str(crd_copy))
    assert code == 2 and "inferop.dev_oldthings.yaml" in one_error_line(err)


def test_crds_check_fails_on_a_missing_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "crds", "--check", "--out", str(tmp_path / "none"))
    assert code == 2 and one_error_line(err)
    assert not (tmp_path / "none").exists()  # --check never writes


# --- the installed console script ---------------------------------------------------------------------


def test_console_script_renders_the_gpu_example() -> None:
    assert INFEROP.exists(), f"{INFEROP} is not installed: run `make install`"
    proc = subprocess.run([str(INFEROP), "render", "-f", LLM, "-f", GPUS], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [d["kind"] for d in yaml.safe_load_all(proc.stdout)] == ["Deployment", "Service",
                                                                    "HorizontalPodAutoscaler"]


def test_console_script_reports_bad_input_on_one_line_with_exit_2() -> None:
    proc = subprocess.run([str(INFEROP), "render", "-f", LLM], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "spec.resources.gpu.class" in one_error_line(proc.stderr)
    assert "Traceback" not in proc.stderr


def test_console_script_usage_error_exits_2() -> None:
    proc = subprocess.run([str(INFEROP), "render"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "-f" in proc.stderr


def test_run_flags_reach_the_operator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`inferop run --prometheus-url/--metrics-port` must configure the operator exactly like the env vars."""
    import inferop.operator
    from inferop.settings import Settings

    seen: dict[str, object] = {}

    def fake_run(settings: Settings, **kwargs: object) -> int:
        seen["settings"] = settings
        seen.update(kwargs)
        return 0

    monkeypatch.delenv("INFEROP_PROMETHEUS_URL", raising=False)
    monkeypatch.setenv("INFEROP_METRICS_PORT", "1")
    monkeypatch.setenv("INFEROP_DRIFT_INTERVAL", "7")
    monkeypatch.setattr(inferop.operator, "run", fake_run)
    assert main(["run", "--prometheus-url", "http://prom:9090", "--metrics-port", "9999", "-n", "team-a"]) == 0
    settings = seen["settings"]
    assert isinstance(settings, Settings)
    assert settings.prometheus_url == "http://prom:9090" and settings.metrics_port == 9999
    assert settings.drift_interval == 7  # the environment's settings stay where no flag is given
    assert seen["namespaces"] == ["team-a"] and seen["standalone"] is True  # one replica, no peering CRDs
    assert "INFEROP_PROMETHEUS_URL" not in os.environ  # the flags are not written back into the environment
    assert main(["run", "--peering"]) == 0
    assert seen["standalone"] is False


# --- every problem, each with its field path (issue 15) ---------------------------------------------

THREE_MISTAKES = isvc({
    "model": {"uri": "ftp://x/y"},
    "resources": {"gpu": {"class": "h100", "count": 0}},
    "autoscaling": {"minReplicas": 5, "maxReplicas": 3},
})
THREE_PATHS = ("spec.model.uri", "spec.resources.gpu.count", "spec.autoscaling.minReplicas")


def test_render_prints_every_problem_of_a_file_with_its_field_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "render", "-f", write(tmp_path, "three.yaml", [THREE_MISTAKES]))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0] == f"error: {tmp_path / 'three.yaml'}: InferenceService bad: 3 problems:"
    assert [line.split()[0] for line in lines[1:]] == list(THREE_PATHS)
    assert "more problem" not in err


def test_render_reports_every_invalid_object_of_every_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad_class = {"apiVersion": "inferop.dev/v1alpha1", "kind": "GPUClass", "metadata": {"name": "g"},
                 "spec": {"price": {"perGPUHour": 4.1}}}
    code, _, err = run(capsys, "render", "-f", write(tmp_path, "a.yaml", [THREE_MISTAKES]),
                       "-f", write(tmp_path, "b.yaml", [bad_class, isvc({}, name="fine")]))
    assert code == 2 and err.startswith("error: 2 objects are invalid:")
    assert all(p in err for p in THREE_PATHS) and "GPUClass g" in err and "spec.price.perGPUHour" in err
    # A service that parsed is still rendered: its missing GPU class is a problem of its own.
    code, _, err = run(capsys, "render", "-f", write(tmp_path, "c.yaml", [THREE_MISTAKES]), "-f", LLM)
    assert code == 2 and "spec.model.uri" in err and "InferenceService chat: spec.resources.gpu.class" in err


def test_a_bad_environment_variable_is_bad_input_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import inferop.operator

    monkeypatch.setenv("INFEROP_WORKERS", "many")
    monkeypatch.setattr(inferop.operator, "run", lambda *a, **k: pytest.fail("must not start"))
    code, _, err = run(capsys, "run")
    assert code == 2 and "INFEROP_WORKERS='many' must be an integer" in one_error_line(err)
