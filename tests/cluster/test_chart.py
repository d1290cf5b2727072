"""The Helm chart on a real API server with RBAC on: `helm install` (CRDs included) into a PSA-restricted
namespace, the operator run with the chart's ServiceAccount token and nothing else, through the
reconcile, tenancy and cost scenarios with no 403 anywhere; the account is denied what it does not need
(Secrets, Pods beyond listing them, ConfigMaps, Nodes, RBAC, deleting namespaces, writing GPUClasses...), by
`kubectl auth can-i` and by a real request that gets 403; `helm upgrade` with changed values rolls the
operator (Recreate) and adds a GPUClass, a ServiceMonitor and a PrometheusRule (validated by their real
CRDs); `helm uninstall` removes the operator and its RBAC but keeps the CRDs and every custom resource.

Why a cluster of its own (``inferop-test-chart-<pid>``, created fresh and deleted afterwards) instead of
the shared ``inferop-test``:
- there the CRDs were applied by ``kubectl apply --server-side`` (tests/cluster/conftest.py), without
  Helm's ownership metadata, so ``helm install`` of the chart's CRDs fails ("cannot be imported into the
  current release"); ``--take-ownership`` (Helm >= 3.17) would adopt them, but then this test could not
  show that a fresh install creates the CRDs, and uninstalling would leave Helm metadata on CRDs the
  other tests own;
- conftest binds cluster-admin to the ServiceAccount ``inferop-system/inferop`` (the chart's default
  name), which would make every RBAC assertion here meaningless;
- a fresh cluster's audit log holds only this module's requests.

The operator is ``python -m inferop.cli`` with the exact args and env of the chart's Deployment (pods of
kwok's fake nodes run nothing), the liveness and metrics ports the chart points the kubelet/Prometheus
at, and a kubeconfig holding only ``kubectl create token <chart's ServiceAccount>``.

Environment: INFEROP_TEST_CHART_CLUSTER (cluster name), INFEROP_KEEP_CHART_CLUSTER=1 (keep it),
INFEROP_TEST_CHART_DIR (test another copy of the chart, e.g. with one RBAC verb removed).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Cluster, Operator, wait_established, wait_for
from tests.cluster.test_cost_controller import Prom, set_load
from tests.cluster.test_reconcile import condition, example, wait_ready
from tests.harness import free_port, load_emulator, start_cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = Path(os.environ.get("INFEROP_TEST_CHART_DIR") or ROOT / "charts" / "inferop")
#: One cluster per test session (the pid in the name), so that two test runs on one machine never
#: delete each other's cluster; clusters of sessions that died are removed at the next start.
CLUSTER_PREFIX = "inferop-test-chart"
CLUSTER_NAME = os.environ.get("INFEROP_TEST_CHART_CLUSTER") or f"{CLUSTER_PREFIX}-{os.getpid()}"
RELEASE = "inferop"
NAMESPACE = "inferop-system"
SA = "inferop"
SA_USER = f"system:serviceaccount:{NAMESPACE}:{SA}"
CRDS = ("inferenceservices", "gpuclasses", "tenants", "costpolicies")
#: What a permission failure looks like in the operator's log (kopf's APIForbiddenError, the kubernetes
#: client's "Forbidden", our KubeError "HTTP 403: ...", kopf's "Not enough permissions").
PERMISSION_ERROR = re.compile(
    r"forbidden|HTTP 403|status=403|'code': 403|\"code\": ?403|not enough permissions", re.IGNORECASE
)
FAST_POLICY = {
    "intervalSeconds": 5,
    "scaleUp": {"stabilizationSeconds": 0, "maxStepReplicas": 4, "maxStepPercent": 100},
    "scaleDown": {"stabilizationSeconds": 20, "maxStepReplicas": 2},
    "cooldownSeconds": 5,
    "sloHeadroomPercent": 20,
    "onMissingMetrics": "Hold",
}


def _fail_or_skip(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def _hack(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "hack" / script)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=3600,
    )


@pytest.fixture(scope="module")
def helm_bin() -> str:
    proc = _hack("build-helm.sh")
    if proc.returncode != 0:
        _fail_or_skip(f"helm could not be built (hack/build-helm.sh):\n{proc.stderr[-3000:]}")
    return str(Path(proc.stdout.strip().splitlines()[-1]) / "helm")


def _reap_orphaned_clusters() -> None:
    """Delete the chart-test clusters of test sessions that no longer run (killed before teardown)."""
    clusters = Path(os.environ.get("KWOK_WORKDIR") or Path.home() / ".kwok") / "clusters"
    for path in clusters.glob(f"{CLUSTER_PREFIX}-*"):
        pid = path.name.removeprefix(f"{CLUSTER_PREFIX}-")
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _hack("cluster-down.sh", INFEROP_CLUSTER_NAME=path.name)
        except PermissionError:
            pass  # alive, someone else's


@pytest.fixture(scope="module")
def chart_cluster(helm_bin: str) -> Iterator[Cluster]:
    """A fresh cluster for this module only; deleted afterwards unless INFEROP_KEEP_CHART_CLUSTER=1."""
    _reap_orphaned_clusters()
    _hack("cluster-down.sh", INFEROP_CLUSTER_NAME=CLUSTER_NAME)
    try:
        cluster = start_cluster(CLUSTER_NAME)
    except (RuntimeError, subprocess.SubprocessError, OSError, KeyError) as err:
        _fail_or_skip(f"cluster {CLUSTER_NAME} could not start: {err}")
    cluster.env["PATH"] = f"{Path(helm_bin).parent}:{cluster.env['PATH']}"
    yield cluster
    if os.environ.get("INFEROP_KEEP_CHART_CLUSTER") != "1":
        _hack("cluster-down.sh", INFEROP_CLUSTER_NAME=CLUSTER_NAME)


def helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["helm", *args], capture_output=True, text=True, env=cluster.env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Install:
    cluster: Cluster
    values: Path
    install_notes: str
    prom: Prom
    emulator_port: int
    liveness_port: int
    metrics_port: int
    tmp: Path
    namespaces: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def installed(chart_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """`helm install` on the fresh cluster, then the one `helm upgrade --reuse-values` NOTES.txt asks for."""
    cluster, tmp = chart_cluster, tmp_path_factory.mktemp("chart")
    # A real Prometheus for the cost scenario; it scrapes the load emulator the cost test starts later.
    binary = _hack("prometheus.sh")
    if binary.returncode != 0:
        _fail_or_skip(f"no Prometheus (hack/prometheus.sh): {binary.stderr[-2000:]}")
    emulator_port = free_port()
    prom = Prom(binary.stdout.strip().splitlines()[-1], tmp, f"127.0.0.1:{emulator_port}")
    prom.start()

    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
    )
    liveness_port, metrics_port = free_port(), free_port()
    values = tmp / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "operator": {"driftIntervalSeconds": 5, "livenessPort": liveness_port, "verbose": True},
                "metrics": {"port": metrics_port},
                "prometheus": {"url": prom.url},
                "costPolicy": {"spec": FAST_POLICY},
                **yaml.safe_load((CHART / "ci" / "gpuclasses-values.yaml").read_text()),
            }
        )
    )
    proc = helm(
        cluster, "install", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values), "--wait", "--timeout", "2m"
    )
    helm(cluster, "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values", "--wait", "--timeout", "2m")
    state = Install(cluster, values, proc.stdout, prom, emulator_port, liveness_port, metrics_port, tmp)
    yield state
    prom.stop()
    for ns in state.namespaces:
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


class ChartOperator(Operator):
    """The operator process, started exactly as the chart's Deployment would start it: its args, its
    env (no test-tier defaults) and a kubeconfig with only the chart ServiceAccount's token."""

    DEFAULT_ENV: dict[str, str] = {}

    def __init__(self, install: Install) -> None:
        cluster = install.cluster
        deploy = cluster.get("deployment", RELEASE, NAMESPACE)
        assert deploy is not None
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        kubeconfig = service_account_kubeconfig(cluster, install.tmp)
        super().__init__(cluster, kubeconfig, install.tmp / "operator.log", env, tuple(container["args"]))


