"""The drift check of the reconcile loop, ``drift.drifted``: compare only what our field manager owns.

Covers: the managedFields entry that counts (ours, operation Apply, not a subresource); an object just
applied, with the API server's defaults and normalised quantities, is not drift; entries other managers
add (a sidecar container, an env var injected into our container, a label, an extra Service port) are
not drift, so the operator never re-applies them forever; every change of ours is: a changed or
missing value (also after another manager took the field over), a missing or reordered entry of ours,
a new desired field or entry, and a field or entry we own that is no longer desired (an env var, a
nodeSelector key, the whole nodeSelector, ``spec.replicas``), which ``is_subset`` misses for map keys;
atomic lists are compared whole; set lists (``v:``) by value; a list we applied empty keeps what others
add; without our managedFields entry the old whole-list comparison applies.

The ``fieldsV1`` trees are written as kube-apiserver 1.36 returns them (checked against the test
cluster: keyed entries as ``k:{...}`` with their fields and ``.``, atomic lists and maps as ``{}``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from inferop.reconcile import drift

MANAGER = "inferop"
OWNER = {"apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService", "name": "chat", "uid": "u1",
         "controller": True, "blockOwnerDeletion": True}

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "chat", "namespace": "a", "labels": {"app": "chat"}, "ownerReferences": [OWNER]},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "chat"}},
        "template": {
            "metadata": {"labels": {"app": "chat"}},
            "spec": {
                "nodeSelector": {"gpu": "h100", "zone": "a"},
                "containers": [{
                    "name": "server",
                    "image": "vllm:1",
                    "args": ["--model", "m"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "1000m", "memory": "16Gi"}},
                }],
                "volumes": [{"name": "cache", "emptyDir": {}}],
            },
        },
    },
}


def env_entry(name: str) -> dict[str, Any]:
    return {".": {}, "f:name": {}, "f:value": {}}


def owned_tree() -> dict[str, Any]:
    """What the API server records for our apply of DESIRED."""
    return {
        "f:metadata": {"f:labels": {"f:app": {}}, "f:ownerReferences": {'k:{"uid":"u1"}': {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:nodeSelector": {},
                    "f:containers": {'k:{"name":"server"}': {
                        ".": {},
                        "f:name": {},
                        "f:image": {},
                        "f:args": {},
                        "f:env": {'k:{"name":"A"}': env_entry("A"), 'k:{"name":"B"}': env_entry("B")},
                        "f:ports": {'k:{"containerPort":8000,"protocol":"TCP"}': {
                            ".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
                        "f:resources": {"f:requests": {"f:cpu": {}, "f:memory": {}}},
                    }},
                    "f:volumes": {'k:{"name":"cache"}': {".": {}, "f:emptyDir": {}, "f:name": {}}},
                },
            },
        },
    }


def entry(manager: str, fields: dict[str, Any], operation: str = "Apply", subresource: str | None = None
          ) -> dict[str, Any]:
    out = {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
           "fieldsV1": fields, "time": "2026-01-01T00:00:00Z"}
    if subresource:
        out["subresource"] = subresource
    return out


def live_of(desired: dict[str, Any], owned: dict[str, Any] | None = None) -> dict[str, Any]:
    """``desired`` as the API server returns it after our apply: defaults, normalised quantities, status,
    our managedFields entry and the controller's status entry."""
    live = copy.deepcopy(desired)
    live["metadata"] |= {"uid": "d1", "resourceVersion": "42", "generation": 3, "managedFields": [
        entry(MANAGER, owned if owned is not None else owned_tree()),
        entry("kube-controller-manager", {"f:status": {"f:replicas": {}}}, "Update", "status"),
    ]}
    spec = live["spec"]
    spec |= {"revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}
    pod = spec["template"]["spec"]
    pod |= {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"}
    container = pod["containers"][0]
    container |= {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    container["resources"]["requests"] = {"cpu": "1", "memory": str(16 * 2**30)}
    live["status"] = {"replicas": 2}
    return live


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return found


def desired_with(change: Any) -> dict[str, Any]:
    out = copy.deepcopy(DESIRED)
    change(out)
    return out


# --- which managedFields entry counts ---------------------------------------------------------------


def test_our_apply_entry_is_the_one_that_counts() -> None:
    live = live_of(DESIRED)
    live["metadata"]["managedFields"] += [
        entry(MANAGER, {"f:status": {"f:conditions": {}}}, "Update", "status"),  # our status patches
        entry(MANAGER, {"f:metadata": {"f:annotations": {"f:x": {}}}}, "Update"),  # not server-side apply
        entry("kubectl", {"f:spec": {"f:paused": {}}}),
    ]
    assert drift.owned_fields(live, MANAGER) == owned_tree()


def test_without_an_entry_of_ours_nothing_is_owned() -> None:
    live = live_of(DESIRED)
    live["metadata"]["managedFields"] = [entry("kubectl", owned_tree())]
    assert drift.owned_fields(live, MANAGER) is None
    del live["metadata"]["managedFields"]
    assert drift.owned_fields(live, MANAGER) is None


def test_without_our_entry_lists_are_compared_whole_as_before() -> None:
    live = live_of(DESIRED)
    del live["metadata"]["managedFields"]
    assert not drift.drifted(DESIRED, live, MANAGER)
    containers(live).append({"name": "sidecar", "image": "mesh:1"})
    assert drift.drifted(DESIRED, live, MANAGER)


# --- steady state: what others add is not drift -----------------------------------------------------


def test_just_applied_with_server_defaults_is_not_drift() -> None:
    assert not drift.drifted(DESIRED, live_of(DESIRED), MANAGER)


def test_a_sidecar_another_manager_added_is_not_drift() -> None:
    live = live_of(DESIRED)
    pod = live["spec"]["template"]["spec"]
    pod["containers"].append({"name": "istio-proxy", "image": "proxyv2:1.24", "args": ["proxy"]})
    pod["volumes"].append({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}})
    live["metadata"]["managedFields"].append(entry("kyverno", {"f:spec": {"f:template": {"f:spec": {
        "f:containers": {'k:{"name":"istio-proxy"}': {".": {}, "f:name": {}, "f:image": {}, "f:args": {}}},
        "f:volumes": {'k:{"name":"istio-envoy"}': {".": {}, "f:name": {}, "f:emptyDir": {"f:medium": {}}}},
    }}}}, "Update"))
    assert not drift.drifted(DESIRED, live, MANAGER)


def test_a_sidecar_placed_before_ours_is_not_drift() -> None:
    live = live_of(DESIRED)
    containers(live).insert(0, {"name": "init-proxy", "image": "proxy:1"})
    assert not drift.drifted(DESIRED, live, MANAGER)


def test_an_env_var_injected_into_our_container_is_not_drift() -> None:
    live = live_of(DESIRED)
    containers(live)[0]["env"].insert(1, {"name": "DD_AGENT_HOST", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": "status.hostIP"}}})
    assert not drift.drifted(DESIRED, live, MANAGER)


def test_labels_and_annotations_others_add_are_not_drift() -> None:
    live = live_of(DESIRED)
    live["metadata"]["labels"]["team"] = "x"
    live["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3"}
    live["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "now"}
    assert not drift.drifted(DESIRED, live, MANAGER)


def test_another_owner_reference_is_not_drift() -> None:
    live = live_of(DESIRED)
    live["metadata"]["ownerReferences"].append({"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "c9"})
    assert not drift.drifted(DESIRED, live, MANAGER)


def test_equal_quantities_in_another_notation_are_not_drift() -> None:
    live = live_of(DESIRED)
    assert containers(live)[0]["resources"]["requests"] == {"cpu": "1", "memory": "17179869184"}
    assert not drift.drifted(DESIRED, live, MANAGER)


def test_an_atomic_struct_may_carry_server_defaults() -> None:
    def use_field_ref(obj: dict[str, Any]) -> None:
        containers(obj)[0]["env"][1] = {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}

    desired = desired_with(use_field_ref)
    owned = owned_tree()
    owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"server"}']["f:env"]['k:{"name":"B"}'] = {
        ".": {}, "f:name": {}, "f:valueFrom": {"f:fieldRef": {}}}
    live = live_of(desired, owned)
    containers(live)[0]["env"][1]["valueFrom"]["fieldRef"]["apiVersion"] = "v1"  # defaulted by the server
    assert not drift.drifted(desired, live, MANAGER)


def test_a_keyed_entry_whose_key_field_the_server_defaults_is_found() -> None:
    def no_protocol(obj: dict[str, Any]) -> None:
        del containers(obj)[0]["ports"][0]["protocol"]

    desired = desired_with(no_protocol)
    owned = owned_tree()
    ports = owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"server"}']["f:ports"]
    del ports['k:{"containerPort":8000,"protocol":"TCP"}']["f:protocol"]  # the key still names it
    live = live_of(desired, owned)
    containers(live)[0]["ports"][0]["protocol"] = "TCP"
    assert not drift.drifted(desired, live, MANAGER)


# --- our changes are drift ------------------------------------------------------------------------


@pytest.mark.parametrize("path, value", [
    (("metadata", "labels", "app"), "other"),
    (("spec", "replicas"), 5),
    (("spec", "template", "spec", "containers", 0, "image"), "evil:latest"),
    (("spec", "template", "spec", "containers", 0, "env", 0, "value"), "changed"),
    (("spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"), "2"),
    (("spec", "template", "spec", "nodeSelector", "gpu"), "l4"),
    (("spec", "template", "spec", "containers", 0, "ports", 0, "name"), "web"),
])
def test_a_changed_value_is_drift(path: tuple[Any, ...], value: Any) -> None:
    live = live_of(DESIRED)
    node: Any = live
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert drift.drifted(DESIRED, live, MANAGER)


def test_a_value_another_manager_took_over_is_drift() -> None:
    """``kubectl set image`` moves ownership of the image away from us: still ours to repair."""
    owned = owned_tree()
    del owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"server"}']["f:image"]
    live = live_of(DESIRED, owned)
    containers(live)[0]["image"] = "evil:latest"
    assert drift.drifted(DESIRED, live, MANAGER)


def test_a_missing_entry_of_ours_is_drift() -> None:
    live = live_of(DESIRED)
    del containers(live)[0]["env"][1]
    assert drift.drifted(DESIRED, live, MANAGER)


def test_our_container_replaced_by_another_is_drift() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"] = [{"name": "other", "image": "x"}]
    assert drift.drifted(DESIRED, live, MANAGER)


def test_a_missing_field_is_drift() -> None:
    live = live_of(DESIRED)
    del live["metadata"]["labels"]
    assert drift.drifted(DESIRED, live, MANAGER)


def test_a_new_desired_entry_is_drift() -> None:
    desired = desired_with(lambda o: containers(o)[0]["env"].append({"name": "C", "value": "3"}))
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


def test_a_new_desired_field_is_drift() -> None:
    desired = desired_with(lambda o: o["spec"]["template"]["spec"].update(priorityClassName="high"))
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


def test_reordered_entries_of_ours_are_drift() -> None:
    desired = desired_with(lambda o: containers(o)[0]["env"].reverse())
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


def test_a_removed_env_var_we_own_is_drift() -> None:
    desired = desired_with(lambda o: containers(o)[0]["env"].pop())
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


def test_a_removed_node_selector_key_is_drift_which_is_subset_missed() -> None:
    desired = desired_with(lambda o: o["spec"]["template"]["spec"]["nodeSelector"].pop("zone"))
    live = live_of(DESIRED)
    assert drift.is_subset(desired, live), "is_subset never noticed a removed map key"
    assert drift.drifted(desired, live, MANAGER)


def test_a_removed_node_selector_is_drift() -> None:
    desired = desired_with(lambda o: o["spec"]["template"]["spec"].pop("nodeSelector"))
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


def test_a_field_we_no_longer_set_is_drift() -> None:
    """Switching to an HPA: ``spec.replicas`` must be given up (applied without it) once."""
    desired = desired_with(lambda o: o["spec"].pop("replicas"))
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)
    # After that apply the HPA's value stays, but it is no longer ours: no drift.
    owned = owned_tree()
    del owned["f:spec"]["f:replicas"]
    live = live_of(desired, owned)
    live["spec"]["replicas"] = 7
    assert not drift.drifted(desired, live, MANAGER)


def test_a_removed_label_we_own_is_drift() -> None:
    desired = desired_with(lambda o: o["metadata"].pop("labels"))
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


# --- list kinds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--model"], ["--model", "m", "--extra"], [], ["m", "--model"]])
def test_an_atomic_list_is_compared_whole(args: list[str]) -> None:
    live = live_of(DESIRED)
    containers(live)[0]["args"] = args
    assert drift.drifted(DESIRED, live, MANAGER)


def test_an_atomic_list_we_now_want_empty_is_drift() -> None:
    desired = desired_with(lambda o: containers(o)[0].update(args=[]))
    assert drift.drifted(desired, live_of(DESIRED), MANAGER)


def test_a_keyed_list_we_applied_empty_keeps_what_others_add() -> None:
    desired = desired_with(lambda o: containers(o)[0].update(env=[]))
    owned = owned_tree()
    owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"server"}']["f:env"] = {}
    live = live_of(desired, owned)
    containers(live)[0]["env"] = [{"name": "INJECTED", "value": "1"}]
    assert not drift.drifted(desired, live, MANAGER)


SET_DESIRED: dict[str, Any] = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "finalizers": ["a/b"]}}


