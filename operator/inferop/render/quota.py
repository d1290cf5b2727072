"""Build what a Tenant owns in each of its namespaces: one ResourceQuota, one LimitRange, and the
namespace's labels (Pod Security admission level, tenant). Pure: returns manifest dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from inferop.api.gpuclass import is_extended_resource_name
from inferop.api.tenant import DEFAULT_REQUEST_CPU, DEFAULT_REQUEST_MEMORY, TenantSpec
from inferop.render.errors import RenderError

QUOTA_NAME = "inferop-tenant"
#: The second ResourceQuota: no pods with a system priority class (unless the Tenant allows them).
SYSTEM_PRIORITY_QUOTA_NAME = "inferop-tenant-system-priority"
SYSTEM_PRIORITY_CLASSES = ("system-cluster-critical", "system-node-critical")
LIMITRANGE_NAME = "inferop-tenant"
TENANT_LABEL = "inferop.dev/tenant"


def _labels(tenant: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "inferop", "app.kubernetes.io/part-of": "inferop", TENANT_LABEL: tenant}


def build_resource_quota(tenant: str, spec: TenantSpec, namespace: str, gpu_resources: Iterable[str]) -> dict[str, Any]:
    """``quota.gpus`` on every GPU resource name in use (the per-resource ceiling the API server can
    enforce; the sum across resource names and per-class caps are enforced by the headroom clamp)."""
    hard: dict[str, str] = {}
    if spec.quota.gpus is not None:
        for resource in sorted(set(gpu_resources)):
            if not is_extended_resource_name(resource):
                # Never a GPU count under requests.cpu, requests.memory or another native key.
                message = f'GPUClass resource "{resource}" is not an extended resource name; refusing to quota it'
                raise RenderError("spec.quota.gpus", message)
            hard[f"requests.{resource}"] = str(spec.quota.gpus)
    if spec.quota.cpu is not None:
        hard["requests.cpu"] = str(spec.quota.cpu)
    if spec.quota.memory is not None:
        hard["requests.memory"] = str(spec.quota.memory)
    if spec.quota.inference_services is not None:
        hard["count/inferenceservices.inferop.dev"] = str(spec.quota.inference_services)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": _labels(tenant)},
        "spec": {"hard": hard},
    }


def build_system_priority_quota(tenant: str, namespace: str) -> dict[str, Any]:
    """Pods with ``system-node-critical``/``system-cluster-critical`` are refused in the namespace: a
    ResourceQuota scoped to those priority classes with ``hard: {pods: 0}`` (the way the Kubernetes
    documentation limits priority class consumption)."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": SYSTEM_PRIORITY_QUOTA_NAME, "namespace": namespace, "labels": _labels(tenant)},
        "spec": {
            "hard": {"pods": "0"},
            "scopeSelector": {
                "matchExpressions": [
                    {"scopeName": "PriorityClass", "operator": "In", "values": list(SYSTEM_PRIORITY_CLASSES)}
                ]
            },
        },
    }


def uncounted(live: Mapping[str, Any] | None) -> list[str]:
    """The ``hard`` keys of a live ResourceQuota that the kube-controller-manager has processed but not
    counted (no ``status.used`` entry). Quota admission refuses every object such a key covers ("status
    unknown for quota") until the quota is recounted. A quota whose ``status.hard`` differs from its
    ``spec.hard`` is still waiting for its first count: nothing is reported for it yet."""
    if not live:
        return []
    hard = (live.get("spec") or {}).get("hard") or {}
    status = live.get("status") or {}
    if set(hard) != set(status.get("hard") or {}):
        return []
    used = status.get("used") or {}
    return sorted(k for k in hard if k not in used)


def counting_pending(live: Mapping[str, Any] | None) -> bool:
    """The controller has not yet written ``status.hard`` for the quota's current ``spec.hard``."""
    if not live:
        return False
    hard = (live.get("spec") or {}).get("hard") or {}
    return set(hard) != set(((live.get("status") or {}).get("hard")) or {})


def without_hard(quota: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``quota`` with the ``hard`` limits ``keys`` left out."""
    drop = set(keys)
    spec = {**quota["spec"], "hard": {k: v for k, v in quota["spec"]["hard"].items() if k not in drop}}
    return {**quota, "spec": spec}


def default_requests(spec: TenantSpec) -> dict[str, str]:
    d = spec.limit_defaults
    return {
        "cpu": str(d.default_request_cpu) if d and d.default_request_cpu is not None else DEFAULT_REQUEST_CPU,
        "memory": str(d.default_request_memory)
        if d and d.default_request_memory is not None
        else DEFAULT_REQUEST_MEMORY,
    }


def build_limit_range(tenant: str, spec: TenantSpec, namespace: str) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "Container", "defaultRequest": default_requests(spec)}
    d = spec.limit_defaults
    default: dict[str, str] = {}
    if d is not None and d.default_cpu is not None:
        default["cpu"] = str(d.default_cpu)
    if d is not None and d.default_memory is not None:
        default["memory"] = str(d.default_memory)
    if default:
        item["default"] = default
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": LIMITRANGE_NAME, "namespace": namespace, "labels": _labels(tenant)},
        "spec": {"limits": [item]},
    }


def build_namespace_labels(tenant: str, spec: TenantSpec, namespace: str) -> dict[str, Any]:
    """The namespace fields inferop owns (applied with server-side apply: other labels are untouched)."""
    level = spec.pod_security
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace,
            "labels": {
                TENANT_LABEL: tenant,
                "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": level,
                "pod-security.kubernetes.io/audit": level,
            },
        },
    }
