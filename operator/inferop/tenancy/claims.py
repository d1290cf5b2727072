"""Which Tenant a namespace belongs to when several list it, and which namespaces a Tenant may not
take at all. Pure: the callers pass what they read (kopf's indexes, the namespace's label).

One namespace belongs to at most one Tenant (two would force-apply the same ResourceQuota in turn and
both count the same services). The rule is deterministic and stable:

1. the Tenant that already holds it (the namespace's ``inferop.dev/tenant`` label), as long as that
   Tenant still lists it: a newer or an older Tenant that adds the namespace later never takes it away;
2. otherwise the oldest Tenant by ``creationTimestamp``, then by name.

The operator's Tenant loop and the InferenceService clamp (``inferop.reconcile.cache.tenancy``) both
ask ``owner``, so admission (the owner's ResourceQuota) and the clamp agree. When the owner drops the
namespace (or is deleted), the next claimant takes it over on its next reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from inferop.api.tenant import SYSTEM_NAMESPACE_PREFIX


@dataclass(frozen=True)
class Claimant:
    """A Tenant that lists the namespace: its name and creationTimestamp (RFC 3339, sortable as text)."""

    name: str
    created: str = ""


def owner(claimants: Iterable[Claimant], holder: str | None) -> str | None:
    """The name of the Tenant that owns the namespace, or None when no Tenant lists it."""
    listed = list(claimants)
    if not listed:
        return None
    if holder is not None and any(c.name == holder for c in listed):
        return holder
    return min(listed, key=lambda c: (c.created or "~", c.name)).name


def refused(namespace: str, operator_namespace: str | None, allow_system: bool) -> str | None:
    """Why a Tenant may not take ``namespace`` (None when it may): Kubernetes' own ``kube-*`` namespaces
    and the operator's namespace, unless the Tenant sets ``allowSystemNamespaces``."""
    if allow_system:
        return None
    if namespace.startswith(SYSTEM_NAMESPACE_PREFIX):
        return f"{namespace} is a Kubernetes system namespace"
    if operator_namespace and namespace == operator_namespace:
        return f"{namespace} is the namespace the inferop operator runs in"
    return None
