"""Status that says why, on a real control plane (issue 17, items 5 and 12).

Covers: an affinity with an unknown key is reported as ``Ready=False`` naming the field, with a Warning
Event, and is not retried in a PATCH storm (the audit log counts the operator's writes); a GPU request
no node can satisfy shows the scheduler's own reason (``Unschedulable``); ``autoscaling.policy`` naming
no CostPolicy shows ``PolicyResolved=False, reason: PolicyNotFound`` and an Event; deleting the GPUClass
in use leaves the cost unknown (no ``hourly``, a reason), not 0.00; a Tenant whose quota leaves no GPU
makes the service ``Ready=False, reason: QuotaLimited`` instead of Ready with 0 replicas.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_reconcile import condition, example
from tests.cluster.test_tenancy import gpu_service, make_tenant, tenant_cleanup  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]


def events_for(cluster: Cluster, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.list("events", namespace)
        if e.get("reason") == reason and e["involvedObject"]["name"] == name
    ]


def ready_with_reason(cluster: Cluster, operator: Operator, name: str, namespace: str, reason: str) -> Any:
    def check() -> dict[str, Any] | None:
        operator.assert_alive()
        cond = condition(cluster.get("inferenceservice", name, namespace), "Ready")
        return cond if cond.get("reason") == reason else None

    return wait_for(check, timeout=90, what=f"{namespace}/{name} Ready reason {reason}")


def test_unknown_affinity_key_is_reported_once_not_retried(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    obj = example("cpu-embeddings.yaml")
    obj["spec"]["replicas"] = 1
    obj["spec"]["scheduling"] = {"affinity": {"nodeAffinity": {"foo": "bar"}}}
    cluster.apply(obj, namespace=namespace)

    ready = ready_with_reason(cluster, operator, "embed", namespace, "InvalidSpec")
    assert ready["status"] == "False"
    assert "spec.scheduling.affinity.nodeAffinity.foo: unknown field" in ready["message"]
    wait_for(lambda: events_for(cluster, namespace, "embed", "InvalidSpec"), what="a Warning Event InvalidSpec")
    assert all(e["type"] == "Warning" for e in events_for(cluster, namespace, "embed", "InvalidSpec"))

    # No storm: over 20 s (four ticks of the test operator's 5 s drift timer) at most a few PATCHes of the
    # Deployment (none, since the spec is refused before anything is applied).
    since = time.time()
    time.sleep(20)
    patches = [
        w
        for w in cluster.audit_writes(since, namespace)
        if w.get("verb") == "patch" and w.get("objectRef", {}).get("resource") == "deployments"
    ]
    seen = [(w["requestReceivedTimestamp"], w.get("responseStatus", {}).get("code")) for w in patches]
    assert len(patches) <= 4, seen
    mentions = [line for line in operator.log().splitlines() if namespace in line]
    assert not [line for line in mentions if "API server unavailable" in line], mentions[-5:]


def test_unschedulable_gpu_request_shows_the_schedulers_reason(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    cluster.apply(gpu_service("huge", replicas=1, count=64), namespace=namespace)
    ready = ready_with_reason(cluster, operator, "huge", namespace, "Unschedulable")
    assert ready["status"] == "False"
    assert "nodes are available" in ready["message"] and "nvidia.com/gpu" in ready["message"], ready["message"]
    wait_for(lambda: events_for(cluster, namespace, "huge", "Unschedulable"), what="a Warning Event Unschedulable")


def test_missing_cost_policy_is_said(cluster: Cluster, operator: Operator, namespace: str) -> None:
    obj = example("llm-vllm.yaml")
    obj["spec"]["autoscaling"]["policy"] = "does-not-exist"
    cluster.apply(obj, namespace=namespace)

    def not_found() -> dict[str, Any] | None:
        operator.assert_alive()
        cond = condition(cluster.get("inferenceservice", "chat", namespace), "PolicyResolved")
        return cond if cond.get("reason") == "PolicyNotFound" else None

    cond = wait_for(not_found, timeout=90, what="PolicyResolved=False reason PolicyNotFound")
    assert cond["status"] == "False" and '"does-not-exist"' in cond["message"] and "instead" in cond["message"]
    events = wait_for(
        lambda: events_for(cluster, namespace, "chat", "PolicyNotFound"), what="a Warning Event PolicyNotFound"
    )
    assert events[0]["type"] == "Warning"


def test_deleted_gpuclass_leaves_cost_unknown_not_zero(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    klass = f"status-{uuid.uuid4().hex[:6]}"  # our own class: never delete the shared h100/l4
    gpuclass = list(yaml.safe_load_all((ROOT / "examples" / "gpuclasses.yaml").read_text()))[1]  # l4
    gpuclass["metadata"]["name"] = klass
    cluster.apply(gpuclass)
    try:
        obj = gpu_service("priced", replicas=1, count=1)
        obj["spec"]["resources"]["gpu"]["class"] = klass
        cluster.apply(obj, namespace=namespace)

        def costed() -> dict[str, Any] | None:
            isvc = cluster.get("inferenceservice", "priced", namespace)
            cost = ((isvc or {}).get("status") or {}).get("cost") or {}
            return isvc if cost.get("hourly") == "0.80" else None

        wait_for(costed, timeout=90, what="cost 0.80 USD/h")
        cluster.kubectl("delete", "gpuclass", klass)

        def unknown() -> dict[str, Any] | None:
            isvc = cluster.get("inferenceservice", "priced", namespace)
            cost = ((isvc or {}).get("status") or {}).get("cost") or {}
            return cost if "hourly" not in cost and cost.get("unknownReason") else None

        cost = wait_for(unknown, timeout=60, what="status.cost.hourly absent with a reason")
        assert f'GPUClass "{klass}" not found' in cost["unknownReason"]
        line = cluster.kubectl("get", "inferenceservice", "priced", "-n", namespace, "--no-headers").stdout
        assert "0.00" not in line, line
    finally:
        cluster.kubectl("delete", "gpuclass", klass, "--ignore-not-found", check=False)


def test_quota_leaving_no_gpu_is_not_ready(
    cluster: Cluster, operator: Operator, namespace: str, tenant_cleanup: list[str]  # noqa: F811
) -> None:
    tenant = make_tenant(cluster, [namespace], quota={"gpus": 0})
    tenant_cleanup.append(tenant)
    wait_for(lambda: cluster.get("resourcequota", "inferop-tenant", namespace), what="ResourceQuota")
    cluster.apply(gpu_service("starved", replicas=1, count=1), namespace=namespace)

    ready = ready_with_reason(cluster, operator, "starved", namespace, "QuotaLimited")
    assert ready["status"] == "False" and f"tenant {tenant} has 0 of 0 GPUs left" in ready["message"], ready
    assert cluster.get("deployment", "starved", namespace)["spec"]["replicas"] == 0  # type: ignore[index]


def test_server_side_apply_schema_error_is_rejected_not_an_outage(cluster: Cluster, namespace: str) -> None:
    """What the API server really answers when an unknown field reaches server-side apply (HTTP 500),
    and that ``Kube`` classifies it as ``Rejected`` (reported as ApplyFailed), not ``Transient``."""
    from kubernetes import config as k8s_config

    from inferop.reconcile.kube import Kube, Rejected, Transient

    kube = Kube(k8s_config.new_client_from_config(config_file=cluster.kubeconfig))
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad-affinity", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "bad"}},
            "template": {
                "metadata": {"labels": {"app": "bad"}},
                "spec": {
                    "affinity": {"nodeAffinity": {"foo": "bar"}},
                    "containers": [{"name": "c", "image": "busybox"}],
                },
            },
        },
    }
    try:
        kube.apply(deployment)
    except Rejected as err:
        assert err.status == 500 and "foo" in err.message and not isinstance(err, Transient), err
    else:
        raise AssertionError("the API server accepted an unknown affinity field")
    assert cluster.get("deployment", "bad-affinity", namespace) is None
