"""The CRDs install on the real API server and reject invalid objects with inferop's own messages
(schema + CEL), before any operator sees them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Cluster

ROOT = Path(__file__).resolve().parents[2]


def _example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "examples" / name).read_text()))


def test_crds_are_established(cluster: Cluster) -> None:
    names = {c["metadata"]["name"] for c in cluster.list("crd")}
    assert {
        "inferenceservices.inferop.dev",
        "gpuclasses.inferop.dev",
        "tenants.inferop.dev",
        "costpolicies.inferop.dev",
    } <= names


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["spec"].update(replicas=2), "spec.replicas and spec.autoscaling are mutually exclusive"),
        (
            lambda o: o["spec"]["autoscaling"].update(minReplicas=5, maxReplicas=2),
            "spec.autoscaling.minReplicas must be less than or equal to maxReplicas",
        ),
        (
            lambda o: o["spec"]["resources"]["gpu"].update(count=0),
            "spec.resources.gpu.count must be at least 1 when a GPU class is given",
        ),
        (lambda o: o["spec"]["model"].update(uri="ftp://example.com/model"), "spec.model.uri must start with hf://"),
        (lambda o: o["spec"].update(bogus=True), 'unknown field "spec.bogus"'),
        (
            lambda o: o["spec"]["autoscaling"].update(minReplicas=0),
            "spec.autoscaling.minReplicas may be 0 only with spec.autoscaling.scaleToZero",
        ),
        (
            lambda o: o["spec"]["autoscaling"].update(minReplicas=1, scaleToZero={}),
            "spec.autoscaling.scaleToZero needs spec.autoscaling.minReplicas: 0",
        ),
        (
            lambda o: o["spec"]["autoscaling"].update(minReplicas=0, scaleToZero={"idleSeconds": 0}),
            "spec.autoscaling.scaleToZero.idleSeconds",
        ),
        (
            lambda o: (o["spec"]["autoscaling"].update(minReplicas=0, scaleToZero={}),
                       o["metadata"].update(name="a" * 59)),
            "metadata.name must be at most 58 characters with spec.autoscaling.scaleToZero",
        ),
    ],
    ids=["replicas-and-autoscaling", "min-gt-max", "gpu-count-zero", "bad-uri", "unknown-field",
         "zero-without-scale-to-zero", "scale-to-zero-with-min-1", "idle-seconds-zero", "scale-to-zero-long-name"],
)
def test_invalid_inferenceservice_is_rejected(cluster: Cluster, namespace: str, mutate: Any, message: str) -> None:
    obj = copy.deepcopy(_example("llm-vllm.yaml"))
    mutate(obj)
    proc = cluster.apply(obj, namespace=namespace, check=False)
    assert proc.returncode != 0, "the API server accepted an invalid InferenceService"
    assert message in proc.stderr
    assert cluster.get("inferenceservice", obj["metadata"]["name"], namespace) is None


def test_float_price_is_rejected(cluster: Cluster) -> None:
    obj = list(yaml.safe_load_all((ROOT / "examples/gpuclasses.yaml").read_text()))[0]
    obj["metadata"]["name"] = "float-price"
    obj["spec"]["price"]["perGPUHour"] = 4.1
    proc = cluster.apply(obj, check=False)
    assert proc.returncode != 0
    assert "spec.price.perGPUHour" in proc.stderr and "string" in proc.stderr


def test_valid_examples_are_accepted_with_defaults(cluster: Cluster, namespace: str) -> None:
    cluster.apply(_example("cpu-embeddings.yaml"), namespace=namespace)
    stored = cluster.get("inferenceservice", "embed", namespace)
    assert stored is not None
    # API-server defaulting from the schema: the runtime's optional fields keep their defaults.
    assert stored["spec"]["runtime"]["name"] == "kserve"


def test_scale_to_zero_is_admitted_with_its_defaults(cluster: Cluster, namespace: str) -> None:
    obj = copy.deepcopy(_example("llm-vllm.yaml"))
    obj["metadata"]["name"] = "zero-defaults"
    obj["spec"]["autoscaling"].update(minReplicas=0, scaleToZero={})
    cluster.apply(obj, namespace=namespace)
    stored = cluster.get("inferenceservice", "zero-defaults", namespace)
    assert stored is not None
    assert stored["spec"]["autoscaling"]["scaleToZero"] == {
        "idleSeconds": 300, "maxHeldRequests": 1000, "holdTimeoutSeconds": 300
    }
