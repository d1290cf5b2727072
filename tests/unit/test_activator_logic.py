"""The activator's pure parts: which service a Host header names (every DNS form, bare names only when
unambiguous, the override header), the backend choice (fewest in flight, round-robin ties), the hold
rules (limits, FIFO, refusals, episodes of the activation signal), EndpointSlice and InferenceService
parsing (ready/unknown/terminating endpoints, the http port, limits with defaults), and the
annotation contract."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from inferop.activator.contract import (
    ACTIVATION_ANNOTATION,
    activation_patch,
    activation_timestamp,
    parse_activation_timestamp,
)
from inferop.activator.discovery import Directory, limits_of, slice_entry
from inferop.activator.hold import Gate, Limits, Refused
from inferop.activator.routing import Backend, Picker, RoutingError, ServiceKey, service_for

CHAT = ServiceKey("team-a", "chat")


@pytest.mark.parametrize(
    "host",
    [
        "chat.team-a.svc.cluster.local",
        "chat.team-a.svc.cluster.local:80",
        "chat.team-a.svc.cluster.local.",
        "CHAT.Team-A.svc",
        "chat.team-a.svc:8000",
        "chat.team-a",
        "chat.team-a:80",
        "chat",
        "chat:80",
    ],
)
def test_host_forms_name_the_service(host: str) -> None:
    assert service_for(host, None, {CHAT}) == CHAT


def test_host_with_another_cluster_domain() -> None:
    assert service_for("chat.team-a.svc.corp.example", None, set(), "corp.example") == CHAT
    with pytest.raises(RoutingError, match="names no InferenceService"):
        service_for("chat.team-a.svc.cluster.local", None, set(), "corp.example")


def test_bare_names_need_exactly_one_match() -> None:
    other = ServiceKey("team-b", "chat")
    with pytest.raises(RoutingError, match="ambiguous: services team-a/chat, team-b/chat"):
        service_for("chat", None, {CHAT, other})
    with pytest.raises(RoutingError, match="names no InferenceService"):
        service_for("chat", None, set())


@pytest.mark.parametrize("host", ["10.96.0.12", "10.96.0.12:80", "[fd00::1]:80", "a.b.c.d.e", "-x.team-a", ""])
def test_other_hosts_are_refused_with_a_reason(host: str) -> None:
    with pytest.raises(RoutingError):
        service_for(host, None, {CHAT})


def test_the_service_header_wins_and_is_checked() -> None:
    assert service_for("10.96.0.12", "team-a/chat", set()) == CHAT
    assert service_for("other.ns", " team-a/chat ", set()) == CHAT
    for bad in ("team-a", "team-a/", "/chat", "Team A/chat", "a/b/c"):
        with pytest.raises(RoutingError, match="is not <namespace>/<name>"):
            service_for(None, bad, set())


def test_picker_prefers_fewest_in_flight_and_rotates_ties() -> None:
    a, b = Backend("10.0.0.1", 8000), Backend("10.0.0.2", 8000)
    picker = Picker()
    assert picker.pick([]) is None
    picks = [picker.pick([a, b]) for _ in range(4)]
    assert set(picks) == {a, b} and picks[0] != picks[1]
    picker.started(a)
    assert [picker.pick([a, b]) for _ in range(3)] == [b, b, b]
    picker.finished(a)
    assert picker.inflight(a) == 0


def test_backend_urls() -> None:
    assert Backend("10.0.0.1", 8000).base_url == "http://10.0.0.1:8000"
    assert Backend("fd00::1", 8000).base_url == "http://[fd00::1]:8000"


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="maxHeldRequests must be at least 1"):
        Limits(0, 10)
    with pytest.raises(ValueError, match="holdTimeoutSeconds must be positive"):
        Limits(1, 0)


async def test_gate_holds_in_order_refuses_when_full_and_releases_fifo() -> None:
    gate = Gate(Limits(3, 10))
    assert gate.must_hold()  # no backend yet
    waiters = [gate.admit(float(i)) for i in range(3)]
    assert gate.admit(3.0) is Refused.FULL and gate.held == 3
    order: list[int] = []

    async def wait(i: int) -> None:
        w = waiters[i]
        assert not isinstance(w, Refused)
        assert await w.released is None
        order.append(i)
        w.mark_dispatched()

    tasks = [asyncio.create_task(wait(i)) for i in (2, 0, 1)]
    await asyncio.sleep(0)
    gate.set_backends_ready(True)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    await gate.drained()
    assert not gate.must_hold()


async def test_a_new_request_waits_behind_held_ones_even_with_a_backend() -> None:
    gate = Gate(Limits(10, 10))
    first = gate.admit(0.0)
    assert not isinstance(first, Refused)
    gate.set_backends_ready(True)
    assert gate.must_hold()  # first is still being released
    assert await first.released is None
    first.mark_dispatched()
    await gate.drained()
    assert not gate.must_hold()


async def test_requeue_restores_arrival_position_and_close_refuses_everyone() -> None:
    gate = Gate(Limits(10, 10))
    a, b = gate.admit(0.0), gate.admit(1.0)
    assert not isinstance(a, Refused) and not isinstance(b, Refused)
    gate.set_backends_ready(True)
    assert await a.released is None
    gate.set_backends_ready(False)
    a.mark_dispatched()
    gate.requeue(a)  # a's backend refused the connection: a goes back before b
    assert gate.held == 2
    assert gate.forget(b) and gate.held == 1 and b.released.cancelled()
    assert gate.close() == 1
    assert a.released.result() is Refused.SHUTDOWN
    assert gate.admit(2.0) is Refused.SHUTDOWN


async def test_signal_due_first_at_once_then_every_interval_and_again_after_an_episode() -> None:
    gate = Gate(Limits(10, 10))
    assert gate.signal_due(0.0) is None  # nothing held, nothing to say
    w = gate.admit(0.0)
    assert not isinstance(w, Refused)
    assert gate.signal_due(0.0, every=10) == "first"
    gate.signalled(0.0)
    assert gate.signal_due(5.0, every=10) is None
    assert gate.signal_due(10.0, every=10) == "again"
    assert gate.forget(w)
    assert gate.signal_due(11.0, every=10) is None
    gate.admit(12.0)  # a new episode: its first request signals at once, not 10 s after the last one
    assert gate.signal_due(12.0, every=10) == "first"


def _slice(service: str, endpoints: list[dict[str, object]], ports: list[dict[str, object]] | None = None,
           address_type: str = "IPv4") -> dict[str, object]:
    return {
        "metadata": {"namespace": "team-a", "name": f"{service}-abcde",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": address_type,
        "ports": ports if ports is not None else [{"name": "http", "port": 8000, "protocol": "TCP"}],
        "endpoints": endpoints,
    }


def test_endpointslice_of_the_pods_service_gives_ready_backends() -> None:
    entry = slice_entry(_slice("chat-pods", [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.2"], "conditions": {}},  # unknown means ready
        {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
        {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}},
    ]))
    assert entry == ("team-a/chat-pods-abcde", CHAT, (Backend("10.0.0.1", 8000), Backend("10.0.0.2", 8000)))


def test_endpointslice_port_and_service_rules() -> None:
    ready = [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]
    assert slice_entry(_slice("chat", ready)) is None  # the InferenceService's own Service: not a backend
    assert slice_entry(_slice("-pods", ready)) is None
    two = [{"name": "metrics", "port": 9400}, {"name": "http", "port": 8080}]
    assert slice_entry(_slice("chat-pods", ready, two)) == ("team-a/chat-pods-abcde", CHAT,
                                                             (Backend("10.0.0.1", 8080),))
    assert slice_entry(_slice("chat-pods", ready, [{"name": "grpc", "port": 9000}]))[2] == (  # type: ignore[index]
        Backend("10.0.0.1", 9000),)
    ambiguous = [{"name": "a", "port": 1}, {"name": "b", "port": 2}]
    assert slice_entry(_slice("chat-pods", ready, ambiguous))[2] == ()  # type: ignore[index]
    assert slice_entry(_slice("chat-pods", ready, address_type="FQDN"))[2] == ()  # type: ignore[index]


def test_limits_come_from_scale_to_zero_with_defaults() -> None:
    default = Limits(1000, 300.0)
    assert limits_of({"spec": {}}, default) == default
    spec = {"spec": {"autoscaling": {"scaleToZero": {"maxHeldRequests": 50, "holdTimeoutSeconds": 600}}}}
    assert limits_of(spec, default) == Limits(50, 600.0)
    partial = {"spec": {"autoscaling": {"scaleToZero": {"maxHeldRequests": 0, "holdTimeoutSeconds": True}}}}
    assert limits_of(partial, default) == default


def test_directory_merges_slices_and_notifies_on_change() -> None:
    directory = Directory()
    seen: list[ServiceKey] = []
    directory.subscribe(seen.append)
    directory.set_service(CHAT)
    a, b = Backend("10.0.0.1", 80), Backend("10.0.0.2", 80)
    directory.set_backends(CHAT, [a], "s1")
    directory.set_backends(CHAT, [b, a], "s2")
    assert directory.backends(CHAT) == (a, b)
    directory.set_backends(CHAT, [a, b], "s2")  # the same set again: no notification
    assert seen == [CHAT, CHAT, CHAT]
    directory.replace_slices({})
    assert directory.backends(CHAT) == () and len(seen) == 4
    directory.replace_services({})
    assert not directory.known(CHAT)
    directory.expect("isvc")
    assert not directory.synced
    directory.mark_synced("isvc")
    assert directory.synced


def test_activation_annotation_contract() -> None:
    when = datetime(2026, 12, 2, 1, 23, 45, 678901, tzinfo=UTC)
    assert activation_timestamp(when) == "2026-12-02T01:23:45.678Z"
    assert activation_timestamp(when.astimezone(timezone(timedelta(hours=2)))) == "2026-12-02T01:23:45.678Z"
    assert activation_patch(when) == {"metadata": {"annotations": {ACTIVATION_ANNOTATION: "2026-12-02T01:23:45.678Z"}}}
    assert ACTIVATION_ANNOTATION == "inferop.dev/activation-requested"
    assert parse_activation_timestamp("2026-12-02T01:23:45.678Z") == when.replace(microsecond=678000)
    assert parse_activation_timestamp("yesterday") is None
    assert parse_activation_timestamp("2026-12-02T01:23:45") is None  # no zone: not ours