def service_account_kubeconfig(cluster: Cluster, tmp: Path) -> Path:
    """A kubeconfig with nothing but a token of the chart's ServiceAccount; its namespace is the
    release namespace, as for a pod (kopf posts Events about cluster-scoped objects there)."""
    token = cluster.kubectl("create", "token", SA, "-n", NAMESPACE, "--duration=2h").stdout.strip()
    config = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    config["users"] = [{"name": SA, "user": {"token": token}}]
    config["contexts"][0]["context"].update({"user": SA, "namespace": NAMESPACE})
    path = tmp / "sa-kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def chart_operator(installed: Install) -> Iterator[ChartOperator]:
    op = ChartOperator(installed)
    op.start()
    yield op
    op.stop()
    print(f"--- operator log {op.log_path} (tail) ---\n{op.log()[-3000:]}")


def new_namespace(install: Install, prefix: str = "t") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    install.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lambda: install.cluster.get("serviceaccount", "default", name), what="default ServiceAccount")
    install.namespaces.append(name)
    return name


def can_i(cluster: Cluster, verb: str, resource: str, namespace: str | None = None) -> bool:
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    proc = cluster.kubectl("auth", "can-i", verb, resource, *scope, "--as", SA_USER, check=False)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i {verb} {resource}: {proc.stdout} {proc.stderr}"
    return answer == "yes"


