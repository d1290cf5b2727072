"""Tenant hardening, the pure parts (issue 17): which Tenant owns a namespace listed by several, which
namespaces a Tenant may not take, the quota that denies system priority classes, and how an uncounted
ResourceQuota is recognised and applied without its uncounted limits. Also the Tenant reconcile against
a small in-memory API: a claimed namespace gets no writes, a refused object is ApplyFailed."""

from __future__ import annotations

import copy
from typing import Any

from inferop.reconcile.kube import KubeError, path_of
from inferop.reconcile.tenant import reconcile_tenant
from inferop.render.quota import (
    SYSTEM_PRIORITY_QUOTA_NAME,
    build_system_priority_quota,
    counting_pending,
    uncounted,
    without_hard,
)
from inferop.tenancy.claims import Claimant, owner, refused

COUNT = "count/inferenceservices.inferop.dev"


def test_holder_keeps_the_namespace_else_the_oldest_then_the_name() -> None:
    a = Claimant("b-old", "2026-01-01T00:00:00Z")
    b = Claimant("a-new", "2026-02-01T00:00:00Z")
    c = Claimant("c-new", "2026-02-01T00:00:00Z")
    assert owner([], None) is None
    assert owner([b, a], None) == "b-old"  # oldest, not first by name
    assert owner([c, b], None) == "a-new"  # same second: by name
    assert owner([a, b], "a-new") == "a-new"  # the holder keeps it even against an older Tenant
    assert owner([a, b], "gone") == "b-old"  # a holder that no longer lists it holds nothing
    assert owner([b, a], None) == owner([a, b], None)  # order of the index does not matter


def test_system_and_operator_namespaces_are_refused_unless_allowed() -> None:
    assert "system namespace" in (refused("kube-system", "inferop-system", False) or "")
    assert "operator" in (refused("inferop-system", "inferop-system", False) or "")
    assert refused("kube-public", None, True) is None
    assert refused("inferop-system", "inferop-system", True) is None
    assert refused("team-a", "inferop-system", False) is None
    assert refused("team-a", None, False) is None


def test_system_priority_quota_denies_pods_of_both_classes() -> None:
    q = build_system_priority_quota("t", "team-a")
    assert q["metadata"]["name"] == SYSTEM_PRIORITY_QUOTA_NAME and q["spec"]["hard"] == {"pods": "0"}
    (expr,) = q["spec"]["scopeSelector"]["matchExpressions"]
    assert expr == {
        "scopeName": "PriorityClass",
        "operator": "In",
        "values": ["system-cluster-critical", "system-node-critical"],
    }


