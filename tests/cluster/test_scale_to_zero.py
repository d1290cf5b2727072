"""Scale to zero on the real control plane, with a real Prometheus, the real operator and a real
``inferop activator`` process.

A service with ``minReplicas: 0`` and ``scaleToZero.idleSeconds: 15`` and no traffic (its request-rate
query is overridden to ``vector(0)``: a usable series of exactly 0, answered by a real Prometheus) goes
to zero: status ``scaledToZero``, the Deployment at 0 replicas, its Service's EndpointSlice pointing at
the activator. An operator restart at zero writes no child. A request sent through the activator is
held, the activator's annotation wakes the service, a pod turns Ready, the request is answered by the
pod's (stand-in) server, and the endpoints point at the pod again.

kwok's pods run no process and its default pod IPs (10.0.0.0/24) reach nothing here (a sandbox proxy
answers them with 404). So the service's pods are placed (nodeSelector) on a Node the test creates with
``podCIDR: 198.18.0.0/24``, a range the test routes to this machine's loopback (``ip addr add``, root;
skipped otherwise): kwok runs that Node, makes the pods Running and Ready with addresses of that range,
and a local stand-in model server listening on all addresses at the pod's HTTP port answers for them.
``e2e/`` runs the same flow against real pods on kind.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import Cluster, wait_for
from tests.cluster.test_activator import StandIn, activator, activator_kubeconfig, host_ip, send  # noqa: F401
from tests.harness import Prometheus, condition

pytestmark = pytest.mark.cluster
NODE = "zero-standin"
NODE_LABEL = "inferop.dev/zero-test"
KEY = "inferop.dev/activation-requested"
POLICY = {
    "apiVersion": "inferop.dev/v1alpha1",
    "kind": "CostPolicy",
    "metadata": {"name": "zero-test"},
    "spec": {"intervalSeconds": 5},
}


#: A range routed to this machine's loopback for the test: the test Node's podCIDR, so that the pod IPs
#: kwok assigns there reach the local stand-in model server (kwok's own pod IPs are fake).
POD_RANGE = "198.18.0.1/24"
POD_CIDR = "198.18.0.0/24"


@pytest.fixture
def pod_range() -> Iterator[None]:
    """``ip addr add 198.18.0.1/24 dev lo`` for the test (removed after it, if this test added it)."""
    shown = subprocess.run(["ip", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.skip("no ip(8): cannot route a pod range to the stand-in")
    added = False
    if POD_RANGE not in shown.stdout:
        proc = subprocess.run(["ip", "addr", "add", POD_RANGE, "dev", "lo"], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot add {POD_RANGE} to lo (needs root): {proc.stderr.strip()}")
        added = True
    yield
    if added:
        subprocess.run(["ip", "addr", "del", POD_RANGE, "dev", "lo"], check=False)


@pytest.fixture
def zero_env(
    cluster: Cluster,
    namespace: str,
    operator_factory: Any,
    activator: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    pod_range: None,
) -> Iterator[dict[str, Any]]:
    ip = host_ip()
    standin = StandIn("0.0.0.0")  # every address of POD_RANGE is this machine's
    # The activator's Service (selectorless; its one endpoint is the local activator process's address).
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "zero-activator"},
                   "spec": {"ports": [{"name": "proxy", "port": 8012, "protocol": "TCP"}]}}, namespace=namespace)
    cluster.apply({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "zero-activator-1", "labels": {"kubernetes.io/service-name": "zero-activator"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        "ports": [{"name": "proxy", "port": activator["port"], "protocol": "TCP"}],
    }, namespace=namespace)
    # A Node kwok runs (it manages every Node here) whose pods get addresses of POD_RANGE.
    cluster.kubectl("delete", "node", NODE, "--ignore-not-found", check=False)
    cluster.apply({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": NODE, "labels": {NODE_LABEL: "standin", "kubernetes.io/hostname": NODE}},
                   "spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}})
    prom = Prometheus(tmp_path, None, scrape_interval="1s", evaluation_interval="1s")
    prom.start(30)
    cluster.apply(POLICY)
    env = {"INFEROP_PROMETHEUS_URL": prom.url, "INFEROP_RATE_WINDOW": "10s",
           "INFEROP_ACTIVATOR_SERVICE": f"{namespace}/zero-activator"}
    op = operator_factory(**env)
    try:
        yield {"standin": standin, "ip": ip, "operator": op, "env": env, "activator": activator}
    finally:
        prom.stop()
        standin.shutdown()
        cluster.kubectl("delete", "node", NODE, "--ignore-not-found", check=False)


def service(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "chat"},
        "spec": {
            "model": {"uri": "hf://sentence-transformers/all-MiniLM-L6-v2"},
            "runtime": {"name": "kserve", "image": "kserve/huggingfaceserver:v0.20.0", "port": port},
            "resources": {"cpu": "1", "memory": "1Gi"},
            "scheduling": {"nodeSelector": {NODE_LABEL: "standin"}},
            "autoscaling": {
                "minReplicas": 0,
                "maxReplicas": 2,
                "policy": "zero-test",
                "queries": {"requestRate": "vector(0)"},
                "scaleToZero": {"idleSeconds": 15, "holdTimeoutSeconds": 150},
            },
        },
    }


def pod_ips(cluster: Cluster, namespace: str) -> list[str]:
    pods = cluster.list("pod", namespace, "inferop.dev/inferenceservice=chat")
    return sorted(p["status"]["podIP"] for p in pods if p.get("status", {}).get("podIP")
                  and not p["metadata"].get("deletionTimestamp")
                  and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []))


def endpoints(cluster: Cluster, namespace: str) -> tuple[str, list[tuple[str, int]]]:
    """(what the operator's slice points at, [(address, http port)])."""
    eps = cluster.get("endpointslice", "chat-inferop", namespace)
    if eps is None:
        return "", []
    port = next((p["port"] for p in eps.get("ports") or [] if p.get("name") == "http"), 0)
    target = (eps["metadata"].get("annotations") or {}).get("inferop.dev/endpoints-of", "")
    return target, [(e["addresses"][0], port) for e in eps.get("endpoints") or []]


CHILD_RESOURCES = {"deployments", "services", "endpointslices", "horizontalpodautoscalers"}


def test_idle_to_zero_restart_changes_nothing_and_a_request_wakes_it(
    cluster: Cluster, namespace: str, zero_env: dict[str, Any], operator_factory: Any
) -> None:
    ip, standin, act = zero_env["ip"], zero_env["standin"], zero_env["activator"]
    cluster.apply(service(standin.port), namespace=namespace)

    def isvc() -> dict[str, Any]:
        return cluster.get("inferenceservice", "chat", namespace) or {}

    def replicas() -> int:
        return int(((cluster.get("deployment", "chat", namespace) or {}).get("spec") or {}).get("replicas", -1))

    main = wait_for(lambda: cluster.get("service", "chat", namespace), timeout=60, what="the Service")
    assert "selector" not in main["spec"]
    pods_svc = wait_for(lambda: cluster.get("service", "chat-pods", namespace), timeout=60, what="pods Service")
    assert pods_svc["spec"]["clusterIP"] == "None"
    # Serving first: the pod is Ready, the slice points at it.
    wait_for(lambda: pod_ips(cluster, namespace), timeout=90, what="the kwok pod Ready")
    first = pod_ips(cluster, namespace)
    assert all(a.startswith("198.18.0.") for a in first), first
    wait_for(lambda: endpoints(cluster, namespace) == ("Pods", [(a, standin.port) for a in first]), timeout=60,
             what="the EndpointSlice pointing at the ready pod")

    # No traffic: to zero after idleSeconds, the slice at the activator.
    wait_for(lambda: (isvc().get("status", {}).get("autoscaling") or {}).get("scaledToZero") is True,
             timeout=120, interval=1, what="scaledToZero")
    wait_for(lambda: replicas() == 0, timeout=30, what="replicas 0")
    assert endpoints(cluster, namespace) == ("Activator", [(ip, act["port"])])
    assert condition(isvc(), "ScaledToZero").get("status") == "True"
    assert condition(isvc(), "ScaleToZeroReady").get("status") == "True"
    assert condition(isvc(), "Ready").get("status") == "True", condition(isvc(), "Ready")
    wait_for(lambda: not cluster.list("pod", namespace, "inferop.dev/inferenceservice=chat"), timeout=60,
             what="the pod gone")

    # An operator restart at zero writes no child (and keeps it at zero).
    zero_env["operator"].stop()
    since = time.time()
    operator_factory(**zero_env["env"])
    time.sleep(20)  # > 3 drift intervals (5 s) and cost ticks (5 s)
    writes = [w for w in cluster.audit_writes(since, namespace)
              if (w.get("objectRef") or {}).get("resource") in CHILD_RESOURCES]
    assert writes == [], json.dumps(writes, indent=1)[:3000]
    assert replicas() == 0
    assert endpoints(cluster, namespace)[0] == "Activator"

    # A request through the activator wakes it and is answered by the pod.
    result: dict[str, Any] = {}
    sender = threading.Thread(
        target=lambda: result.update(zip(("code", "body", "headers"),
                                         send(act["port"], f"chat.{namespace}.svc.cluster.local"), strict=True)))
    sent = time.time()
    sender.start()
    wait_for(lambda: KEY in (isvc()["metadata"].get("annotations") or {}), timeout=30, what="activation annotation")
    wait_for(lambda: replicas() == 1, timeout=30, what="woken to the floor (1)")
    sender.join(90)
    assert result.get("code") == 200, result
    assert json.loads(result["body"])["echo"] == '{"prompt": "hi"}'
    woken = wait_for(lambda: pod_ips(cluster, namespace), timeout=30, what="the woken kwok pod Ready")
    wait_for(lambda: endpoints(cluster, namespace) == ("Pods", [(a, standin.port) for a in woken]), timeout=60,
             what="endpoints back at the pod")
    auto = isvc()["status"]["autoscaling"]
    assert auto["scaledToZero"] is False
    assert auto.get("lastRequestTime", "") >= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent - 1))


