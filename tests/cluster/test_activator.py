"""The activator on a real API server with the chart's RBAC and admission policy (issue 16, the
activator's part; the operator side that takes services to zero is not wired yet).

`inferop activator` runs as a subprocess with a kubeconfig holding only a token of the chart's
activator ServiceAccount, bound to exactly the chart's ClusterRole, with the chart's
ValidatingAdmissionPolicy applied. Covered:
- a request for an InferenceService with no ready pod is held, and the activator's annotation patch
  reaches the object at once (RBAC and the admission policy let it through);
- an EndpointSlice of the `<name>-pods` Service appearing (the real watch) releases the held request to
  a local stand-in model server (kwok's pods run no process), which answers it;
- the real EndpointSlice controller copies the pods Service's `inferop.dev/inferenceservice` label to
  its slices, so the activator's label-selected watch sees a kwok pod's endpoint;
- the ServiceAccount can do nothing else: any other change to an InferenceService is denied by the
  admission policy, and RBAC denies get/delete/status/scale, EndpointSlice writes, Secrets, Pods;
- SIGTERM while a request is held: the request gets 503 + Retry-After and the process exits 0 in time;
- the chart's activator Deployment passes Pod Security "restricted" (two pods admitted and running),
  its PDB allows one disruption, and its Service's EndpointSlice lists both pods.
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from tests.cluster.conftest import OPERATOR_NS, Cluster, wait_for

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "inferop"
SA = "inferop-activator"
SA_USER = f"system:serviceaccount:{OPERATOR_NS}:{SA}"
KEY = "inferop.dev/activation-requested"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_ip() -> str:
    """A non-loopback address of this machine: the API server refuses loopback endpoints."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = str(s.getsockname()[0])
        except OSError:
            ip = "127.0.0.1"
    if ip.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address for the stand-in's EndpointSlice")
    return ip


def helm() -> str:
    proc = subprocess.run(["bash", str(ROOT / "hack" / "build-helm.sh")], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        pytest.skip(f"helm could not be built: {proc.stderr[-2000:]}")
    return str(Path(proc.stdout.strip().splitlines()[-1]) / "helm")


@pytest.fixture(scope="module")
def activator_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The chart's activator ServiceAccount, ClusterRole(Binding) and admission policy, applied as
    rendered, and a kubeconfig with only that account's token."""
    rendered = subprocess.run(
        [helm(), "template", "inferop", str(CHART), "--namespace", OPERATOR_NS,
         "-f", str(CHART / "ci" / "activator-values.yaml")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    wanted = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
              "ValidatingAdmissionPolicyBinding"}
    objects = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in wanted
               and d["metadata"]["name"] == SA]
    assert {d["kind"] for d in objects} == wanted
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}})
    cluster.apply(yaml.safe_dump_all(objects))
    token = cluster.kubectl("create", "token", SA, "-n", OPERATOR_NS, "--duration=2h").stdout.strip()
    admin = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    admin["users"] = [{"name": SA, "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = SA
    path = tmp_path_factory.mktemp("activator") / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(admin))
    # The API server enforces a new policy once it has loaded it (asynchronously): wait until it denies
    # the activator a label change on a probe object.
    cluster.apply(isvc("policy-probe"), OPERATOR_NS)
    probe = patcher(path, OPERATOR_NS, "policy-probe")
    wait_for(lambda: probe({"metadata": {"labels": {"probe": str(time.monotonic_ns())}}}).startswith("422"),
             timeout=60, what="the admission policy enforced")
    cluster.kubectl("delete", "infsvc", "policy-probe", "-n", OPERATOR_NS, check=False)
    yield path
    for obj in objects:
        cluster.kubectl("delete", obj["kind"], obj["metadata"]["name"], "-n", OPERATOR_NS, "--ignore-not-found",
                        check=False)


def patcher(kubeconfig: Path, namespace: str, name: str) -> Callable[[dict[str, Any]], str]:
    """A bare JSON merge PATCH of an InferenceService as ``kubeconfig``'s user, the way the activator
    sends it (``kubectl patch`` would GET first, which the activator may not): "" or the error."""
    api = kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(str(kubeconfig)))

    def patch(body: dict[str, Any]) -> str:
        try:
            api.patch_namespaced_custom_object("inferop.dev", "v1alpha1", namespace, "inferenceservices", name,
                                               body, _content_type="application/merge-patch+json")
            return ""
        except kubernetes.client.exceptions.ApiException as err:
            return f"{err.status} {err.body}"

    return patch