def set_live(values: list[str], owned: list[str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "finalizers": values, "managedFields": [
        entry(MANAGER, {"f:metadata": {"f:finalizers": {".": {}, **{f'v:"{v}"': {} for v in owned}}}})]}}


def test_set_entries_others_add_are_not_drift() -> None:
    assert not drift.drifted(SET_DESIRED, set_live(["a/b", "c/d"], ["a/b"]), MANAGER)


def test_a_set_entry_we_own_and_no_longer_want_is_drift() -> None:
    assert drift.drifted(SET_DESIRED, set_live(["a/b", "old/x"], ["a/b", "old/x"]), MANAGER)


def test_a_missing_set_entry_is_drift() -> None:
    assert drift.drifted(SET_DESIRED, set_live(["c/d"], []), MANAGER)


def test_an_unreadable_key_is_drift_rather_than_a_guess() -> None:
    owned = owned_tree()
    owned["f:spec"]["f:template"]["f:spec"]["f:containers"] = {"k:{not json": {}}
    assert drift.drifted(DESIRED, live_of(DESIRED, owned), MANAGER)


# --- the Service and the HPA as the renderers build them ---------------------------------------------


SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "chat", "namespace": "a", "labels": {"app": "chat"}, "ownerReferences": [OWNER]},
    "spec": {"type": "ClusterIP", "selector": {"app": "chat"},
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
}
SERVICE_OWNED = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:ownerReferences": {".": {}, 'k:{"uid":"u1"}': {}}},
    "f:spec": {"f:ports": {".": {}, 'k:{"port":80,"protocol":"TCP"}': {
        ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
        "f:selector": {}, "f:type": {}},
}


def service_live(desired: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(desired)
    live["metadata"]["managedFields"] = [entry(MANAGER, copy.deepcopy(SERVICE_OWNED))]
    live["spec"] |= {"clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"], "sessionAffinity": "None",
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}
    return live


def test_a_service_as_applied_is_not_drift() -> None:
    assert not drift.drifted(SERVICE, service_live(SERVICE), MANAGER)


def test_a_port_another_manager_added_is_not_drift() -> None:
    live = service_live(SERVICE)
    live["spec"]["ports"].append({"name": "debug", "port": 9000, "targetPort": 9000, "protocol": "TCP"})
    assert not drift.drifted(SERVICE, live, MANAGER)


def test_a_selector_key_we_no_longer_want_is_drift() -> None:
    live = service_live(SERVICE)
    live["spec"]["selector"]["version"] = "v1"  # we applied it before (the selector is atomic)
    assert drift.drifted(SERVICE, live, MANAGER)


def test_a_removed_port_is_drift() -> None:
    live = service_live(SERVICE)
    live["spec"]["ports"].append({"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"})
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"]['k:{"port":9090,"protocol":"TCP"}'] = {
        ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}
    assert drift.drifted(SERVICE, live, MANAGER)


def test_an_empty_map_the_server_dropped_is_not_drift() -> None:
    desired = desired_with(lambda o: o["spec"]["template"]["spec"].update(nodeSelector={}))
    owned = owned_tree()
    del owned["f:spec"]["f:template"]["f:spec"]["f:nodeSelector"]
    live = live_of(desired, owned)
    del live["spec"]["template"]["spec"]["nodeSelector"]
    assert not drift.drifted(desired, live, MANAGER)
