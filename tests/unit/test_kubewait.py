"""The shared CRD wait (tests/harness/kubewait.py and ``wait_established`` in hack/lib.sh) against a scripted
``kubectl`` on PATH: a CRD served with ``status.conditions: null`` (what the API server returns before the
apiextensions controller writes the status, and what made ``kubectl wait`` fail) is "not yet", and the
wait returns once it is Established; a timeout names each CRD and why. The same waits against the real
control plane are in tests/cluster/test_cluster_scripts.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness.kubewait import NotEstablished, crd_names, wait_established

ROOT = Path(__file__).resolve().parents[2]

NAME = "gpuclasses.inferop.dev"


def crd(conditions: list[dict[str, str]] | None) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME},
        "status": {"acceptedNames": {"kind": "", "plural": ""}, "conditions": conditions, "storedVersions": ["v1"]},
    }


ESTABLISHED = [
    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names"},
]


def fake_kubectl(tmp_path: Path, answers: list[dict[str, Any] | None]) -> dict[str, str]:
    """A ``kubectl`` that serves ``answers`` in turn (the last one forever), for ``-o json`` and the
    shell function's jsonpath; returns the environment to run with."""
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(
        f"""#!{sys.executable}
import json, sys
from pathlib import Path
d = Path({str(tmp_path)!r})
answers = json.loads((d / "answers.json").read_text())
n = int((d / "calls").read_text()) if (d / "calls").exists() else 0
(d / "calls").write_text(str(n + 1))
obj = answers[min(n, len(answers) - 1)]
if obj is None:
    sys.exit(0)  # --ignore-not-found: nothing printed
if "jsonpath" in " ".join(sys.argv):
    conds = obj["status"]["conditions"] or []
    print("".join(c["status"] for c in conds if c["type"] == "Established"), end="")
else:
    print(json.dumps(obj))
"""
    )
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{script.parent}:{os.environ['PATH']}"}


def calls(tmp_path: Path) -> int:
    return int((tmp_path / "calls").read_text())


def test_crd_names_from_apply_output() -> None:
    out = (
        "customresourcedefinition.apiextensions.k8s.io/costpolicies.inferop.dev\n"
        "namespace/inferop-system\n"
        "customresourcedefinition.apiextensions.k8s.io/gpuclasses.inferop.dev\n"
    )
    assert crd_names(out) == ["costpolicies.inferop.dev", "gpuclasses.inferop.dev"]


def test_null_conditions_are_waited_for_not_an_error(tmp_path: Path) -> None:
    env = fake_kubectl(tmp_path, [None, crd(None), crd(None), crd([]), crd(ESTABLISHED)])
    waited = wait_established([f"customresourcedefinition.apiextensions.k8s.io/{NAME}"], env=env, interval=0.01)
    assert calls(tmp_path) == 5 and waited < 5


IN_USE = '"GPUClass" is already in use'


def test_timeout_names_the_crd_and_what_was_seen(tmp_path: Path) -> None:
    not_accepted = [
        {"type": "NamesAccepted", "status": "False", "reason": "KindConflict", "message": IN_USE},
        {"type": "Established", "status": "False", "reason": "NotAccepted", "message": "not all names are accepted"},
    ]
    env = fake_kubectl(tmp_path, [crd(not_accepted)])
    with pytest.raises(NotEstablished) as err:
        wait_established([NAME], env=env, timeout=0.3, interval=0.05)
    assert f"1 CRD(s) not Established after 0s: {NAME}: Established=False (NotAccepted" in str(err.value)
    assert IN_USE in str(err.value)

    (tmp_path / "b").mkdir()
    env = fake_kubectl(tmp_path / "b", [crd(None)])
    with pytest.raises(NotEstablished, match=f"{NAME}: no status conditions written yet"):
        wait_established([NAME], env=env, timeout=0.2, interval=0.05)


def test_shell_wait_established_polls_then_returns(tmp_path: Path) -> None:
    env = fake_kubectl(tmp_path, [None, crd(None), crd(ESTABLISHED)])
    proc = subprocess.run(
        ["bash", "-c", f'. hack/lib.sh && wait_established 10 "crd/{NAME}"'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert calls(tmp_path) == 3


def test_shell_wait_established_times_out_naming_the_crd(tmp_path: Path) -> None:
    env = fake_kubectl(tmp_path, [crd(None)])
    proc = subprocess.run(
        ["bash", "-c", f". hack/lib.sh && wait_established 1 {NAME}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert f"1 CRD(s) not Established after 1s: {NAME} (not found, or no Established condition yet)" in proc.stderr