class StandIn(http.server.ThreadingHTTPServer):
    """A local stand-in for the model server of a pod."""

    def __init__(self, address: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = json.dumps({"echo": body.decode(), "host": self.headers.get("Host")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__((address, 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture()
def activator(cluster: Cluster, activator_kubeconfig: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    port, admin = free_port(), free_port()
    log_path = tmp_path / "activator.log"
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "inferop.cli", "activator", "--address", "127.0.0.1", f"--port={port}",
         f"--admin-port={admin}", "--shutdown-seconds=6", "--shutdown-delay-seconds=0",
         "--hold-timeout-seconds=60"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        env={**cluster.env, "KUBECONFIG": str(activator_kubeconfig)},
    )
    info = {"proc": proc, "port": port, "admin": admin, "log": log_path}

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            assert proc.poll() is None, f"activator exited:\n{log_path.read_text()[-3000:]}"
            return False

    wait_for(ready, timeout=60, what="activator ready (listed InferenceServices and EndpointSlices)")
    yield info
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)
    print(f"--- activator log ---\n{log_path.read_text()[-4000:]}")


def send(port: int, host: str, body: bytes = b'{"prompt": "hi"}') -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body, method="POST",
                                 headers={"Host": host, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=90) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def metric(admin: int, name: str, namespace: str, service: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    want = f'{name}{{inferenceservice="{service}",namespace="{namespace}"}} '
    return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(want)), 0.0)


def isvc(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "examples" / "cpu-embeddings.yaml").read_text())
    doc["metadata"]["name"] = name
    return dict(doc)


def test_held_request_signals_then_goes_to_the_pod_when_its_endpointslice_appears(
    cluster: Cluster, namespace: str, activator: dict[str, Any]
) -> None:
    cluster.apply(isvc("chat"), namespace)
    wait_for(lambda: metric(activator["admin"], "inferop_activator_ready_backends", namespace, "chat") == 0
             and "chat" in cluster.kubectl("get", "infsvc", "-n", namespace).stdout, what="service known")
    ip = host_ip()
    standin = StandIn(ip)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(send, activator["port"], f"chat.{namespace}.svc.cluster.local:80")
        wait_for(lambda: metric(activator["admin"], "inferop_activator_held_requests", namespace, "chat") == 1,
                 timeout=20, what="request held")
        # the operator was told at once: the annotation is on the object (RBAC + admission policy allowed it)
        obj = wait_for(lambda: (cluster.get("infsvc", "chat", namespace) or {}).get("metadata", {})
                       .get("annotations", {}).get(KEY), timeout=10, what="activation annotation")
        assert obj.endswith("Z") and obj.startswith(time.strftime("%Y-%m-%d", time.gmtime()))
        full = json.loads(cluster.kubectl("get", "infsvc", "chat", "-n", namespace, "-o", "json",
                                          "--show-managed-fields").stdout)
        managers = {m["manager"] for m in full["metadata"]["managedFields"]}
        assert "inferop-activator" in managers
        assert not answer.done()
        cluster.apply({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "chat-pods-standin", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": "chat-pods",
                                    "inferop.dev/inferenceservice": "chat",
                                    "endpointslice.kubernetes.io/managed-by": "tests.inferop.dev"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": standin.port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        })
        status, text, _ = answer.result(timeout=30)
    standin.shutdown()
    assert status == 200 and json.loads(text)["echo"] == '{"prompt": "hi"}'
    assert metric(activator["admin"], "inferop_activator_held_requests", namespace, "chat") == 0


def test_the_endpointslice_controller_copies_the_label_the_watch_selects(
    cluster: Cluster, namespace: str, activator: dict[str, Any]
) -> None:
    cluster.apply(isvc("embed"), namespace)
    labels = {"app": "embed-test"}
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "embed-pods", "namespace": namespace,
                                "labels": {"inferop.dev/inferenceservice": "embed"}},
                   "spec": {"clusterIP": "None", "selector": labels,
                            "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "embed-0", "namespace": namespace, "labels": labels},
                   "spec": {"containers": [{"name": "m", "image": "model:1",
                                            "ports": [{"name": "http", "containerPort": 8080}]}],
                            "tolerations": [{"operator": "Exists"}]}})
    wait_for(lambda: metric(activator["admin"], "inferop_activator_ready_backends", namespace, "embed") == 1,
             timeout=60, what="the kwok pod's endpoint, seen through the controller's EndpointSlice")
    (eps,) = cluster.list("endpointslices", namespace, "kubernetes.io/service-name=embed-pods")
    assert eps["metadata"]["labels"]["inferop.dev/inferenceservice"] == "embed"


def test_the_activator_account_can_change_nothing_else(
    cluster: Cluster, namespace: str, activator_kubeconfig: Path
) -> None:
    cluster.apply(isvc("chat"), namespace)
    as_activator = {**cluster.env, "KUBECONFIG": str(activator_kubeconfig)}

    patch = patcher(activator_kubeconfig, namespace, "chat")
    assert patch({"metadata": {"annotations": {KEY: "2026-12-02T01:00:00.000Z"}}}) == ""
    assert cluster.get("infsvc", "chat", namespace)["metadata"]["annotations"][KEY] == "2026-12-02T01:00:00.000Z"
    for body, message in [
        ({"spec": {"replicas": 3}}, "may not change an InferenceService's spec"),
        ({"metadata": {"labels": {"x": "y"}}}, "may not change an InferenceService's labels"),
        ({"metadata": {"annotations": {"inferop.dev/last-handled-configuration": "x"}}},
         "may only set the annotation inferop.dev/activation-requested"),
        ({"metadata": {"finalizers": ["example.com/x"]}}, "finalizers or owner references"),
    ]:
        denied = patch(body)
        assert denied.startswith("422") and message in denied, (body, denied)
    assert cluster.get("infsvc", "chat", namespace)["spec"]["replicas"] == 2
    for verb, resource, *extra in [
        ("get", "inferenceservices"), ("delete", "inferenceservices"), ("create", "inferenceservices"),
        ("update", "inferenceservices"),
        ("patch", "inferenceservices", "--subresource=status"), ("patch", "inferenceservices", "--subresource=scale"),
        ("create", "endpointslices.discovery.k8s.io"), ("patch", "endpointslices.discovery.k8s.io"),
        ("get", "secrets"), ("list", "pods"), ("patch", "services"), ("create", "events"),
    ]:
        can = subprocess.run(["kubectl", "auth", "can-i", verb, resource, *extra, "-n", namespace],
                             capture_output=True, text=True, env=as_activator, timeout=60)
        assert can.stdout.strip() == "no", (verb, resource, extra, can.stdout, can.stderr)
    for verb, resource in [("list", "inferenceservices"), ("watch", "inferenceservices"),
                           ("patch", "inferenceservices"), ("list", "endpointslices.discovery.k8s.io"),
                           ("watch", "endpointslices.discovery.k8s.io")]:
        can = subprocess.run(["kubectl", "auth", "can-i", verb, resource, "-A"], capture_output=True,
                             text=True, env=as_activator, timeout=60)
        assert can.stdout.strip() == "yes", (verb, resource, can.stdout, can.stderr)


def test_sigterm_while_holding_answers_503_and_exits_in_time(
    cluster: Cluster, namespace: str, activator: dict[str, Any]
) -> None:
    cluster.apply(isvc("idle"), namespace)
    wait_for(lambda: "idle" in cluster.kubectl("get", "infsvc", "-n", namespace).stdout, what="service")
    time.sleep(1)  # the watch event reaches the activator
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(send, activator["port"], f"idle.{namespace}")
        wait_for(lambda: metric(activator["admin"], "inferop_activator_held_requests", namespace, "idle") == 1,
                 timeout=20, what="request held")
        t0 = time.monotonic()
        activator["proc"].terminate()
        status, text, headers = answer.result(timeout=30)
        assert activator["proc"].wait(30) == 0
    assert status == 503 and headers["Retry-After"] == "5" and "stopping" in text
    assert time.monotonic() - t0 < 8  # --shutdown-seconds=6


def test_the_chart_runs_two_restricted_activators_behind_a_pdb(cluster: Cluster, namespace: str) -> None:
    """The chart's activator Deployment, Service, PodDisruptionBudget and ServiceAccount in a namespace
    that enforces Pod Security "restricted": both pods are admitted and run (kwok), the PDB allows one
    disruption, and the activator Service's EndpointSlice lists both (what the operator will point
    services at)."""
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/enforce-version=latest")
    rendered = subprocess.run(
        [helm(), "template", "inferop", str(CHART), "--namespace", namespace,
         "-f", str(CHART / "ci" / "activator-values.yaml")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    objects = [d for d in yaml.safe_load_all(rendered) if d and d["metadata"].get("namespace") == namespace
               and d["metadata"]["name"] == SA]
    assert sorted(d["kind"] for d in objects) == ["Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    cluster.apply(yaml.safe_dump_all(objects), namespace)
    selector = "app.kubernetes.io/name=inferop-activator,app.kubernetes.io/instance=inferop"

    def running() -> list[dict[str, Any]]:
        pods = cluster.list("pods", namespace, selector)
        return pods if len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods) else []

    pods = wait_for(running, timeout=90, what="two activator pods admitted and running")
    assert all(p["spec"]["securityContext"]["runAsNonRoot"] for p in pods)
    pdb = wait_for(lambda: (cluster.get("pdb", SA, namespace) or {}).get("status", {}).get("currentHealthy") == 2
                   and cluster.get("pdb", SA, namespace), timeout=60, what="the PDB sees both")
    assert pdb["status"]["disruptionsAllowed"] == 1
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "violates PodSecurity" not in events

    def endpoints() -> list[str]:
        slices = cluster.list("endpointslices", namespace, f"kubernetes.io/service-name={SA}")
        ready = [a for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
                 for a in e["addresses"]]
        return ready if len(ready) == 2 else []

    assert sorted(wait_for(endpoints, timeout=60, what="both activators in the Service's EndpointSlice")) == sorted(
        p["status"]["podIP"] for p in pods)
