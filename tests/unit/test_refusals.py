"""A body the API server refused is not sent again until it changes (or REFUSED_RETRY_SECONDS pass):
re-sending the same refused body on every drift tick would be a write forever (issue 17's fuzz run
found one failed PATCH every 5 s per refused service)."""

from __future__ import annotations

from typing import Any

import pytest

from inferop.reconcile import children
from inferop.reconcile.children import apply_unless_refused
from inferop.reconcile.kube import KubeError, Transient


class CountingKube:
    def __init__(self, error: KubeError | None) -> None:
        self.error = error
        self.calls = 0

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return obj


def deployment(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "chat", "namespace": "team-a"},
        "spec": {"template": {"spec": {"containers": [{"name": "server", "image": image}]}}},
    }


def test_the_same_refused_body_is_not_sent_twice() -> None:
    kube = CountingKube(KubeError(422, "spec.strategy: Invalid value: both zero"))
    for _ in range(3):
        with pytest.raises(KubeError, match="both zero"):
            apply_unless_refused(kube, deployment("a"))  # type: ignore[arg-type]
    assert kube.calls == 1


def test_a_changed_body_is_sent_at_once_and_success_forgets_the_refusal() -> None:
    kube = CountingKube(KubeError(422, "refused"))
    with pytest.raises(KubeError):
        apply_unless_refused(kube, deployment("a"))  # type: ignore[arg-type]
    kube.error = None
    assert apply_unless_refused(kube, deployment("b"))["spec"]  # type: ignore[arg-type]
    assert apply_unless_refused(kube, deployment("a"))["spec"]  # type: ignore[arg-type]
    assert kube.calls == 3


def test_the_refusal_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = CountingKube(KubeError(403, "forbidden"))
    with pytest.raises(KubeError):
        apply_unless_refused(kube, deployment("a"))  # type: ignore[arg-type]
    monkeypatch.setattr(children, "REFUSED_RETRY_SECONDS", 0.0)
    with pytest.raises(KubeError):
        apply_unless_refused(kube, deployment("a"))  # type: ignore[arg-type]
    assert kube.calls == 2


def test_outages_are_not_remembered() -> None:
    kube = CountingKube(Transient(503, "unavailable"))
    for _ in range(2):
        with pytest.raises(Transient):
            apply_unless_refused(kube, deployment("a"))  # type: ignore[arg-type]
    assert kube.calls == 2