# --- install ---------------------------------------------------------------------------------------


def test_install_creates_crds_and_a_restricted_single_operator(installed: Install) -> None:
    cluster = installed.cluster
    for plural in CRDS:
        crd = cluster.get("crd", f"{plural}.inferop.dev")
        assert crd is not None, f"CRD {plural}.inferop.dev not installed by the chart"
        meta = crd["metadata"]
        assert meta["annotations"]["helm.sh/resource-policy"] == "keep"
        assert meta["annotations"]["meta.helm.sh/release-name"] == RELEASE
        assert condition(crd, "Established")["status"] == "True"
    # Helm maps every object before creating any, so the first install could not create objects of the
    # CRDs it created; NOTES.txt said so and named the upgrade that did.
    assert "ONE MORE STEP" in installed.install_notes
    assert f"helm upgrade {RELEASE} <chart> -n {NAMESPACE} --reuse-values" in installed.install_notes
    for name in ("CostPolicy/default", "GPUClass/h100", "GPUClass/l4"):
        assert name in installed.install_notes
    policy = cluster.get("costpolicy", "default")
    assert policy is not None and policy["spec"]["intervalSeconds"] == FAST_POLICY["intervalSeconds"]
    assert cluster.get("gpuclass", "h100")["spec"]["price"]["perGPUHour"] == "4.10"  # type: ignore[index]

    deploy = cluster.get("deployment", RELEASE, NAMESPACE)
    assert deploy is not None
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"
    pod_spec = deploy["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == SA
    container = pod_spec["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz", "scheme": "HTTP"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["INFEROP_PROMETHEUS_URL"] == installed.prom.url
    # The namespace enforces Pod Security "restricted": the operator pod was admitted and runs.
    pods = [p for p in cluster.list("pods", NAMESPACE) if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running", pods
    status = json.loads(helm(cluster, "status", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed" and status["version"] == 2


def test_service_account_is_denied_what_it_does_not_need(installed: Install) -> None:
    cluster = installed.cluster
    allowed = [
        ("list", "inferenceservices.inferop.dev"),
        ("watch", "tenants.inferop.dev"),
        ("patch", "inferenceservices.inferop.dev/status"),
        ("list", "gpuclasses.inferop.dev"),
        ("watch", "costpolicies.inferop.dev"),
        ("patch", "deployments.apps"),
        ("delete", "horizontalpodautoscalers.autoscaling"),
        ("create", "resourcequotas"),
        ("patch", "namespaces"),
        ("create", "events"),
        ("list", "pods"),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("patch", "endpointslices.discovery.k8s.io"),  # scale to zero: <name>-inferop
        ("watch", "endpointslices.discovery.k8s.io"),
        ("delete", "endpointslices.discovery.k8s.io"),  # ours, when scaleToZero is removed
        ("delete", "services"),  # the <name>-pods Service, when scaleToZero is removed
    ]
    denied = [
        ("get", "secrets"),
        ("list", "secrets"),
        ("get", "configmaps"),
        ("create", "pods"),
        ("get", "pods"),
        ("watch", "pods"),
        ("create", "pods/exec"),
        ("list", "nodes"),
        ("delete", "namespaces"),
        ("delete", "deployments.apps"),
        ("create", "serviceaccounts/token"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("escalate", "clusterroles.rbac.authorization.k8s.io"),
        ("impersonate", "users"),
        ("create", "gpuclasses.inferop.dev"),
        ("patch", "costpolicies.inferop.dev"),
        ("delete", "inferenceservices.inferop.dev"),
        ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("update", "events"),
        ("list", "events"),
        ("update", "endpointslices.discovery.k8s.io"),
    ]
    assert [a for a in allowed if not can_i(cluster, *a)] == []
    assert [d for d in denied if can_i(cluster, *d)] == []

    # And for real: the token gets 403 from the API server when it reads Secrets cluster-wide.
    kubeconfig = yaml.safe_load(service_account_kubeconfig(cluster, installed.tmp).read_text())
    server = kubeconfig["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cafile=server.get("certificate-authority"))
    request = urllib.request.Request(
        f"{server['server']}/api/v1/secrets",
        headers={"Authorization": f"Bearer {kubeconfig['users'][0]['user']['token']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, context=ctx, timeout=10)
    assert err.value.code == 403
    body = json.loads(err.value.read())
    assert body["reason"] == "Forbidden" and SA_USER in body["message"]
    # The detector the log check below relies on sees a real denial.
    kubectl = subprocess.run(
        ["kubectl", "--kubeconfig", str(installed.tmp / "sa-kubeconfig.yaml"), "get", "secrets", "-A"],
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=60,
    )
    assert kubectl.returncode != 0 and PERMISSION_ERROR.search(kubectl.stderr), kubectl.stderr


# --- the operator under the chart's RBAC ------------------------------------------------------------


def test_reconcile_scenario_under_chart_rbac(installed: Install, chart_operator: ChartOperator) -> None:
    cluster = installed.cluster
    ns = new_namespace(installed)
    cluster.apply(example("cpu-embeddings.yaml"), namespace=ns)
    cluster.apply(example("llm-vllm.yaml"), namespace=ns)  # GPUClass h100 comes from the chart's values
    chat = wait_ready(cluster, chart_operator, "chat", ns)
    embed = wait_ready(cluster, chart_operator, "embed", ns)
    for kind in ("deployment", "service", "hpa"):
        child = cluster.get(kind, "chat", ns)
        assert child is not None, f"{kind} chat missing"
        assert child["metadata"]["ownerReferences"][0]["uid"] == chat["metadata"]["uid"]
    assert cluster.get("deployment", "embed", ns)["spec"]["replicas"] == 2  # type: ignore[index]
    assert embed["status"]["readyReplicas"] == 2
    assert chat["status"]["cost"]["hourly"] == "4.10"

    # Drift is repaired (watch on children, patch), a switch to fixed replicas deletes the HPA.
    cluster.kubectl("delete", "service", "embed", "-n", ns)
    wait_for(lambda: cluster.get("service", "embed", ns), what="deleted Service recreated")
    cluster.kubectl(
        "patch",
        "infsvc",
        "chat",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/autoscaling"},{"op":"add","path":"/spec/replicas","value":1}]',
    )
    wait_for(lambda: cluster.get("hpa", "chat", ns) is None, what="HPA deleted after the switch to fixed replicas")
    events = cluster.list("events", ns)
    assert any(e["involvedObject"]["name"] == "chat" and e["reason"] == "Ready" for e in events)


def test_tenancy_scenario_under_chart_rbac(installed: Install, chart_operator: ChartOperator) -> None:
    cluster = installed.cluster
    existing = new_namespace(installed, "tenant")
    missing = f"tenant-new-{uuid.uuid4().hex[:6]}"  # the Tenant reconciler creates it
    installed.namespaces.append(missing)
    name = f"team-{uuid.uuid4().hex[:6]}"
    cluster.apply(
        {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"namespaces": [existing, missing], "quota": {"gpus": 2}, "budget": {"hourly": "10.00"}},
        }
    )
    try:
        for ns in (existing, missing):
            quota = wait_for(lambda ns=ns: cluster.get("resourcequota", "inferop-tenant", ns), what=f"quota in {ns}")
            assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"
            assert cluster.get("limitrange", "inferop-tenant", ns) is not None
            labels = cluster.get("namespace", ns)["metadata"]["labels"]  # type: ignore[index]
            assert labels["inferop.dev/tenant"] == name
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        tenant = wait_for(
            lambda: (
                condition(cluster.get("tenant", name), "Ready").get("status") == "True" and cluster.get("tenant", name)
            ),
            what="Tenant Ready",
        )
        assert tenant["status"]["usage"]["gpus"] == 0

        # An over-quota service is clamped (reads the tenant index, writes status, posts a Warning).
        svc = example("llm-vllm.yaml")
        del svc["spec"]["autoscaling"]
        svc["spec"]["replicas"] = 3
        cluster.apply(svc, namespace=existing)
        limited = wait_for(
            lambda: condition(cluster.get("infsvc", "chat", existing), "QuotaLimited").get("status") == "True",
            what="QuotaLimited=True",
        )
        assert limited
        assert cluster.get("deployment", "chat", existing)["spec"]["replicas"] == 2  # type: ignore[index]

        # Dropping a namespace removes its quota objects (list, delete) and our labels (apply).
        cluster.kubectl("patch", "tenant", name, "--type=merge", "-p", json.dumps({"spec": {"namespaces": [existing]}}))
        wait_for(lambda: cluster.get("resourcequota", "inferop-tenant", missing) is None, what="stale quota removed")
        wait_for(
            lambda: "inferop.dev/tenant" not in (cluster.get("namespace", missing)["metadata"].get("labels") or {}),  # type: ignore[index]
            what="stale namespace unlabelled",
        )
    finally:
        cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)


def test_cost_scenario_under_chart_rbac(installed: Install, chart_operator: ChartOperator) -> None:
    """The chart's default CostPolicy and prometheus.url drive real scaling decisions."""
    cluster = installed.cluster
    ns = new_namespace(installed, "cost")
    emulator = load_emulator(
        cluster,
        namespace=ns,
        name="chat",
        port=installed.emulator_port,
        rps=5,
        capacity=20,
        log=installed.tmp / "emulator.log",
    )
    try:
        svc = example("llm-vllm.yaml")
        svc["spec"]["autoscaling"] = {
            "minReplicas": 1,
            "maxReplicas": 6,
            "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": 1000}},
        }  # policy: the chart's "default"
        cluster.apply(svc, namespace=ns)

        def isvc() -> dict[str, Any]:
            return cluster.get("inferenceservice", "chat", ns) or {}

        def ready_replicas() -> int:
            return int((cluster.get("deployment", "chat", ns) or {}).get("status", {}).get("readyReplicas") or 0)

        wait_for(
            lambda: condition(isvc(), "MetricsAvailable").get("status") == "True",
            timeout=120,
            what="MetricsAvailable=True from the chart's prometheus.url",
        )
        set_load(installed.emulator_port, 40)  # replicas serve 20 rps each: saturated -> scale up
        wait_for(lambda: ready_replicas() >= 3, timeout=150, interval=2, what="scaled up to >= 3 replicas")
        status = isvc()["status"]
        assert status["autoscaling"]["desiredReplicas"] >= 3
        assert any(d["reason"] in ("SLOBreach", "Saturated") for d in status["autoscaling"]["recentDecisions"])
        hpa = cluster.get("hpa", "chat", ns)
        assert hpa is not None and hpa["spec"]["minReplicas"] >= 3, "the HPA's floor was raised"
        events = cluster.list("events", ns)
        assert any(e["reason"] in ("SLOBreach", "Saturated") for e in events if e["involvedObject"]["name"] == "chat")
        # The operator's /metrics on the port the chart's Service and ServiceMonitor point at.
        exposed = urllib.request.urlopen(f"http://127.0.0.1:{installed.metrics_port}/metrics", timeout=5).read()
        assert f'inferop_desired_replicas{{inferenceservice="chat",namespace="{ns}"}}'.encode() in exposed
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def test_liveness_endpoint_is_where_the_probe_looks(installed: Install, chart_operator: ChartOperator) -> None:
    chart_operator.assert_alive()
    deploy = installed.cluster.get("deployment", RELEASE, NAMESPACE)
    container = deploy["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    port = next(
        p["containerPort"] for p in container["ports"] if p["name"] == container["livenessProbe"]["httpGet"]["port"]
    )
    path = container["livenessProbe"]["httpGet"]["path"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        assert resp.status == 200


# --- upgrade, the operator's record, uninstall --------------------------------------------------------


def test_upgrade_with_changed_values(installed: Install, chart_operator: ChartOperator) -> None:
    cluster = installed.cluster
    before = cluster.get("deployment", RELEASE, NAMESPACE)
    assert before is not None
    old_pods = {p["metadata"]["name"] for p in cluster.list("pods", NAMESPACE)}
    # ServiceMonitor and PrometheusRule need prometheus-operator's CRDs: the real ones, so the API server
    # validates what the chart renders.
    crd_dir = (
        Path(os.environ.get("INFEROP_CACHE", Path.home() / ".cache" / "inferop"))
        / "prometheus-operator-v0.85.0"
        / "crds"
    )
    if not crd_dir.is_dir():
        pytest.fail(f"{crd_dir} missing: `make chart-check` fetches it (make test runs it first)")
    cluster.kubectl("apply", "--server-side", "-f", str(crd_dir))
    # Polls: `kubectl wait` fails at once on a CRD whose status is not written yet (issue 17, item 14).
    wait_established(
        ["servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"], env=cluster.env, timeout=60
    )
    extra = installed.tmp / "upgrade.yaml"
    extra.write_text(
        yaml.safe_dump(
            {
                "resources": {"requests": {"cpu": "200m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
                "gpuClasses": {
                    "a100": {
                        "resourceName": "nvidia.com/gpu",
                        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
                        "memoryGiB": 80,
                        "price": {"perGPUHour": "2.50", "currency": "USD"},
                    }
                },
                "serviceMonitor": {"enabled": True},
                "prometheusRule": {"enabled": True},
            }
        )
    )
    helm(
        cluster,
        "upgrade",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--reuse-values",
        "-f",
        str(extra),
        "--wait",
        "--timeout",
        "2m",
    )
    after = cluster.get("deployment", RELEASE, NAMESPACE)
    assert after is not None
    resources = after["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "200m", "memory": "300Mi"}
    assert after["metadata"]["generation"] > before["metadata"]["generation"]

    # Recreate: the old operator pod is gone, one new pod runs.
    def rolled() -> list[dict[str, Any]] | None:
        pods = cluster.list("pods", NAMESPACE)
        names = {p["metadata"]["name"] for p in pods}
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running if not names & old_pods and len(running) == 1 else None

    wait_for(rolled, what="the old operator pod gone and exactly one new pod running")
    # Values merged, not replaced: the classes from the install are still there, a100 is new.
    assert {g["metadata"]["name"] for g in cluster.list("gpuclasses")} >= {"h100", "l4", "a100"}
    assert cluster.get("servicemonitor", RELEASE, NAMESPACE) is not None
    rule = cluster.get("prometheusrule", RELEASE, NAMESPACE)
    assert rule is not None
    assert {r["alert"] for r in rule["spec"]["groups"][0]["rules"]} >= {"InferopSLOBreach", "InferopBudgetExhausted"}
    status = json.loads(helm(cluster, "status", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    assert status["version"] == 3 and status["info"]["status"] == "deployed"
    chart_operator.assert_alive()


def test_operator_never_hit_a_permission_error(installed: Install, chart_operator: ChartOperator) -> None:
    """Runs after the scenarios: the whole log, and every write the API server audited for the account."""
    chart_operator.assert_alive()
    hits = [line for line in chart_operator.log().splitlines() if PERMISSION_ERROR.search(line)]
    assert hits == [], "permission errors in the operator log:\n" + "\n".join(hits[:20])
    writes = [json.loads(line) for line in installed.cluster.audit_log.read_text().splitlines() if SA_USER in line]
    writes = [w for w in writes if w.get("user", {}).get("username") == SA_USER]
    assert len(writes) > 20, "the operator's writes should come from the chart's ServiceAccount"
    denied = [(w["verb"], w["objectRef"]) for w in writes if w.get("responseStatus", {}).get("code") == 403]
    assert denied == []
    written = {(w["objectRef"].get("resource"), w["objectRef"].get("subresource")) for w in writes}
    # The scenarios exercised the rules that write.
    for needed in [
        ("deployments", None),
        ("services", None),
        ("horizontalpodautoscalers", None),
        ("inferenceservices", "status"),
        ("tenants", "status"),
        ("resourcequotas", None),
        ("limitranges", None),
        ("namespaces", None),
        ("events", None),
    ]:
        assert needed in written, f"no audited write to {needed}"


def test_uninstall_keeps_crds_and_custom_resources(installed: Install, chart_operator: ChartOperator) -> None:
    cluster = installed.cluster
    chart_operator.stop()
    services = cluster.list("inferenceservices")
    assert services
    proc = helm(cluster, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "2m")
    assert "kept due to the resource policy" in proc.stdout
    for kind, name, ns in [
        ("deployment", RELEASE, NAMESPACE),
        ("serviceaccount", SA, NAMESPACE),
        ("clusterrole", RELEASE, None),
        ("clusterrolebinding", RELEASE, None),
        ("service", f"{RELEASE}-metrics", NAMESPACE),
        ("servicemonitor", RELEASE, NAMESPACE),
    ]:
        assert cluster.get(kind, name, ns) is None, f"{kind} {name} survived helm uninstall"
    for plural in CRDS:
        assert cluster.get("crd", f"{plural}.inferop.dev") is not None, f"CRD {plural} deleted by helm uninstall"
    assert cluster.get("costpolicy", "default") is not None
    assert {g["metadata"]["name"] for g in cluster.list("gpuclasses")} >= {"h100", "l4", "a100"}
    kept = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in cluster.list("inferenceservices")}
    assert kept == {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services}
