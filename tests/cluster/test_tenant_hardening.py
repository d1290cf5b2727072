"""Tenants that overlap, misconfigure or outlive things, on the real API server (issue 17):

- two Tenants listing one namespace: the first holds it, the second is ``NamespaceClaimed`` and writes
  nothing there, the service clamp uses the holder; when the holder lets go, the second takes over;
- a ResourceQuota the API server refuses (here an admission policy) shows as ``ApplyFailed`` with the
  server's message and a Warning Event, without a traceback in the operator's log;
- a quota whose ``status.used`` lacks one of its limits (as after a fresh install, before the
  kube-controller-manager's quota monitor for the new CRD exists) is recounted at once;
- a GPUClass priced in another currency than the budget is ``CurrencyMismatch``, never a clamp;
- ``kube-*`` namespaces are refused at admission, the operator's namespace at runtime, and a Tenant's
  labels leave its namespaces when it is deleted, also while the operator is down;
- pods with a system priority class are refused in tenant namespaces.

One operator for the module, started with ``POD_NAMESPACE`` (its own namespace, as the chart sets it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_reconcile import condition
from tests.cluster.test_tenancy import gpu_service, quota_in

COUNT_KEY = "count/inferenceservices.inferop.dev"
#: Seconds before the module's operator sends a refused body again (INFEROP_REFUSED_RETRY_SECONDS; 300 by
#: default): long enough to see that two drift ticks send nothing, short enough to see the recovery.
REFUSED_RETRY = 30
PSA_LABELS = (
    "pod-security.kubernetes.io/enforce",
    "pod-security.kubernetes.io/enforce-version",
    "pod-security.kubernetes.io/warn",
    "pod-security.kubernetes.io/audit",
)


@pytest.fixture(scope="module")
def op_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"op-{uuid.uuid4().hex[:8]}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def hardened(
    cluster: Cluster, operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory, op_namespace: str
) -> Iterator[Operator]:
    env = {"POD_NAMESPACE": op_namespace, "INFEROP_REFUSED_RETRY_SECONDS": str(REFUSED_RETRY)}
    op = Operator(cluster, operator_kubeconfig, tmp_path_factory.mktemp("op") / "operator.log", env)
    op.start()
    yield op
    op.stop()


@pytest.fixture
def tenants(cluster: Cluster) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def tenant(cluster: Cluster, names: list[str], prefix: str, namespaces: list[str], **spec: Any) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"namespaces": namespaces, **spec},
        }
    )
    names.append(name)
    return name


def tenant_condition(cluster: Cluster, name: str, ctype: str = "Ready") -> dict[str, Any]:
    return condition(cluster.get("tenant", name), ctype)


def wait_tenant(cluster: Cluster, name: str, status: str, reason: str, timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        cond = tenant_condition(cluster, name)
        return cond if cond.get("status") == status and cond.get("reason") == reason else None

    return dict(wait_for(check, timeout=timeout, what=f"Tenant {name} Ready={status} {reason}"))


def events_about(cluster: Cluster, kind: str, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.list("events")
        if e["involvedObject"].get("kind") == kind and e["involvedObject"].get("name") == name
    ]


def labels_of(cluster: Cluster, namespace: str) -> dict[str, str]:
    return dict((cluster.get("namespace", namespace) or {}).get("metadata", {}).get("labels") or {})


def restricted_pod(name: str, priority_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "busybox",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# --- item 4: one namespace, one Tenant -----------------------------------------------------------------


def test_second_tenant_of_a_namespace_is_refused_and_takes_over_when_released(
    cluster: Cluster, hardened: Operator, namespace: str, tenants: list[str]
) -> None:
    # The holder sorts after the claimant by name: the clamp must follow the claim, not the name.
    first = tenant(cluster, tenants, "zz-first", [namespace], quota={"gpus": 2})
    wait_tenant(cluster, first, "True", "QuotasApplied")
    time.sleep(1.1)  # creationTimestamp has one-second resolution
    second = tenant(cluster, tenants, "aa-second", [namespace], quota={"gpus": 6})
    since = time.time()
    cond = wait_tenant(cluster, second, "False", "NamespaceClaimed")
    assert f"namespace {namespace} belongs to Tenant {first}" in cond["message"]
    wait_for(
        lambda: any(
            e["reason"] == "NamespaceClaimed" and e["type"] == "Warning"
            for e in events_about(cluster, "Tenant", second)
        ),
        what="a Warning Event on the second Tenant",
    )
    assert tenant_condition(cluster, first)["status"] == "True"

    cluster.apply(gpu_service("big", replicas=4, count=1), namespace=namespace)

    def clamped() -> dict[str, Any] | None:
        obj = cluster.get("inferenceservice", "big", namespace)
        return obj if condition(obj, "QuotaLimited").get("status") == "True" else None

    isvc = wait_for(clamped, timeout=60, what="QuotaLimited by the holder")
    assert f"tenant {first} has 2 of 2 GPUs left" in condition(isvc, "QuotaLimited")["message"]
    time.sleep(12)  # two drift ticks of 5 s: the second Tenant must not write the quota back and forth
    quota = quota_in(cluster, namespace)
    assert quota is not None and quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"
    assert quota["metadata"]["labels"]["inferop.dev/tenant"] == first
    writes = [
        e
        for e in cluster.audit_writes(since, namespace)
        if e["objectRef"].get("resource") in ("resourcequotas", "limitranges")
    ]
    assert writes == [], [(e["verb"], e["objectRef"]) for e in writes]
    usage = (cluster.get("tenant", second) or {}).get("status", {}).get("usage", {})
    assert usage.get("gpus") == 0, "the claimant must not count the holder's services"

    # The holder lets the namespace go: the claimant takes it over on its next reconcile.
    other = f"{namespace}-x"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        cluster.kubectl("patch", "tenant", first, "--type=merge", "-p", json.dumps({"spec": {"namespaces": [other]}}))
        wait_tenant(cluster, second, "True", "QuotasApplied", timeout=60)
        wait_for(
            lambda: (
                (quota_in(cluster, namespace) or {}).get("spec", {}).get("hard", {}).get("requests.nvidia.com/gpu")
                == "6"
            ),
            what="the claimant's quota",
        )
        assert labels_of(cluster, namespace)["inferop.dev/tenant"] == second
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


# --- item 7: what the API server refuses is reported ----------------------------------------------------


def test_refused_quota_is_reported_on_the_tenant(
    cluster: Cluster, hardened: Operator, namespace: str, tenants: list[str]
) -> None:
    policy = f"deny-quota-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("label", "namespace", namespace, f"inferop-test/{policy}=true")
    cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["resourcequotas"],
                        }
                    ]
                },
                "validations": [{"expression": "false", "message": "quotas are frozen in this namespace"}],
            },
        }
    )
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy},
        "spec": {
            "policyName": policy,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {f"inferop-test/{policy}": "true"}}},
        },
    }
    cluster.apply(binding)
    try:
        # The policy takes a moment to load: wait until it refuses a quota of our own.
        probe = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "probe"},
            "spec": {"hard": {"pods": "9"}},
        }
        wait_for(
            lambda: (
                cluster.kubectl(
                    "create", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(probe), check=False
                ).returncode
                != 0
            ),
            what="the admission policy in force",
        )
        name = tenant(cluster, tenants, "refused", [namespace], quota={"gpus": 2})
        cond = wait_tenant(cluster, name, "False", "ApplyFailed")
        assert namespace in cond["message"] and "quotas are frozen in this namespace" in cond["message"]
        wait_for(
            lambda: any(
                e["type"] == "Warning" and e["reason"] == "ApplyFailed" for e in events_about(cluster, "Tenant", name)
            ),
            what="a Warning Event on the Tenant",
        )
        quiet_from = time.time()
        time.sleep(11)  # two more drift ticks
        hardened.assert_alive()
        resent = [w for w in cluster.audit_writes(since=quiet_from, namespace=namespace)
                  if w["objectRef"].get("resource") == "resourcequotas"]
        assert resent == [], "the refused quota is not sent again every drift tick"
        assert "Traceback" not in hardened.log(), hardened.log()[-3000:]
        warnings = [e for e in events_about(cluster, "Tenant", name) if e["reason"] == "ApplyFailed"]
        assert sum(int(e.get("count") or 1) for e in warnings) == 1, "one Event, not one per tick"
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding", policy, check=False)
        cluster.kubectl("delete", "validatingadmissionpolicy", policy, check=False)
    # The refusal ends: the Tenant recovers by itself (the same body is sent again after REFUSED_RETRY).
    wait_tenant(cluster, name, "True", "QuotasApplied", timeout=REFUSED_RETRY + 60)
    assert quota_in(cluster, namespace) is not None


# --- item 8: a quota the controller has not counted ----------------------------------------------------


def test_uncounted_quota_is_recounted_at_once(
    cluster: Cluster, hardened: Operator, namespace: str, tenants: list[str]
) -> None:
    name = tenant(cluster, tenants, "counted", [namespace], quota={"inferenceServices": 3})
    wait_for(
        lambda: COUNT_KEY in ((quota_in(cluster, namespace) or {}).get("status", {}).get("used") or {}),
        what="the quota counted",
    )
    wait_tenant(cluster, name, "True", "QuotasApplied")
    # The state of a fresh install: the controller processed the quota but could not count the CRD (no
    # quota monitor yet). Status edits do not make the controller recount, so only its 5-minute resync
    # (or a spec change) would; until then quota admission refuses every InferenceService.
    patch = [{"op": "remove", "path": "/status/used/" + COUNT_KEY.replace("/", "~1")}]
    cluster.kubectl(
        "patch",
        "resourcequota",
        "inferop-tenant",
        "-n",
        namespace,
        "--subresource=status",
        "--type=json",
        "-p",
        json.dumps(patch),
    )
    started = time.monotonic()
    svc = gpu_service("counted", replicas=1, count=1)
    del svc["spec"]["resources"]["gpu"]

    def created() -> bool:
        return cluster.apply(svc, namespace=namespace, check=False).returncode == 0

    wait_for(created, timeout=30, interval=1, what="an InferenceService admitted by the quota")
    print(f"admitted {time.monotonic() - started:.1f} s after the count went missing")
    warning = wait_for(
        lambda: next((e for e in events_about(cluster, "Tenant", name) if e["reason"] == "QuotaNotCounted"), None),
        what="a QuotaNotCounted Event on the Tenant",
    )
    assert COUNT_KEY in warning["message"] and "adds it back" in warning["message"], warning["message"]

    def counted_again() -> bool:
        quota = quota_in(cluster, namespace) or {}
        return (
            quota.get("spec", {}).get("hard", {}).get(COUNT_KEY) == "3"
            and quota.get("status", {}).get("used", {}).get(COUNT_KEY) == "1"
            and tenant_condition(cluster, name, "QuotaCounted").get("status") == "True"
        )

    wait_for(counted_again, timeout=60, what="the limit back in the quota and counted")


# --- item 9: currencies ------------------------------------------------------------------------------


def test_price_in_another_currency_is_an_error_not_a_clamp(
    cluster: Cluster, hardened: Operator, namespace: str, tenants: list[str]
) -> None:
    gpuclass = f"yen-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "GPUClass",
            "metadata": {"name": gpuclass},
            "spec": {
                "resourceName": "nvidia.com/gpu",
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "price": {"perGPUHour": "600", "currency": "JPY"},
            },
        }
    )
    try:
        name = tenant(cluster, tenants, "usd", [namespace], quota={"gpus": 8}, budget={"hourly": "100.00"})
        wait_tenant(cluster, name, "True", "QuotasApplied")
        svc = gpu_service("yen", replicas=1, count=1)
        svc["spec"]["resources"]["gpu"]["class"] = gpuclass
        cluster.apply(svc, namespace=namespace)

        def mismatch() -> dict[str, Any] | None:
            obj = cluster.get("inferenceservice", "yen", namespace)
            return obj if condition(obj, "Ready").get("reason") == "CurrencyMismatch" else None

        isvc = wait_for(mismatch, timeout=60, what="Ready=False CurrencyMismatch on the service")
        ready = condition(isvc, "Ready")
        assert ready["status"] == "False"
        assert "JPY" in ready["message"] and "USD" in ready["message"]
        assert condition(isvc, "BudgetLimited").get("status") != "True", "no clamp across currencies"
        assert "USD/h" not in json.dumps(isvc.get("status", {}).get("conditions"))
        wait_for(
            lambda: any(
                e["reason"] == "CurrencyMismatch" and e["type"] == "Warning"
                for e in events_about(cluster, "InferenceService", "yen")
            ),
            what="a Warning Event on the service",
        )
        cond = wait_tenant(cluster, name, "False", "CurrencyMismatch")
        assert gpuclass in cond["message"]
        wait_for(
            lambda: any(e["reason"] == "CurrencyMismatch" for e in events_about(cluster, "Tenant", name)),
            what="a Warning Event on the Tenant",
        )
    finally:
        cluster.kubectl("delete", "gpuclass", gpuclass, "--wait=false", check=False)


# --- item 10: system namespaces and labels left behind ---------------------------------------------------


def test_kube_namespaces_are_refused_at_admission(cluster: Cluster) -> None:
    obj = {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": f"sys-{uuid.uuid4().hex[:6]}"},
        "spec": {"namespaces": ["team-a", "kube-system"]},
    }
    proc = cluster.apply(obj, check=False)
    assert proc.returncode != 0
    assert "spec.namespaces" in proc.stderr and "allowSystemNamespaces" in proc.stderr, proc.stderr
    ok = {**obj, "spec": {**obj["spec"], "namespaces": ["team-a"]}}
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(ok))  # the rest is accepted


def test_operator_namespace_is_refused_at_runtime(
    cluster: Cluster, hardened: Operator, op_namespace: str, tenants: list[str]
) -> None:
    name = tenant(cluster, tenants, "ops", [op_namespace])
    cond = wait_tenant(cluster, name, "False", "SystemNamespace")
    assert op_namespace in cond["message"] and "operator" in cond["message"]
    assert quota_in(cluster, op_namespace) is None
    assert "inferop.dev/tenant" not in labels_of(cluster, op_namespace)


def test_deleting_a_tenant_removes_its_labels_also_while_the_operator_is_down(
    cluster: Cluster, hardened: Operator, namespace: str, tenants: list[str]
) -> None:
    name = tenant(cluster, tenants, "gone", [namespace])
    wait_for(lambda: labels_of(cluster, namespace).get("inferop.dev/tenant") == name, what="tenant labels")
    cluster.kubectl("label", "namespace", namespace, "team=mine")  # someone else's label stays
    cluster.kubectl("delete", "tenant", name, "--timeout=60s")
    wait_for(
        lambda: not {"inferop.dev/tenant", *PSA_LABELS} & set(labels_of(cluster, namespace)),
        what="the Tenant's labels removed",
    )
    assert labels_of(cluster, namespace).get("team") == "mine"

    # The operator is down when the Tenant is deleted, and its finalizer is removed by hand (a forced
    # deletion, or an uninstall): the operator cleans up when it comes back.
    name = tenant(cluster, tenants, "gone-offline", [namespace])
    wait_for(lambda: labels_of(cluster, namespace).get("inferop.dev/tenant") == name, what="tenant labels")
    hardened.stop()
    try:
        cluster.kubectl("delete", "tenant", name, "--wait=false")
        cluster.kubectl("patch", "tenant", name, "--type=merge", "-p", json.dumps({"metadata": {"finalizers": None}}))
        wait_for(lambda: cluster.get("tenant", name) is None, what="the Tenant gone")
        assert labels_of(cluster, namespace).get("inferop.dev/tenant") == name
    finally:
        hardened.start()
    wait_for(
        lambda: not {"inferop.dev/tenant", *PSA_LABELS} & set(labels_of(cluster, namespace)),
        timeout=60,
        what="the labels of the Tenant deleted while the operator was down removed",
    )
    assert labels_of(cluster, namespace).get("team") == "mine"


# --- item 12: system priority classes --------------------------------------------------------------------


def test_system_priority_classes_are_refused_in_tenant_namespaces(
    cluster: Cluster, hardened: Operator, namespace: str, tenants: list[str]
) -> None:
    name = tenant(cluster, tenants, "prio", [namespace])
    wait_for(
        lambda: (
            "pods"
            in (
                (cluster.get("resourcequota", "inferop-tenant-system-priority", namespace) or {})
                .get("status", {})
                .get("used")
                or {}
            )
        ),
        what="the system priority quota counted",
    )
    proc = cluster.apply(restricted_pod("critical", "system-node-critical"), namespace=namespace, check=False)
    assert proc.returncode != 0 and "exceeded quota" in proc.stderr, proc.stderr
    proc = cluster.apply(restricted_pod("plain"), namespace=namespace, check=False)
    assert proc.returncode == 0, proc.stderr

    # Allowed by the Tenant: the deny quota goes and such a pod is admitted.
    cluster.kubectl(
        "patch", "tenant", name, "--type=merge", "-p", json.dumps({"spec": {"allowSystemPriorityClasses": True}})
    )
    wait_for(
        lambda: cluster.get("resourcequota", "inferop-tenant-system-priority", namespace) is None,
        what="the deny quota removed",
    )
    proc = cluster.apply(restricted_pod("critical", "system-node-critical"), namespace=namespace, check=False)
    assert proc.returncode == 0, proc.stderr
