"""Tenant headroom arithmetic: GPUs across classes, per-class caps, CPU/memory, budget; several services
sharing a tenant; a service changing class; the clamp and which limit it names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inferop.api.gpuclass import GPUClass
from inferop.api.inferenceservice import InferenceService
from inferop.api.tenant import TenantSpec
from inferop.tenancy.headroom import ServiceUsage, clamp, headroom
from inferop.tenancy.usage import held_replicas, service_usage

H100 = GPUClass.model_validate({"metadata": {"name": "h100"}, "spec": {"price": {"perGPUHour": "4.10"}}})
L4 = GPUClass.model_validate({"metadata": {"name": "l4"}, "spec": {"price": {"perGPUHour": "0.80"}}})
CLASSES = {"h100": H100, "l4": L4}


def tenant(**quota: object) -> TenantSpec:
    budget = quota.pop("budget", None)
    spec: dict[str, object] = {"namespaces": ["team-a"], "quota": quota}
    if budget is not None:
        spec["budget"] = {"hourly": budget}
    return TenantSpec.model_validate(spec)


def usage(name: str, cls: str | None, gpus: int, replicas: int, price: str = "0", cpu: str = "0") -> ServiceUsage:
    return ServiceUsage("team-a", name, cls, gpus, Decimal(cpu), Decimal(0), Decimal(price), replicas)


def isvc(name: str, cls: str, count: int, replicas: int, cpu: str | None = None) -> InferenceService:
    resources: dict[str, object] = {"gpu": {"class": cls, "count": count}}
    if cpu:
        resources["cpu"] = cpu
    return InferenceService.model_validate({
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"model": {"uri": "hf://org/m"}, "resources": resources, "replicas": replicas},
    })


def test_gpu_quota_counts_every_other_service() -> None:
    me = usage("chat", "h100", 2, 0)
    others = [usage("a", "h100", 1, 4), usage("b", "l4", 2, 3)]  # 4 + 6 = 10 GPUs held
    room = headroom("team-a", tenant(gpus=16), me, others, wanted=4)
    assert room.quota is not None and room.quota.replicas == 3  # 6 GPUs left / 2 per replica
    result = clamp(4, room)
    assert (result.replicas, result.limited_by) == (3, "Quota")
    assert result.message == "wants 4 replicas (8 GPUs); tenant team-a has 6 of 16 GPUs left"


def test_the_service_itself_is_not_counted_against_itself() -> None:
    me = usage("chat", "h100", 1, 8)
    room = headroom("team-a", tenant(gpus=8), me, [me, usage("chat", "h100", 1, 8)], wanted=8)
    assert room.quota is not None and room.quota.replicas == 8


def test_per_class_cap_binds_before_the_total() -> None:
    me = usage("chat", "h100", 1, 0)
    others = [usage("a", "h100", 1, 6), usage("b", "l4", 1, 4)]
    room = headroom("team-a", tenant(gpus=16, gpusPerClass={"h100": 8}), me, others, wanted=5)
    assert room.quota is not None and room.quota.replicas == 2  # 8 - 6 H100s, though 6 GPUs total are left
    assert "h100 GPUs" in room.quota.message


def test_changing_class_moves_the_service_to_the_other_cap() -> None:
    others = [usage("a", "h100", 1, 8)]
    spec = tenant(gpus=16, gpusPerClass={"h100": 8})
    on_h100 = headroom("team-a", spec, usage("chat", "h100", 1, 2), others, wanted=2)
    on_l4 = headroom("team-a", spec, usage("chat", "l4", 1, 2), others, wanted=2)
    assert on_h100.quota is not None and on_h100.quota.replicas == 0
    assert on_l4.quota is not None and on_l4.quota.replicas == 8  # only the total applies to L4


def test_budget_clamps_by_price_of_others() -> None:
    me = usage("chat", "h100", 1, 0, price="4.10")
    others = [usage("a", "l4", 2, 5, price="1.60")]  # 8.00/h spent
    room = headroom("team-a", tenant(budget="20.00"), me, others, wanted=4)
    assert room.budget is not None and room.budget.replicas == 2  # 12.00 / 4.10
    result = clamp(4, room)
    assert result.limited_by == "Budget"
    assert "has 12.00 of 20.00 USD/h left" in result.message


def test_cpu_only_services_never_hit_the_budget() -> None:
    me = usage("embed", None, 0, 0, price="0")
    room = headroom("team-a", tenant(budget="0.00"), me, [], wanted=10)
    assert room.budget is None and clamp(10, room).replicas == 10


def test_cpu_quota_uses_requests() -> None:
    me = usage("embed", None, 0, 0, cpu="2")
    others = [usage("x", None, 0, 3, cpu="4")]  # 12 CPUs held
    room = headroom("team-a", tenant(cpu="16"), me, others, wanted=5)
    assert room.quota is not None and room.quota.replicas == 2


def test_quota_wins_a_tie_with_budget_and_no_clamp_when_it_fits() -> None:
    me = usage("chat", "h100", 1, 0, price="4.10")
    room = headroom("team-a", tenant(gpus=2, budget="8.20"), me, [], wanted=3)
    assert clamp(3, room).limited_by == "Quota"
    assert clamp(2, room).limited_by is None and clamp(2, room).replicas == 2


@pytest.mark.parametrize(("status", "held"), [
    ({}, 0), ({"replicas": 3}, 3), ({"replicas": 1, "autoscaling": {"desiredReplicas": 4}}, 4),
    ({"replicas": 5, "autoscaling": {"desiredReplicas": 2}}, 5),
])
def test_held_replicas_is_what_exists_or_was_decided(status: dict[str, object], held: int) -> None:
    assert held_replicas(status) == held


def test_service_usage_prices_gpus_and_uses_limitrange_defaults() -> None:
    spec = TenantSpec.model_validate({"namespaces": ["team-a"], "limitDefaults": {"defaultRequestCPU": "250m"}})
    u = service_usage(isvc("chat", "h100", 2, 1), CLASSES, spec, replicas=3)
    assert u.price_per_replica == Decimal("8.20") and u.gpus_per_replica == 2
    assert u.cpu_per_replica == Decimal("0.25") and u.replicas == 3
    assert service_usage(isvc("chat", "h100", 2, 1, cpu="4"), CLASSES, spec).cpu_per_replica == Decimal(4)


# --- currencies (issue 17 item 9): never converted, never summed, never clamped across ----------------


def priced(name: str, currency: str, replicas: int, price: str = "600") -> ServiceUsage:
    return ServiceUsage("team-a", name, "yen", 1, Decimal(0), Decimal(0), Decimal(price), replicas, currency)


def test_a_price_in_another_currency_is_a_mismatch_and_no_budget_clamp() -> None:
    from inferop.tenancy.headroom import currency_mismatch

    spec = tenant(gpus=8, budget="10.00")
    me = priced("svc", "JPY", 0)
    message = currency_mismatch("team-a", spec, me)
    assert message is not None and "JPY" in message and "USD" in message and "yen" in message
    room = headroom("team-a", spec, me, [], wanted=3)
    assert room.budget is None, "no clamp computed across currencies"
    assert clamp(3, room).replicas == 3


def test_same_currency_is_no_mismatch_and_other_currencies_are_not_summed() -> None:
    from inferop.tenancy.headroom import currency_mismatch

    spec = tenant(gpus=8, budget="10.00")
    me = priced("svc", "USD", 0, price="4.00")
    assert currency_mismatch("team-a", spec, me) is None
    assert currency_mismatch("team-a", tenant(gpus=8), priced("x", "JPY", 1)) is None  # no budget, nothing to compare
    others = [priced("yen", "JPY", 5, price="600"), priced("usd", "USD", 1, price="4.00")]
    room = headroom("team-a", spec, me, others, wanted=3)
    assert room.budget is not None and room.budget.replicas == 1  # 10 - 4 USD left; the 3000 JPY are not dollars


def test_service_usage_carries_the_currency_of_its_price() -> None:
    yen = GPUClass.model_validate(
        {"metadata": {"name": "yen"}, "spec": {"price": {"perGPUHour": "600", "currency": "JPY"}}}
    )
    u = service_usage(isvc("a", "yen", 2, 1), {"yen": yen}, tenant(gpus=8))
    assert (u.price_per_replica, u.currency) == (Decimal(1200), "JPY")
    free = service_usage(isvc("b", "h100", 1, 1), {}, tenant(gpus=8))
    assert free.currency is None and not free.priced


def test_the_allowance_holds_the_price_the_clamp_and_the_headroom_of_one_service() -> None:
    """``allowance`` is what a reconcile and a cost tick compute once and pass on."""
    from inferop.tenancy.headroom import Headroom, Tenancy
    from inferop.tenancy.usage import allowance

    held = (usage("a", "h100", 1, 4),)  # 4 of 8 GPUs held by another service
    room = allowance(isvc("chat", "h100", 2, 3), CLASSES, Tenancy("team-a", tenant(gpus=8), held))
    assert (room.price, room.currency, room.wanted, room.applies) == (Decimal("8.20"), "USD", 3, True)
    assert (room.clamped.replicas, room.clamped.limited_by) == (2, "Quota")
    assert room.headroom == Headroom(quota_replicas=2) and room.mismatch is None
    alone = allowance(isvc("chat", "h100", 2, 3), CLASSES, None)  # no tenant: priced, never clamped
    assert (alone.price, alone.clamped.replicas, alone.applies) == (Decimal("8.20"), 3, False)
    assert alone.headroom == Headroom()
    # an unknown GPUClass: nothing to render so nothing is clamped, but decide() still keeps within the quota
    lost = allowance(isvc("chat", "gone", 2, 3), CLASSES, Tenancy("team-a", tenant(gpus=8), held))
    assert (lost.applies, lost.clamped.replicas, lost.headroom.quota_replicas) == (False, 3, 2)
