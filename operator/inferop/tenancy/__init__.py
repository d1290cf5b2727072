"""Tenancy: quotas and budgets per Tenant, and the headroom arithmetic that clamps scaling.

``headroom`` is pure; ``inferop.tenancy.reconcile`` applies ResourceQuotas, LimitRanges and
namespace labels (I/O).
"""
