"""The operator image (Dockerfile; it cannot be built on machines without Docker, e2e/ builds it) agrees
with the chart: base pinned by digest, the numeric non-root user the chart's securityContext runs as,
the entrypoint and ports the chart's args and probes use, the chart's appVersion = the package version,
and a build context that holds what `pip install .` needs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
CHART = ROOT / "charts" / "inferop"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(f"{name} ")]


def test_base_image_is_pinned_by_digest() -> None:
    (arg,) = [a for a in instructions("ARG") if a.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", arg), arg
    assert instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_runs_as_the_non_root_user_the_chart_expects() -> None:
    assert instructions("USER") == ["1000:1000"]
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    assert "runAsUser: 1000" in deployment and "runAsGroup: 1000" in deployment


def test_entrypoint_is_inferop_run_with_kopfs_liveness_endpoint() -> None:
    (entrypoint,) = instructions("ENTRYPOINT")
    (cmd,) = instructions("CMD")
    command = json.loads(entrypoint) + json.loads(cmd)
    port = VALUES["operator"]["livenessPort"]
    assert command == ["inferop", "run", "--all-namespaces", "--liveness", f"http://0.0.0.0:{port}/healthz"]
    (expose,) = instructions("EXPOSE")
    assert expose.split() == [str(VALUES["metrics"]["port"]), str(port)]


def test_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]
    assert VALUES["image"]["repository"] == "ghcr.io/inferop/inferop" and VALUES["image"]["tag"] == ""


def test_build_context_has_what_pip_install_needs() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :][:3] == ["!pyproject.toml", "!README.md", "!operator/"]
    copied = " ".join(instructions("COPY"))
    assert "pyproject.toml README.md" in copied and "operator ./operator" in copied
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["readme"] == "README.md"
    assert project["tool"]["setuptools"]["packages"]["find"]["where"] == ["operator"]
