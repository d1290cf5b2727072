"""The kopf handler boundary: how API failures and invalid specs reach kopf.

Covers: ``backoff(retry)`` starts at one second, doubles, and is capped at a minute; ``_run`` turns a
``Transient`` API failure (5xx from kmock) into ``kopf.TemporaryError`` with exactly that delay and
writes no status; a healthy API gets the children applied and the status written; an invalid spec makes
the create/update handler raise ``kopf.PermanentError`` after recording ``Ready=False, InvalidSpec`` in
status and posting a Warning event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import kmock as kmocklib
import kopf
import pytest
import yaml

from inferop import handlers
from inferop.reconcile.kube import Kube
from tests.api.fakeapi import FakeAPI, status_body

REPO = Path(__file__).resolve().parents[2]
NS = "team-a"
ISVC_URL = f"/apis/inferop.dev/v1alpha1/namespaces/{NS}/inferenceservices/chat"
LOGGER = logging.getLogger("test")


@pytest.fixture()
def kwargs() -> dict[str, Any]:
    """What kopf passes a handler besides body and retry: the indexes (``gpuclass_specs``: name -> [spec];
    no tenants)."""
    docs = [d for d in yaml.safe_load_all((REPO / "examples" / "gpuclasses.yaml").read_text()) if d]
    return {"gpuclass_specs": {d["metadata"]["name"]: [d["spec"]] for d in docs},
            "services_by_gpuclass": {}, "tenants_by_namespace": {}, "services_by_namespace": {},
            "logger": LOGGER}


@pytest.fixture()
def body(fake_api: FakeAPI) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "examples" / "llm-vllm.yaml").read_text())
    doc["metadata"] |= {"namespace": NS, "uid": "isvc-uid-1", "generation": 2}
    return fake_api.put(ISVC_URL, doc)


@pytest.fixture()
def on_kmock(monkeypatch: pytest.MonkeyPatch, kube: Kube) -> Kube:
    """Make the handlers talk to kmock instead of loading a kubeconfig."""
    monkeypatch.setattr(handlers, "_kube", kube)
    return kube


@pytest.fixture()
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []
    def record(objs: Any, **kwargs: Any) -> None:
        posted.append(kwargs)

    monkeypatch.setattr(kopf, "event", record)
    return posted


# --- backoff ------------------------------------------------------------------------------------------


def test_backoff_starts_at_one_second_and_doubles() -> None:
    assert [handlers.backoff(r) for r in range(6)] == [1, 2, 4, 8, 16, 32]


def test_backoff_is_capped_at_a_minute() -> None:
    delays = [handlers.backoff(r) for r in range(200)]
    assert max(delays) == 60
    assert delays == sorted(delays)  # never shrinks while the failure lasts
    assert handlers.backoff(10_000) == 60


def test_backoff_of_a_nonsense_retry_count_is_still_sane() -> None:
    assert handlers.backoff(-3) == 1


# --- _run -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("retry", [0, 1, 3, 12])
async def test_transient_api_failure_becomes_a_temporary_error_with_backoff(
    kmock: kmocklib.RawHandler, on_kmock: Kube, body: dict[str, Any],
    kwargs: dict[str, Any], retry: int,
) -> None:
    kmock << 503 << status_body(503, "ServiceUnavailable", "etcdserver: leader changed")
    with pytest.raises(kopf.TemporaryError) as info:
        await asyncio.to_thread(handlers._run, body, kwargs, retry)
    assert info.value.delay == handlers.backoff(retry)
    assert "etcdserver: leader changed" in str(info.value)
    assert not [r for r in kmock if r.method == "PATCH" and r.url.path.endswith("/status")]


async def test_throttling_is_handled_like_an_outage(kmock: kmocklib.RawHandler, on_kmock: Kube,
                                                   body: dict[str, Any],
                                                   kwargs: dict[str, Any]) -> None:
    kmock["get"] << 429 << status_body(429, "TooManyRequests", "please slow down")
    with pytest.raises(kopf.TemporaryError) as info:
        await asyncio.to_thread(handlers._run, body, kwargs, 2)
    assert info.value.delay == 4


async def test_healthy_api_gets_children_and_status(kmock: kmocklib.RawHandler, on_kmock: Kube,
                                                    fake_api: FakeAPI, body: dict[str, Any],
                                                    kwargs: dict[str, Any],
                                                    events: list[dict[str, Any]]) -> None:
    result = await asyncio.to_thread(handlers._run, body, kwargs, 0)
    assert len(result.applied) == 3
    assert fake_api.objects[ISVC_URL]["status"]["observedGeneration"] == 2
    nodes = next(iter(fake_api.objects[f"/apis/apps/v1/namespaces/{NS}/deployments/chat"]["spec"]["template"]
                      ["spec"]["nodeSelector"].values()))
    assert nodes == "NVIDIA-H100-80GB-HBM3"  # the GPUClass came through kopf's index
    assert events == []  # not ready yet, nothing to announce


async def test_invalid_spec_is_a_permanent_error_after_status_and_event(
    kmock: kmocklib.RawHandler, on_kmock: Kube, fake_api: FakeAPI, body: dict[str, Any],
    kwargs: dict[str, Any], events: list[dict[str, Any]],
) -> None:
    body["spec"]["model"]["uri"] = "ftp://models/llama"
    with pytest.raises(kopf.PermanentError) as info:
        await asyncio.to_thread(lambda: handlers.reconcile(body=kopf.Body(body), retry=0, **kwargs))  # type: ignore[arg-type]
    assert "spec.model.uri" in str(info.value)
    ready = next(c for c in fake_api.objects[ISVC_URL]["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    # The Ready warning is posted at once, level-based, by the operator itself (not kopf's queue).
    posted = [r for r in kmock if r.method == "POST" and r.url.path == f"/api/v1/namespaces/{NS}/events"]
    assert [(json.loads(r.body)["type"], json.loads(r.body)["reason"]) for r in posted] == [("Warning", "InvalidSpec")]
    assert events == []
    assert not [r for r in kmock if r.method == "PATCH" and not r.url.path.endswith("/status")]