def test_a_request_held_while_the_operator_is_down_wakes_the_service_when_it_starts(
    cluster: Cluster, namespace: str, zero_env: dict[str, Any], operator_factory: Any
) -> None:
    """Activating across an operator restart: the annotation stays on the object (level-based), so the
    operator that starts later wakes the service and the held request is answered."""
    standin, act = zero_env["standin"], zero_env["activator"]
    cluster.apply(service(standin.port), namespace=namespace)

    def auto() -> dict[str, Any]:
        return ((cluster.get("inferenceservice", "chat", namespace) or {}).get("status") or {}).get("autoscaling") or {}

    wait_for(lambda: auto().get("scaledToZero") is True, timeout=150, interval=1, what="scaledToZero")
    wait_for(lambda: not cluster.list("pod", namespace, "inferop.dev/inferenceservice=chat"), timeout=60,
             what="the pod gone")
    zero_env["operator"].stop()
    result: dict[str, Any] = {}
    sender = threading.Thread(
        target=lambda: result.update(zip(("code", "body", "headers"),
                                         send(act["port"], f"chat.{namespace}.svc"), strict=True)))
    sender.start()
    wait_for(lambda: KEY in ((cluster.get("inferenceservice", "chat", namespace) or {})["metadata"].get("annotations")
                             or {}), timeout=30, what="activation annotation while the operator is down")
    time.sleep(2)
    assert (cluster.get("deployment", "chat", namespace) or {})["spec"]["replicas"] == 0  # nobody woke it yet
    operator_factory(**zero_env["env"])
    sender.join(120)
    assert result.get("code") == 200, result
    wait_for(lambda: auto().get("scaledToZero") is False, timeout=30, what="scaledToZero false")
    woken = wait_for(lambda: pod_ips(cluster, namespace), timeout=30, what="the woken kwok pod Ready")
    wait_for(lambda: endpoints(cluster, namespace) == ("Pods", [(a, standin.port) for a in woken]), timeout=60,
             what="endpoints back at the pod")

    # Removing scaleToZero: the Service gets its selector back, our slice and pods Service go.
    cluster.kubectl("patch", "infsvc", "chat", "-n", namespace, "--type=json", "-p",
                    '[{"op":"remove","path":"/spec/autoscaling/scaleToZero"},'
                    '{"op":"replace","path":"/spec/autoscaling/minReplicas","value":1}]')
    wait_for(lambda: cluster.get("endpointslice", "chat-inferop", namespace) is None, timeout=30,
             what="our EndpointSlice deleted")
    wait_for(lambda: cluster.get("service", "chat-pods", namespace) is None, timeout=30, what="pods Service deleted")
    assert (cluster.get("service", "chat", namespace) or {})["spec"].get("selector") == {
        "inferop.dev/inferenceservice": "chat"}
    wait_for(lambda: "scaledToZero" not in auto(), timeout=30, what="scale-to-zero status removed")
