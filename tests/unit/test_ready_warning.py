"""The Warning Event of ``Ready=False`` is level-based (``isvc.post_ready_warning``): posted when a
reconcile finds the problem and no Event of that reason is on record for the object, so a lost post
(an API error, or a Ready transition written by the cost tick, which posts no Events) is made up by the
next reconcile; while the problem stands nothing more is posted; once Ready heals the record is cleared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inferop.reconcile import isvc
from inferop.reconcile.status import Cond, Event, standing_warning


class FakeKube:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []
        self.refuse = False

    def post_event(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
        if self.refuse:
            return False
        self.posted.append((involved["metadata"]["name"], type_, reason))
        return True


BODY = {"metadata": {"name": "chat", "namespace": "team-a", "uid": "uid-warning-1"}}
CONFLICT = Event("Warning", "ChildConflict", "Service team-a/chat already exists and does not belong to ...")


def test_a_lost_post_is_made_by_the_next_reconcile_and_then_never_repeated() -> None:
    kube = FakeKube()
    kube.refuse = True
    assert not isvc.post_ready_warning(kube, BODY, CONFLICT)  # type: ignore[arg-type]
    kube.refuse = False
    assert isvc.post_ready_warning(kube, BODY, CONFLICT)  # type: ignore[arg-type]
    for _ in range(5):  # drift-timer passes: no spam
        assert not isvc.post_ready_warning(kube, BODY, CONFLICT)  # type: ignore[arg-type]
    assert kube.posted == [("chat", "Warning", "ChildConflict")]


def test_healing_clears_the_record_so_a_new_problem_is_posted_again() -> None:
    kube = FakeKube()
    body = {"metadata": {**BODY["metadata"], "uid": "uid-warning-2"}}
    assert isvc.post_ready_warning(kube, body, CONFLICT)  # type: ignore[arg-type]
    assert not isvc.post_ready_warning(kube, body, None)  # type: ignore[arg-type]
    assert isvc.post_ready_warning(kube, body, CONFLICT)  # type: ignore[arg-type]
    assert len(kube.posted) == 2


def test_only_warning_reasons_stand_for_an_event() -> None:
    assert standing_warning(Cond("Ready", "False", "ChildConflict", "m")) == Event("Warning", "ChildConflict", "m")
    assert standing_warning(Cond("Ready", "False", "ReplicasNotReady", "1 of 2 replicas ready")) is None
    assert standing_warning(Cond("Ready", "True", "Ready", "ok")) is None