def quota(hard: dict[str, str], status_hard: dict[str, str] | None, used: dict[str, str] | None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if status_hard is not None:
        status["hard"] = status_hard
    if used is not None:
        status["used"] = used
    return {"spec": {"hard": hard}, "status": status}


def test_uncounted_names_the_processed_limits_without_usage() -> None:
    hard = {"requests.cpu": "4", COUNT: "3"}
    assert uncounted(quota(hard, hard, {"requests.cpu": "0"})) == [COUNT]
    assert uncounted(quota(hard, hard, {"requests.cpu": "0", COUNT: "0"})) == []
    assert uncounted(quota(hard, None, None)) == []  # not processed yet: wait, do not act
    assert counting_pending(quota(hard, None, None))
    assert not counting_pending(quota(hard, hard, {}))
    assert uncounted(None) == [] and not counting_pending(None)


def test_without_hard_leaves_out_only_those_limits() -> None:
    q = {"metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "4", COUNT: "3"}}}
    out = without_hard(q, [COUNT])
    assert out["spec"]["hard"] == {"requests.cpu": "4"}
    assert q["spec"]["hard"][COUNT] == "3"  # the input is not changed


class MemoryKube:
    """Just enough of ``Kube`` for the Tenant loop: objects by path, server-side apply as a merge that
    sets status.hard like the quota controller would (without usage), refusals by path."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []
        self.refuse: dict[str, str] = {}

    def get(self, url: str) -> dict[str, Any] | None:
        obj = self.objects.get(url)
        return copy.deepcopy(obj) if obj else None

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        url = path_of(obj)
        if url in self.refuse:
            raise KubeError(422, self.refuse[url])
        self.writes.append(url)
        live = copy.deepcopy(obj)
        live["metadata"].setdefault("uid", url)
        self.objects[url] = live
        return copy.deepcopy(live)

    def list(self, url: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        key, _, value = (label_selector or "").partition("=")
        kind = url.rsplit("/", 1)[-1]
        return [
            copy.deepcopy(o)
            for u, o in self.objects.items()
            if u.endswith(f"/{kind}/{o['metadata']['name']}") and o["metadata"].get("labels", {}).get(key) == value
        ]

    def delete(self, url: str) -> bool:
        self.writes.append(f"DELETE {url}")
        return self.objects.pop(url, None) is not None


def tenant_body(name: str, namespaces: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": 1},
        "spec": {"namespaces": namespaces, **spec},
    }


def ready(result: Any) -> dict[str, Any]:
    return next(c for c in result.status_patch["conditions"] if c["type"] == "Ready")


def test_a_claimed_namespace_gets_no_writes_and_the_tenant_says_who_holds_it() -> None:
    kube = MemoryKube()
    body = tenant_body("second", ["team-a", "team-b"], quota={"gpus": 2})
    result = reconcile_tenant(kube, body, {}, [], owners={"team-a": "first", "team-b": "second"})  # type: ignore[arg-type]
    assert ready(result)["status"] == "False" and ready(result)["reason"] == "NamespaceClaimed"
    assert "namespace team-a belongs to Tenant first" in ready(result)["message"]
    assert not [w for w in kube.writes if "/team-a" in w]
    assert [w for w in kube.writes if "/namespaces/team-b/resourcequotas/" in w]
    assert [e.reason for e in result.events] == ["NamespaceClaimed"]


def test_a_refused_object_is_apply_failed_with_the_servers_message() -> None:
    kube = MemoryKube()
    # (A default below the default request is refused by CEL first; a policy engine may refuse anything.)
    kube.refuse["/api/v1/namespaces/team-a/limitranges/inferop-tenant"] = "denied by policy max-cpu-default"
    body = tenant_body("t", ["team-a"], limitDefaults={"defaultCPU": "2", "defaultRequestCPU": "1"})
    result = reconcile_tenant(kube, body, {}, [])  # type: ignore[arg-type]
    cond = ready(result)
    assert (cond["status"], cond["reason"]) == ("False", "ApplyFailed")
    assert "team-a" in cond["message"] and "denied by policy max-cpu-default" in cond["message"]
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "ApplyFailed")]
    # The next tick reports the same: no second Event.
    again = reconcile_tenant(kube, {**body, "status": {"conditions": result.status_patch["conditions"]}}, {}, [])  # type: ignore[arg-type]
    assert again.events == []


def test_an_uncounted_limit_is_left_out_then_added_back() -> None:
    kube = MemoryKube()
    body = tenant_body("t", ["team-a"], quota={"inferenceServices": 3})
    reconcile_tenant(kube, body, {}, [])  # type: ignore[arg-type]
    url = "/api/v1/namespaces/team-a/resourcequotas/inferop-tenant"
    live = kube.objects[url]
    live["status"] = {"hard": dict(live["spec"]["hard"]), "used": {}}  # processed, not counted
    result = reconcile_tenant(kube, body, {}, [])  # type: ignore[arg-type]
    assert COUNT not in kube.objects[url]["spec"]["hard"]
    counted = next(c for c in result.status_patch["conditions"] if c["type"] == "QuotaCounted")
    assert counted["status"] == "False" and COUNT in counted["message"]
    assert [e.reason for e in result.events if e.type == "Warning"] == ["QuotaNotCounted"]
    assert result.recheck_after is not None
    # Next reconcile: the limit comes back (the spec change makes the controller count it).
    kube.objects[url]["status"] = {"hard": dict(kube.objects[url]["spec"]["hard"]), "used": {}}
    reconcile_tenant(kube, {**body, "status": result.status_patch}, {}, [])  # type: ignore[arg-type]
    assert kube.objects[url]["spec"]["hard"][COUNT] == "3"


def test_system_namespaces_are_refused_at_runtime_and_get_no_writes() -> None:
    kube = MemoryKube()
    result = reconcile_tenant(kube, tenant_body("t", ["inferop-system"]), {}, [], operator_namespace="inferop-system")  # type: ignore[arg-type]
    assert ready(result)["reason"] == "SystemNamespace" and kube.writes == []


def test_the_service_clamp_uses_the_same_owner_as_the_tenant_loop() -> None:
    from inferop.reconcile import cache

    small = {"namespaces": ["team-a"], "quota": {"gpus": 2}}
    big = {"namespaces": ["team-a"], "quota": {"gpus": 6}}
    indexes: dict[str, Any] = {
        "tenants_by_namespace": {
            "team-a": [("aa-new", big, "2026-02-01T00:00:00Z"), ("zz-old", small, "2026-01-01T00:00:00Z")]
        },
        "namespace_tenants": {},
        "services_by_namespace": {},
    }
    found = cache.tenancy("team-a", {}, indexes)
    assert found is not None and found.name == "zz-old" and found.spec.quota.gpus == 2
    assert cache.tenant_claims(["team-a", "team-b"], indexes) == {"team-a": "zz-old", "team-b": None}
    indexes["namespace_tenants"] = {"team-a": ["aa-new"]}  # it already holds the namespace: it keeps it
    found = cache.tenancy("team-a", {}, indexes)
    assert found is not None and found.name == "aa-new"


def test_the_operator_namespace_defaults_to_the_install_namespace(monkeypatch: Any) -> None:
    """An operator run outside a pod (no POD_NAMESPACE, no ServiceAccount mount) still keeps Tenants out of
    inferop-system, the namespace the README and the chart install it into."""
    from pathlib import Path

    from inferop import settings

    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    monkeypatch.setattr(settings, "SERVICE_ACCOUNT_NAMESPACE", Path("/nonexistent/namespace"))
    assert settings.Settings.from_env().operator_namespace == "inferop-system"
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    assert settings.Settings.from_env().operator_namespace == "ops"
