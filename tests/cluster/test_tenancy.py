"""Tenants on the real API server: the ResourceQuota is real (admission rejects a pod beyond it); an
InferenceService asking for more than the headroom is clamped with QuotaLimited and leaves no Pending
pods; a budget below the requested replicas clamps with BudgetLimited; $/hr shows in `kubectl get
infsvc`; namespace changes add and remove quotas; deleting the Tenant removes its quotas and nothing
else; pods we generate pass Pod Security "restricted"."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_reconcile import condition, example

ROOT = Path(__file__).resolve().parents[2]


def make_tenant(cluster: Cluster, namespaces: list[str], **spec: Any) -> str:
    name = f"tenant-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"namespaces": namespaces, **spec},
        }
    )
    return name


@pytest.fixture
def tenant_cleanup(cluster: Cluster) -> Any:
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def quota_in(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    return cluster.get("resourcequota", "inferop-tenant", namespace)


def gpu_service(name: str, replicas: int, count: int) -> dict[str, Any]:
    obj = example("llm-vllm.yaml")
    obj["metadata"]["name"] = name
    del obj["spec"]["autoscaling"]
    obj["spec"]["replicas"] = replicas
    obj["spec"]["resources"] = {"cpu": "2", "memory": "8Gi", "gpu": {"class": "h100", "count": count}}
    return obj


def running_pods(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    pods = cluster.list("pods", namespace, selector=f"inferop.dev/inferenceservice={name}")
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def test_quota_is_enforced_by_admission(
    cluster: Cluster, operator: Operator, namespace: str, tenant_cleanup: list[str]
) -> None:
    tenant_cleanup.append(make_tenant(cluster, [namespace], quota={"gpus": 2}))
    quota = wait_for(lambda: quota_in(cluster, namespace), what="ResourceQuota created by the operator")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"
    ns = cluster.get("namespace", namespace)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"  # type: ignore[index]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "greedy"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "resources": {"requests": {"nvidia.com/gpu": "3"}, "limits": {"nvidia.com/gpu": "3"}},
                }
            ],
        },
    }
    proc = cluster.apply(pod, namespace=namespace, check=False)
    assert proc.returncode != 0 and "exceeded quota" in proc.stderr, proc.stderr


def test_over_quota_service_is_clamped_without_pending_pods(
    cluster: Cluster, operator: Operator, namespace: str, tenant_cleanup: list[str]
) -> None:
    tenant = make_tenant(cluster, [namespace], quota={"gpus": 4})
    tenant_cleanup.append(tenant)
    wait_for(lambda: quota_in(cluster, namespace), what="ResourceQuota")
    cluster.apply(gpu_service("big", replicas=4, count=2), namespace=namespace)

    def limited() -> dict[str, Any] | None:
        obj = cluster.get("inferenceservice", "big", namespace)
        return (
            obj
            if condition(obj, "QuotaLimited").get("status") == "True"
            and condition(obj, "Ready").get("status") == "True"
            else None
        )

    isvc = wait_for(limited, timeout=90, what="QuotaLimited=True and Ready=True")
    assert (
        condition(isvc, "QuotaLimited")["message"] == f"wants 4 replicas (8 GPUs); tenant {tenant} has 4 of 4 GPUs left"
    )
    assert isvc["status"]["autoscaling"]["limitedBy"] == "Quota"
    assert cluster.get("deployment", "big", namespace)["spec"]["replicas"] == 2  # type: ignore[index]
    pods = running_pods(cluster, namespace, "big")
    assert len(pods) == 2
    assert all(p["status"].get("phase") == "Running" for p in pods), "pods must run under Pod Security restricted"
    events = cluster.list("events", namespace)
    assert any(e.get("reason") == "QuotaLimited" and e["involvedObject"]["name"] == "big" for e in events)
    # A second service gets what is left: nothing.
    cluster.apply(gpu_service("second", replicas=1, count=1), namespace=namespace)
    second = wait_for(
        lambda: (
            condition(cluster.get("inferenceservice", "second", namespace), "QuotaLimited").get("status") == "True"
            and cluster.get("inferenceservice", "second", namespace)
        ),
        what="second service QuotaLimited",
    )
    assert cluster.get("deployment", "second", namespace)["spec"]["replicas"] == 0  # type: ignore[index]
    assert "has 0 of 4 GPUs left" in condition(second, "QuotaLimited")["message"]


def test_budget_clamps_and_cost_is_shown(
    cluster: Cluster, operator: Operator, namespace: str, tenant_cleanup: list[str]
) -> None:
    tenant_cleanup.append(make_tenant(cluster, [namespace], quota={"gpus": 16}, budget={"hourly": "8.20"}))
    wait_for(lambda: quota_in(cluster, namespace), what="ResourceQuota")
    cluster.apply(gpu_service("pricey", replicas=3, count=1), namespace=namespace)

    def limited() -> dict[str, Any] | None:
        obj = cluster.get("inferenceservice", "pricey", namespace)
        ok = (
            condition(obj, "BudgetLimited").get("status") == "True"
            and (obj or {}).get("status", {}).get("replicas") == 2
        )
        return obj if ok and condition(obj, "Ready").get("status") == "True" else None

    isvc = wait_for(limited, timeout=90, what="BudgetLimited with 2 replicas")
    assert "wants 3 replicas (12.30 USD/h)" in condition(isvc, "BudgetLimited")["message"]
    assert isvc["status"]["cost"] == {"hourly": "8.20", "currency": "USD"}
    table = cluster.kubectl("get", "infsvc", "pricey", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert "$/HR" in header and "8.20" in row.split() and "Budget" in row.split()


def test_namespace_changes_move_quotas_and_delete_keeps_namespaces(
    cluster: Cluster, operator: Operator, namespace: str, tenant_cleanup: list[str]
) -> None:
    other = f"{namespace}-b"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        name = make_tenant(cluster, [namespace], quota={"gpus": 8, "cpu": "32"})
        tenant_cleanup.append(name)
        wait_for(lambda: quota_in(cluster, namespace), what="quota in the first namespace")
        assert cluster.get("limitrange", "inferop-tenant", namespace) is not None

        cluster.kubectl(
            "patch", "tenant", name, "--type=merge", "-p", yaml.safe_dump({"spec": {"namespaces": [other]}})
        )
        wait_for(lambda: quota_in(cluster, other), what="quota added to the new namespace")
        wait_for(lambda: quota_in(cluster, namespace) is None, what="quota removed from the old namespace")
        assert cluster.get("limitrange", "inferop-tenant", namespace) is None
        labels = cluster.get("namespace", namespace)["metadata"].get("labels", {})  # type: ignore[index]
        assert "inferop.dev/tenant" not in labels

        cluster.kubectl("delete", "tenant", name, "--timeout=60s")
        wait_for(lambda: quota_in(cluster, other) is None, what="quota garbage-collected with the Tenant")
        assert cluster.get("namespace", other) is not None, "deleting a Tenant must not delete its namespaces"
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)
