"""Fixtures shared by the unit tier: the repository's examples, GPU classes and a spec builder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferop.api import GPUClass, InferenceService, parse_gpuclass, parse_isvc

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="session")
def example_docs() -> dict[str, list[dict[str, Any]]]:
    """File name -> the YAML documents in it, for every file in examples/."""
    return {p.name: load_docs(p) for p in sorted(EXAMPLES.glob("*.yaml"))}


@pytest.fixture(scope="session")
def gpuclasses() -> dict[str, GPUClass]:
    """The GPU classes of examples/gpuclasses.yaml, by name (h100, l4)."""
    classes = [parse_gpuclass(d) for d in load_docs(EXAMPLES / "gpuclasses.yaml")]
    return {c.name: c for c in classes}


@pytest.fixture(scope="session")
def llm_example() -> InferenceService:
    """examples/llm-vllm.yaml: vLLM on one H100, autoscaled 1-4 with a queue-depth target."""
    (doc,) = load_docs(EXAMPLES / "llm-vllm.yaml")
    return parse_isvc({**doc, "metadata": {**doc["metadata"], "namespace": "team-a"}})


@pytest.fixture(scope="session")
def cpu_example() -> InferenceService:
    """examples/cpu-embeddings.yaml: KServe HF server on CPU, two fixed replicas."""
    (doc,) = load_docs(EXAMPLES / "cpu-embeddings.yaml")
    return parse_isvc(doc)


def _isvc_doc(spec: dict[str, Any], name: str = "svc", namespace: str = "team-a") -> dict[str, Any]:
    full = {"model": {"uri": "hf://org/model"}, **copy.deepcopy(spec)}
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": full,
    }


@pytest.fixture()
def isvc_doc() -> Callable[..., dict[str, Any]]:
    """Build a raw InferenceService object; ``spec.model.uri`` defaults to hf://org/model."""
    return _isvc_doc


@pytest.fixture()
def make_isvc() -> Callable[..., InferenceService]:
    """Build and validate an InferenceService from a partial spec."""

    def build(spec: dict[str, Any] | None = None, name: str = "svc", namespace: str = "team-a") -> InferenceService:
        return parse_isvc(_isvc_doc(spec or {}, name, namespace))

    return build
