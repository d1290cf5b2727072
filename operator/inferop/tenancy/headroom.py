"""How many replicas a tenant's quota and budget leave for one service. Pure arithmetic.

Before the operator raises replicas (a fixed ``spec.replicas`` change, or the cost controller's
decision) it asks ``headroom`` how many replicas of *this* service fit next to what the tenant's
*other* services hold, then ``clamp``s. So it never creates pods that ResourceQuota admission
would reject, and the InferenceService says which limit bit (``QuotaLimited``/``BudgetLimited``).

What counts as held: each other service's ``max(status.replicas, status.autoscaling.desiredReplicas)``
(pods that exist, or that the operator already decided to create) times its per-replica GPUs, CPU,
memory and price. Limits:

- ``quota.gpus``: GPUs of every class together (a ResourceQuota on each GPU resource name enforces it
  in the API server as well);
- ``quota.gpusPerClass[c]``: GPUs of class ``c``. One ResourceQuota cannot tell two classes with the
  same resource name (``nvidia.com/gpu``) apart, so only this clamp enforces per-class caps;
- ``quota.cpu`` / ``quota.memory``: requests, with the tenant's LimitRange defaults for services that
  request none;
- ``budget.hourly``: the sum of every service's replicas x GPUs x price per GPU-hour. CPU-only
  services cost nothing in this model (inferop prices GPUs only) and never hit the budget. A price in
  another currency than the budget's is never converted nor summed (``currency_mismatch``): the service
  is not clamped by the budget and reports ``CurrencyMismatch`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from inferop.api.quantity import parse_quantity
from inferop.api.tenant import TenantSpec


@dataclass(frozen=True)
class Headroom:
    """The most replicas the tenant lets this service run, its current replicas included (None = no limit).
    ``decide()`` (``inferop.cost.decide``) bounds its decision with it."""

    quota_replicas: int | None = None
    budget_replicas: int | None = None


@dataclass(frozen=True)
class ServiceUsage:
    """What one replica of a service costs the tenant, and how many replicas it holds."""

    namespace: str
    name: str
    gpu_class: str | None = None
    gpus_per_replica: int = 0
    cpu_per_replica: Decimal = Decimal(0)
    memory_per_replica: Decimal = Decimal(0)
    price_per_replica: Decimal = Decimal(0)  # per hour
    replicas: int = 0
    currency: str | None = None  # of price_per_replica; None when the service is not priced

    @property
    def priced(self) -> bool:
        return self.price_per_replica > 0 and self.currency is not None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class Tenancy:
    """The tenant a service's namespace belongs to, and what the tenant's other services hold."""

    name: str
    spec: TenantSpec
    others: tuple[ServiceUsage, ...] = ()


@dataclass(frozen=True)
class Limit:
    kind: str  # "Quota" | "Budget"
    replicas: int
    message: str


@dataclass(frozen=True)
class TenantHeadroom:
    tenant: str
    quota: Limit | None = None  # the tightest quota limit
    budget: Limit | None = None

    def as_headroom(self) -> Headroom:
        return Headroom(
            quota_replicas=self.quota.replicas if self.quota else None,
            budget_replicas=self.budget.replicas if self.budget else None,
        )


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def currency_mismatch(tenant_name: str, tenant: TenantSpec, usage: ServiceUsage) -> str | None:
    """Why ``usage``'s price cannot be held against the tenant's budget (None when it can): a price in
    another currency than the budget's. inferop never converts currencies, and never clamps across them."""
    if tenant.budget is None or not usage.priced or usage.currency == tenant.budget.currency:
        return None
    return (
        f"GPUClass {usage.gpu_class} is priced in {usage.currency} but tenant {tenant_name}'s budget is in "
        f"{tenant.budget.currency}; inferop does not convert currencies: price the GPUClass in "
        f"{tenant.budget.currency} or change the budget's currency"
    )


