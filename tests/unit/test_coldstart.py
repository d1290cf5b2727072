"""inferop.cost.coldstart: a service's cold start is the median creation-to-Ready of its 5 newest pods."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inferop.cost.coldstart import REMEASURE_SECONDS, PodStart, cold_start_seconds, due, measure, pod_start
from inferop.cost.queries import ServiceKey

T0 = 1_700_000_000.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")


def pod(name: str, created: float, ready_after: float | None, svc: str = "chat", ns: str = "demo") -> dict[str, Any]:
    conditions = []
    if ready_after is not None:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": iso(created + ready_after)})
    else:
        conditions.append({"type": "Ready", "status": "False", "lastTransitionTime": iso(created)})
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": iso(created),
            "labels": {"inferop.dev/inferenceservice": svc},
        },
        "status": {"conditions": conditions},
    }


def test_pod_start_reads_creation_and_ready_transition() -> None:
    start = pod_start(pod("a", T0, 95))
    assert start == PodStart(created=T0, ready=T0 + 95) and start.seconds == 95
    assert pod_start(pod("b", T0, None)) is None  # not Ready: no cold start yet
    deleting = pod("c", T0, 10)
    deleting["metadata"]["deletionTimestamp"] = iso(T0 + 20)
    assert pod_start(deleting) is None
    assert pod_start({"metadata": {}, "status": {}}) is None


def test_median_of_the_five_newest() -> None:
    # Oldest pods were slow (an old image); the 5 newest take 30, 40, 50, 60, 300 s: the median is 50.
    starts = [PodStart(T0 + i, T0 + i + 900) for i in range(3)]
    starts += [PodStart(T0 + 100 + i, T0 + 100 + i + s) for i, s in enumerate((30, 40, 50, 60, 300))]
    assert cold_start_seconds(starts, default=120) == 50


def test_default_without_ready_pods() -> None:
    assert cold_start_seconds([], default=120) == 120


def test_measure_groups_by_service_and_keeps_the_default_for_services_without_pods() -> None:
    pods = [pod("chat-1", T0, 40), pod("chat-2", T0 + 10, 60), pod("other-1", T0, 5, svc="other")]
    pods.append(pod("chat-x", T0, 7, ns="elsewhere"))  # same name, another namespace
    chat, idle = ServiceKey("demo", "chat"), ServiceKey("demo", "idle")
    assert measure(pods, {chat: 120.0, idle: 120.0}) == {chat: 50.0, idle: 120.0}


def test_remeasure_when_ready_rose_or_after_ten_minutes() -> None:
    assert due(T0, None, ready_rose=False)
    assert due(T0, T0 - 5, ready_rose=True)
    assert not due(T0, T0 - 5, ready_rose=False)
    assert due(T0, T0 - REMEASURE_SECONDS, ready_rose=False)
