"""Never touch what we do not own, never fight what others add, on a real control plane.

Covers (issue 17, items 1, 6 and 11):
- a user's Service and HPA named like a new InferenceService stay byte-identical (resourceVersion
  unchanged, no write by the operator in the audit log), the InferenceService reports
  ``Ready=False, ChildConflict`` naming them and who manages them, with a Warning Event, and deleting
  the InferenceService garbage-collects neither;
- once the user deletes the conflicting object, the next reconcile creates ours and Ready recovers;
- an InferenceService named ``kubernetes`` in ``default`` never modifies or adopts the API server's own
  Service, and deleting it leaves that Service alone;
- a user's ResourceQuota named like the Tenant's, even labelled as the Tenant's, is never modified,
  adopted or deleted (the Tenant reports ``ChildConflict`` and still applies its LimitRange);
- a sidecar another field manager adds to our Deployment stays, and the operator writes nothing to the
  Deployment over several drift-timer periods; a nodeSelector key removed from the spec is removed
  from the Deployment (the old drift check missed removed map keys);
- env values outside Unicode's basic plane (an emoji) and other odd strings reach the Deployment
  unchanged (the apply body used to be refused with HTTP 400).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import yaml

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_reconcile import condition, example, owned_by, wait_ready

DRIFT_INTERVAL = 5  # seconds; the test operator's drift timer (INFEROP_DRIFT_INTERVAL)


def conflict(cluster: Cluster, operator: Operator, name: str, namespace: str) -> dict[str, Any]:
    def reported() -> dict[str, Any] | None:
        operator.assert_alive()
        cond = condition(cluster.get("inferenceservice", name, namespace), "Ready")
        return cond if cond.get("reason") == "ChildConflict" else None

    return dict(wait_for(reported, timeout=60, what=f"{namespace}/{name} Ready=False ChildConflict"))


def warning_events(cluster: Cluster, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    return [
        e for e in cluster.list("events", namespace)
        if e.get("reason") == reason and e.get("type") == "Warning" and e["involvedObject"]["name"] == name
    ]


def operator_writes(cluster: Cluster, since: float, namespace: str, resources: set[str]) -> list[tuple[Any, ...]]:
    return [
        (w["verb"], w["objectRef"].get("resource"), w["objectRef"].get("name"), w["requestReceivedTimestamp"])
        for w in cluster.audit_writes(since=since, namespace=namespace)
        if w["objectRef"].get("resource") in resources
    ]


def user_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": "legacy"}},
        "spec": {"selector": {"app": "legacy"}, "ports": [{"name": "web", "port": 8080, "targetPort": 8080}]},
    }


def user_hpa(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy"},
            "minReplicas": 1,
            "maxReplicas": 3,
        },
    }


def versions(cluster: Cluster, namespace: str, *objs: tuple[str, str]) -> dict[tuple[str, str], str]:
    out = {}
    for kind, name in objs:
        obj = cluster.get(kind, name, namespace)
        assert obj is not None, f"{kind} {namespace}/{name} is gone"
        out[(kind, name)] = obj["metadata"]["resourceVersion"]
    return out


def test_foreign_service_and_hpa_are_left_alone_and_survive_deletion(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    cluster.apply(user_service("chat"), namespace=namespace)
    cluster.apply(user_hpa("chat"), namespace=namespace)
    # The HPA controller writes the HPA's status on its first sync; compare from then on.
    wait_for(lambda: (cluster.get("hpa", "chat", namespace) or {}).get("status", {}).get("conditions"),
             timeout=60, what="first sync of the user's HPA")
    before = {kind: cluster.get(kind, "chat", namespace) for kind in ("service", "hpa")}
    start = time.time()

    cluster.apply(example("llm-vllm.yaml"), namespace=namespace)  # InferenceService chat: Deployment, Service, HPA
    cond = conflict(cluster, operator, "chat", namespace)
    assert cond["status"] == "False"
    assert f"Service {namespace}/chat" in cond["message"] and "kubectl" in cond["message"], cond["message"]
    assert f"HorizontalPodAutoscaler {namespace}/chat" in cond["message"], cond["message"]
    events = wait_for(lambda: warning_events(cluster, namespace, "chat", "ChildConflict"),
                      what="a Warning Event ChildConflict")
    assert f"Service {namespace}/chat" in events[0]["message"]

    time.sleep(3 * DRIFT_INTERVAL)  # event-triggered reconciles and several drift-timer runs
    for kind, old in before.items():
        now = cluster.get(kind, "chat", namespace)
        assert now is not None and old is not None
        assert now["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"], f"{kind} was modified"
        assert not now["metadata"].get("ownerReferences"), f"{kind} was adopted"
    assert cluster.get("deployment", "chat", namespace) is None, "no half service next to someone else's objects"
    assert operator_writes(cluster, start, namespace, {"services", "horizontalpodautoscalers", "deployments"}) == []

    cluster.kubectl("delete", "inferenceservice", "chat", "-n", namespace, "--timeout=60s")
    time.sleep(5)  # the garbage collector acts within a second or two on this cluster
    for kind, old in before.items():
        now = cluster.get(kind, "chat", namespace)
        assert now is not None, f"the user's {kind} was garbage-collected with the InferenceService"
        assert now["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"]  # type: ignore[index]


def test_ready_recovers_once_the_conflicting_object_is_gone(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    cluster.apply(user_service("embed"), namespace=namespace)
    cluster.apply(example("cpu-embeddings.yaml"), namespace=namespace)
    conflict(cluster, operator, "embed", namespace)

    cluster.kubectl("delete", "service", "embed", "-n", namespace)
    isvc = wait_ready(cluster, operator, "embed", namespace, timeout=60)
    service = cluster.get("service", "embed", namespace)
    assert service is not None and owned_by(service, isvc)
    assert service["spec"]["selector"] == {"inferop.dev/inferenceservice": "embed"}


def test_an_inferenceservice_named_kubernetes_never_touches_the_api_servers_service(
    cluster: Cluster, operator: Operator
) -> None:
    before = cluster.get("service", "kubernetes", "default")
    assert before is not None
    obj = example("cpu-embeddings.yaml")
    obj["metadata"]["name"] = "kubernetes"
    try:
        cluster.apply(obj, namespace="default")
        cond = conflict(cluster, operator, "kubernetes", "default")
        assert "Service default/kubernetes" in cond["message"] and "kube-apiserver" in cond["message"], cond
        time.sleep(2 * DRIFT_INTERVAL)
        now = cluster.get("service", "kubernetes", "default")
        assert now is not None and now["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert not now["metadata"].get("ownerReferences")

        cluster.kubectl("delete", "inferenceservice", "kubernetes", "-n", "default", "--timeout=60s")
        time.sleep(5)
        after = cluster.get("service", "kubernetes", "default")
        assert after is not None and after["metadata"]["uid"] == before["metadata"]["uid"], "default/kubernetes deleted"
        assert after["spec"] == before["spec"]
    finally:
        cluster.kubectl("delete", "inferenceservice", "kubernetes", "-n", "default", "--timeout=60s", check=False)
        cluster.kubectl("delete", "deployment,hpa", "kubernetes", "-n", "default", "--ignore-not-found", check=False)
        _restore_kubernetes_service(cluster, before)


def _restore_kubernetes_service(cluster: Cluster, before: dict[str, Any]) -> None:
    """If a failed run damaged default/kubernetes: wait for the API server to recreate it if it was
    garbage-collected, else drop our ownerReference (so the garbage collector keeps it) and put its
    spec back."""
    now = wait_for(lambda: cluster.get("service", "kubernetes", "default"), timeout=90,
                   what="default/kubernetes (the API server recreates it)")
    if (not now["metadata"].get("ownerReferences") and now["spec"] == before["spec"]):
        return
    spec = {k: before["spec"][k] for k in ("ports", "type") if k in before["spec"]}
    patch = {"metadata": {"ownerReferences": None, "labels": before["metadata"].get("labels")},
             "spec": {**spec, "selector": before["spec"].get("selector")}}
    cluster.kubectl("patch", "service", "kubernetes", "-n", "default", "--type=merge", "-p", json.dumps(patch),
                    check=False)


def test_a_foreign_resource_quota_is_never_modified_adopted_or_deleted(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    other = f"{namespace}-b"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    # A quota of the operator's name, even labelled as that Tenant's (copied from another namespace).
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "inferop-tenant", "labels": {"inferop.dev/tenant": tenant}},
        "spec": {"hard": {"pods": "7"}},
    }
    cluster.apply(quota, namespace=namespace)
    start = time.time()
    try:
        cluster.apply({"apiVersion": "inferop.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": tenant},
                       "spec": {"namespaces": [namespace], "quota": {"gpus": 4, "cpu": "16"}}})

        def reported() -> dict[str, Any] | None:
            cond = condition(cluster.get("tenant", tenant), "Ready")
            return cond if cond.get("reason") == "ChildConflict" else None

        cond = wait_for(reported, timeout=60, what="Tenant Ready=False ChildConflict")
        assert f"ResourceQuota {namespace}/inferop-tenant" in cond["message"], cond
        limits = wait_for(lambda: cluster.get("limitrange", "inferop-tenant", namespace), what="our LimitRange")
        assert limits["metadata"]["ownerReferences"][0]["name"] == tenant  # the rest is still applied

        time.sleep(2 * DRIFT_INTERVAL)
        live = cluster.get("resourcequota", "inferop-tenant", namespace)
        assert live is not None and live["spec"] == {"hard": {"pods": "7"}}, live
        assert not live["metadata"].get("ownerReferences")
        # (Its other quota, inferop-tenant-system-priority, is ours: creating it is fine.)
        writes = operator_writes(cluster, start, namespace, {"resourcequotas"})
        assert [w for w in writes if w[2] == "inferop-tenant"] == []

        # The Tenant leaves the namespace: our LimitRange goes, the user's quota (with our label) stays.
        cluster.kubectl("patch", "tenant", tenant, "--type=merge", "-p",
                        yaml.safe_dump({"spec": {"namespaces": [other]}}))
        wait_for(lambda: cluster.get("resourcequota", "inferop-tenant", other), what="quota in the new namespace")
        wait_for(lambda: cluster.get("limitrange", "inferop-tenant", namespace) is None, what="our LimitRange removed")
        time.sleep(DRIFT_INTERVAL)
        assert cluster.get("resourcequota", "inferop-tenant", namespace) is not None, "the user's quota was deleted"
        writes = operator_writes(cluster, start, namespace, {"resourcequotas"})
        assert [w for w in writes if w[2] == "inferop-tenant"] == []
    finally:
        cluster.kubectl("delete", "tenant", tenant, "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_a_sidecar_added_by_another_manager_stays_and_causes_no_writes(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    cluster.apply(example("cpu-embeddings.yaml"), namespace=namespace)
    wait_ready(cluster, operator, "embed", namespace)
    sidecar = {"name": "mesh-proxy", "image": "mesh/proxy:1.0", "args": ["--listen", "15001"]}
    cluster.kubectl(
        "patch", "deployment", "embed", "-n", namespace, "--field-manager=mesh-injector", "--type=strategic",
        "-p", json.dumps({"spec": {"template": {"spec": {"containers": [sidecar]}}}}),
    )

    def containers() -> dict[str, dict[str, Any]]:
        dep = cluster.get("deployment", "embed", namespace) or {}
        return {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}

    def names() -> list[str]:
        return sorted(containers())

    assert names() == ["mesh-proxy", "server"]  # a strategic merge patch puts it first
    time.sleep(1)
    timer_runs_before = operator.log().count("Timer 'repair_drift' succeeded")
    start = time.time()
    time.sleep(4 * DRIFT_INTERVAL + 1)  # several drift-timer periods (and the rollout the sidecar started)
    operator.assert_alive()
    assert operator_writes(cluster, start, namespace, {"deployments"}) == [], "the operator fought the sidecar"
    assert names() == ["mesh-proxy", "server"], "the sidecar was removed"
    assert operator.log().count("Timer 'repair_drift' succeeded") - timer_runs_before >= 3

    # Our own fields are still repaired next to the sidecar.
    cluster.kubectl("set", "image", "deployment/embed", "server=evil/image:latest", "-n", namespace)
    wait_for(lambda: containers()["server"]["image"] == "kserve/huggingfaceserver:v0.20.0", what="our image restored")
    assert names() == ["mesh-proxy", "server"]


def test_a_removed_node_selector_key_is_removed_from_the_deployment(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    obj = example("cpu-embeddings.yaml")
    obj["spec"]["scheduling"] = {"nodeSelector": {"kubernetes.io/os": "linux", "inferop.dev/pool": "blue"}}
    cluster.apply(obj, namespace=namespace)

    def node_selector() -> dict[str, str]:
        dep = cluster.get("deployment", "embed", namespace) or {"spec": {"template": {"spec": {}}}}
        return dict(dep["spec"]["template"]["spec"].get("nodeSelector") or {})

    wait_for(lambda: node_selector().get("inferop.dev/pool") == "blue", what="Deployment with both keys")
    obj["spec"]["scheduling"] = {"nodeSelector": {"kubernetes.io/os": "linux"}}
    cluster.apply(obj, namespace=namespace)
    wait_for(lambda: node_selector() == {"kubernetes.io/os": "linux"}, timeout=3 * DRIFT_INTERVAL,
             what="the removed nodeSelector key gone from the Deployment")


ODD_VALUES = {
    "EMOJI": "🚀 ok",
    "MATH": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010fffd",
    "ACCENTS": "café ñ e\u0301",
    "LINE_SEPARATOR": "a\u2028b\u2029c",
    "NEXT_LINE": "a\x85b",
    "BOM": "\ufeffstart",
    "DEL": "a\x7fb",
    "QUOTES": "'\"\\ $(HOME) #{x}: - [y]",
}


def test_env_values_outside_the_basic_plane_are_applied(cluster: Cluster, operator: Operator, namespace: str) -> None:
    obj = example("cpu-embeddings.yaml")
    obj["spec"]["runtime"]["env"] = [{"name": k, "value": v} for k, v in ODD_VALUES.items()]
    obj["spec"]["runtime"]["args"] = ["--greeting=🚀 ok"]
    cluster.apply(json.dumps(obj), namespace=namespace)  # JSON: kubectl sends the strings unchanged
    stored = cluster.get("inferenceservice", "embed", namespace)
    assert stored is not None and stored["spec"]["runtime"]["env"][0]["value"] == "🚀 ok"

    wait_ready(cluster, operator, "embed", namespace)
    container = cluster.get("deployment", "embed", namespace)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for name, value in ODD_VALUES.items():
        assert env.get(name) == value, f"{name}: {env.get(name)!r} != {value!r}"
    assert "--greeting=🚀 ok" in container["args"]