def _fit(left: Decimal, per_replica: Decimal) -> int:
    if per_replica <= 0:
        return 1 << 30
    return max(0, int(left // per_replica))


def headroom(
    tenant_name: str,
    tenant: TenantSpec,
    me: ServiceUsage,
    others: Iterable[ServiceUsage],
    wanted: int,
) -> TenantHeadroom:
    """The replicas of ``me`` the tenant allows, given what ``others`` hold (``me`` itself is excluded)."""
    rest = [o for o in others if o.key != me.key]
    quota_limits: list[Limit] = []
    q = tenant.quota
    if q.gpus is not None and me.gpus_per_replica > 0:
        held = sum(o.gpus_per_replica * o.replicas for o in rest)
        left = max(0, q.gpus - held)
        quota_limits.append(
            Limit(
                "Quota",
                _fit(Decimal(left), Decimal(me.gpus_per_replica)),
                f"wants {wanted} replicas ({wanted * me.gpus_per_replica} GPUs); "
                f"tenant {tenant_name} has {left} of {q.gpus} GPUs left",
            )
        )
    if me.gpu_class is not None and me.gpu_class in q.gpus_per_class and me.gpus_per_replica > 0:
        cap = q.gpus_per_class[me.gpu_class]
        held = sum(o.gpus_per_replica * o.replicas for o in rest if o.gpu_class == me.gpu_class)
        left = max(0, cap - held)
        quota_limits.append(
            Limit(
                "Quota",
                _fit(Decimal(left), Decimal(me.gpus_per_replica)),
                f"wants {wanted} replicas ({wanted * me.gpus_per_replica} {me.gpu_class} GPUs); "
                f"tenant {tenant_name} has {left} of {cap} {me.gpu_class} GPUs left",
            )
        )
    for resource, limit_value, per, unit in (
        ("cpu", q.cpu, me.cpu_per_replica, "CPU"),
        ("memory", q.memory, me.memory_per_replica, "bytes of memory"),
    ):
        if limit_value is None or per <= 0:
            continue
        total = parse_quantity(limit_value) or Decimal(0)
        held_q = sum((o.cpu_per_replica if resource == "cpu" else o.memory_per_replica) * o.replicas for o in rest)
        left_q = max(Decimal(0), total - held_q)
        quota_limits.append(
            Limit(
                "Quota",
                _fit(left_q, per),
                f"wants {wanted} replicas ({per * wanted} {unit}); tenant {tenant_name} has "
                f"{left_q.normalize()} of {total.normalize()} {unit} left",
            )
        )
    budget: Limit | None = None
    if tenant.budget is not None and me.price_per_replica > 0 and currency_mismatch(tenant_name, tenant, me) is None:
        total_b = Decimal(tenant.budget.hourly)
        # Services priced in another currency are an error of their own (CurrencyMismatch), never summed.
        same = [o for o in rest if currency_mismatch(tenant_name, tenant, o) is None]
        spent = sum((o.price_per_replica * o.replicas for o in same), Decimal(0))
        left_b = max(Decimal(0), total_b - spent)
        budget = Limit(
            "Budget",
            _fit(left_b, me.price_per_replica),
            f"wants {wanted} replicas ({money(me.price_per_replica * wanted)} {tenant.budget.currency}/h); "
            f"tenant {tenant_name} has {money(left_b)} of {money(total_b)} {tenant.budget.currency}/h left",
        )
    quota = min(quota_limits, key=lambda lim: lim.replicas) if quota_limits else None
    return TenantHeadroom(tenant=tenant_name, quota=quota, budget=budget)


@dataclass(frozen=True)
class Clamped:
    replicas: int
    limited_by: str | None  # "Quota" | "Budget" | None
    message: str


def clamp(wanted: int, room: TenantHeadroom | None) -> Clamped:
    """``wanted`` lowered to what quota and budget allow; quota wins a tie (it is the hard limit)."""
    if room is None:
        return Clamped(wanted, None, "")
    for limit in (room.quota, room.budget):
        if limit is not None and wanted > limit.replicas:
            tighter = [lim for lim in (room.quota, room.budget) if lim is not None and lim.replicas < wanted]
            binding = min(tighter, key=lambda lim: (lim.replicas, lim.kind != "Quota"))
            return Clamped(binding.replicas, binding.kind, binding.message)
    return Clamped(wanted, None, "")
