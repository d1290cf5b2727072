"""Tenancy: the pure arithmetic of quotas and budgets per Tenant, and the types it owns. Pure: no I/O.

- ``headroom``: ``Tenancy`` (a namespace's tenant and what its other services hold), ``ServiceUsage``,
  ``headroom()`` and ``clamp()`` (how many replicas quota and budget leave one service), ``Headroom``
  (what ``decide()`` is bounded by);
- ``usage``: what one InferenceService holds and costs (``service_usage``, ``price_per_replica``,
  ``usages``);
- ``claims``: which Tenant owns a namespace several list.

The Tenant reconcile loop (ResourceQuotas, LimitRanges, namespace labels: I/O) is
``inferop.reconcile.tenant``.
"""
