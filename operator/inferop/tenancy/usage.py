"""What an InferenceService holds of its tenant's quota and budget, and what the tenant allows it. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from inferop.api.gpuclass import GPUClass
from inferop.api.inferenceservice import InferenceService
from inferop.api.quantity import parse_quantity
from inferop.api.tenant import TenantSpec
from inferop.api.validation import InvalidObject, parse_isvc
from inferop.render.quota import default_requests
from inferop.tenancy.headroom import (
    Clamped,
    Headroom,
    ServiceUsage,
    Tenancy,
    clamp,
    currency_mismatch,
    headroom,
)


def price_per_replica(isvc: InferenceService, gpuclass: GPUClass | None) -> tuple[Decimal, str]:
    """Hourly price of one replica: GPUs x price per GPU-hour (CPU-only services cost 0 here)."""
    gpu = isvc.spec.resources.gpu
    if gpu is None or gpuclass is None or gpuclass.spec.price is None:
        return Decimal(0), (gpuclass.spec.price.currency if gpuclass and gpuclass.spec.price else "USD")
    return Decimal(gpuclass.spec.price.per_gpu_hour) * gpu.count, gpuclass.spec.price.currency


def held_replicas(status: Mapping[str, Any] | None) -> int:
    """Replicas a service holds: pods that exist, or that the operator already decided to run."""
    status = status or {}
    decided = (status.get("autoscaling") or {}).get("desiredReplicas") or 0
    return max(int(status.get("replicas") or 0), int(decided))


def service_usage(
    isvc: InferenceService,
    gpuclasses: Mapping[str, GPUClass],
    tenant: TenantSpec | None,
    replicas: int = 0,
    price: tuple[Decimal, str] | None = None,
) -> ServiceUsage:
    """What ``replicas`` replicas of ``isvc`` hold; ``price``: ``price_per_replica``'s answer when the
    caller has it already."""
    gpu = isvc.spec.resources.gpu
    gpuclass = gpuclasses.get(gpu.class_) if gpu else None
    defaults = default_requests(tenant) if tenant else {"cpu": "0", "memory": "0"}
    res = isvc.spec.resources
    cpu = parse_quantity(res.cpu if res.cpu is not None else defaults["cpu"]) or Decimal(0)
    memory = parse_quantity(res.memory if res.memory is not None else defaults["memory"]) or Decimal(0)
    hourly, currency = price if price is not None else price_per_replica(isvc, gpuclass)
    return ServiceUsage(
        namespace=isvc.namespace,
        name=isvc.name,
        gpu_class=gpu.class_ if gpu else None,
        gpus_per_replica=gpu.count if gpu else 0,
        cpu_per_replica=cpu,
        memory_per_replica=memory,
        price_per_replica=hourly,
        replicas=replicas,
        currency=currency if hourly > 0 else None,
    )


@dataclass(frozen=True)
class Allowance:
    """What the tenant allows one service, computed once (``allowance``) per reconcile and per cost tick,
    then passed on: the price of one replica, the clamp of the replicas its spec wants at most, and the
    headroom ``decide()`` is bounded by."""

    #: One replica's price per hour and its currency (``price_per_replica``).
    price: Decimal
    currency: str
    #: The replicas the spec wants at most: ``maxReplicas``, or the fixed ``replicas``.
    wanted: int
    #: ``wanted`` lowered to what quota and budget allow (unclamped when no tenant applies).
    clamped: Clamped
    #: A tenant applies: the namespace belongs to one and the service's GPUClass is known.
    applies: bool = False
    #: For ``decide()``: the most replicas quota and budget leave (unlimited without a tenant).
    headroom: Headroom = field(default_factory=Headroom)
    #: Why the price cannot be held against the budget (``currency_mismatch``), or None.
    mismatch: str | None = None


def allowance(isvc: InferenceService, gpuclasses: Mapping[str, GPUClass], tenancy: Tenancy | None) -> Allowance:
    """The price, the tenant clamp and the headroom of ``isvc``, each computed once."""
    spec = isvc.spec
    gpu = spec.resources.gpu
    price, currency = price_per_replica(isvc, gpuclasses.get(gpu.class_) if gpu else None)
    wanted = spec.autoscaling.max_replicas if spec.autoscaling is not None else (spec.fixed_replicas or 0)
    unclamped = Clamped(wanted, None, "")
    if tenancy is None:
        return Allowance(price, currency, wanted, unclamped)
    me = service_usage(isvc, gpuclasses, tenancy.spec, price=(price, currency))
    room = headroom(tenancy.name, tenancy.spec, me, tenancy.others, wanted)
    if gpu is not None and gpu.class_ not in gpuclasses:
        # Rendering fails (GPUClassNotFound): nothing to clamp, but decide() still keeps within the quota.
        return Allowance(price, currency, wanted, unclamped, headroom=room.as_headroom())
    return Allowance(
        price,
        currency,
        wanted,
        clamp(wanted, room),
        applies=True,
        headroom=room.as_headroom(),
        mismatch=currency_mismatch(tenancy.name, tenancy.spec, me),
    )


def usages(
    services: Iterable[Mapping[str, Any]],
    gpuclasses: Mapping[str, GPUClass],
    tenant: TenantSpec | None,
    parse: Callable[[Mapping[str, Any]], InferenceService] = parse_isvc,
) -> list[ServiceUsage]:
    """What each InferenceService (a body with metadata, spec, status) holds; invalid ones hold nothing.
    ``parse`` turns a body into its model (the operator's cache passes its memoised parser)."""
    out = []
    for body in services:
        try:
            isvc = parse(body)
        except InvalidObject:
            continue
        out.append(service_usage(isvc, gpuclasses, tenant, held_replicas(body.get("status"))))
    return out
