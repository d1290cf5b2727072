"""What an InferenceService holds of its tenant's quota and budget. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from inferop.api.gpuclass import GPUClass
from inferop.api.inferenceservice import InferenceService
from inferop.api.quantity import parse_quantity
from inferop.api.tenant import TenantSpec
from inferop.api.validation import InvalidObject, parse_isvc
from inferop.render.quota import default_requests
from inferop.tenancy.headroom import ServiceUsage


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
) -> ServiceUsage:
    gpu = isvc.spec.resources.gpu
    gpuclass = gpuclasses.get(gpu.class_) if gpu else None
    defaults = default_requests(tenant) if tenant else {"cpu": "0", "memory": "0"}
    res = isvc.spec.resources
    cpu = parse_quantity(res.cpu if res.cpu is not None else defaults["cpu"]) or Decimal(0)
    memory = parse_quantity(res.memory if res.memory is not None else defaults["memory"]) or Decimal(0)
    price, currency = price_per_replica(isvc, gpuclass)
    return ServiceUsage(
        namespace=isvc.namespace,
        name=isvc.name,
        gpu_class=gpu.class_ if gpu else None,
        gpus_per_replica=gpu.count if gpu else 0,
        cpu_per_replica=cpu,
        memory_per_replica=memory,
        price_per_replica=price,
        replicas=replicas,
        currency=currency if price > 0 else None,
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
