"""Fixtures for the cluster tier: a real kube-apiserver, controller-manager, scheduler and etcd
(built from Go modules by hack/), fake GPU nodes run by kwok, and the operator as a subprocess.

- ``cluster`` (session): starts or reuses the cluster ``inferop-test`` via hack/cluster-up.sh and
  installs the CRDs. With CI=true a cluster that cannot start fails the run; elsewhere it skips
  with the command that gets you one.
- ``operator_factory``: runs ``inferop run`` with its own ServiceAccount credentials, so the API
  server's audit log can tell its writes apart.
- ``namespace``: a fresh namespace per test, deleted afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack"))
from kubewait import NotEstablished as NotEstablished  # noqa: E402  (re-exported for the tests)
from kubewait import crd_names, wait_established  # noqa: E402  (hack/kubewait.py, shared with bench/scale)

CLUSTER_NAME = os.environ.get("INFEROP_TEST_CLUSTER", "inferop-test")
OPERATOR_NS = "inferop-system"
OPERATOR_SA = "inferop"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
HOW_TO_GET_ONE = "build and start it with `make cluster-up` (first build takes a while), then rerun"


def wait_for(check: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as err:
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


@dataclass
class Cluster:
    kubeconfig: str
    audit_log: Path
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", *args], input=input, capture_output=True, text=True, env=self.env, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(
        self, obj: dict[str, Any] | str, namespace: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        text = obj if isinstance(obj, str) else yaml.safe_dump(obj)
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
        proc = self.kubectl(*args, check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(proc.stderr)
        return dict(json.loads(proc.stdout))

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else ["-A"])
        if selector:
            args += ["-l", selector]
        return list(json.loads(self.kubectl(*args).stdout)["items"])

    def audit_writes(self, since: float, namespace: str, user: str = OPERATOR_USER) -> list[dict[str, Any]]:
        """Write requests (create/update/patch/delete) by ``user`` in ``namespace`` after ``since`` (epoch s)."""
        out = []
        if not self.audit_log.exists():
            raise AssertionError(f"no audit log at {self.audit_log}")
        for line in self.audit_log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("user", {}).get("username") != user:
                continue
            if event.get("objectRef", {}).get("namespace") != namespace:
                continue
            stamp = event.get("requestReceivedTimestamp", "")
            if _epoch(stamp) >= since:
                out.append(event)
        return out

    def audit_writes_matching(
        self, since: float, keep: Callable[[dict[str, Any]], bool], user: str = OPERATOR_USER
    ) -> list[dict[str, Any]]:
        """Write requests by ``user`` after ``since`` (epoch s) whose audit event ``keep`` accepts, in any
        namespace or none (cluster-scoped objects)."""
        if not self.audit_log.exists():
            raise AssertionError(f"no audit log at {self.audit_log}")
        out = []
        for line in self.audit_log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("user", {}).get("username") != user:
                continue
            if _epoch(event.get("requestReceivedTimestamp", "")) >= since and keep(event):
                out.append(event)
        return out


def _epoch(stamp: str) -> float:
    import datetime

    if not stamp:
        return 0.0
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _start_cluster() -> Cluster:
    env = {**os.environ, "INFEROP_CLUSTER_NAME": CLUSTER_NAME}
    proc = subprocess.run(
        ["bash", str(ROOT / "hack" / "cluster-up.sh")], capture_output=True, text=True, env=env, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/cluster-up.sh failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines() if line.startswith("export ")
    )
    kubeconfig = exports["KUBECONFIG"]
    bin_dir = Path(
        subprocess.run(
            ["bash", str(ROOT / "hack" / "build-control-plane.sh")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    cluster_env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return Cluster(kubeconfig=kubeconfig, audit_log=Path(exports["INFEROP_AUDIT_LOG"]), env=cluster_env)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    try:
        c = _start_cluster()
    except (RuntimeError, subprocess.SubprocessError, OSError, KeyError) as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the local cluster could not start: {err}", pytrace=False)
        pytest.skip(f"no local cluster ({err}); {HOW_TO_GET_ONE}")
    applied = c.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"), "-o", "name")
    wait_established(crd_names(applied.stdout), env=c.env, timeout=60)
    c.kubectl("apply", "-f", str(ROOT / "examples" / "gpuclasses.yaml"))
    return c


def _operator_kubeconfig(cluster: Cluster, tmp: Path) -> Path:
    """A kubeconfig for the operator's own ServiceAccount (cluster-admin until the chart's RBAC lands)."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}})
    cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": OPERATOR_SA, "namespace": OPERATOR_NS}}
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "inferop-test-operator"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_NS}],
        }
    )
    token = cluster.kubectl("create", "token", OPERATOR_SA, "-n", OPERATOR_NS, "--duration=24h").stdout.strip()
    admin = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    admin["users"] = [{"name": OPERATOR_SA, "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = OPERATOR_SA
    path = tmp / "operator-kubeconfig.yaml"
    path.write_text(yaml.safe_dump(admin))
    return path


class Operator:
    """``python -m inferop.cli <args>`` in a subprocess, with ``env`` over the cluster's environment."""

    #: Arguments and environment of the test tier's operator (a 5 s drift timer keeps repair tests short).
    ARGS: tuple[str, ...] = ("run", "--all-namespaces", "--verbose")
    DEFAULT_ENV: dict[str, str] = {"INFEROP_DRIFT_INTERVAL": "5"}

    def __init__(
        self,
        cluster: Cluster,
        kubeconfig: Path,
        log_path: Path,
        env: dict[str, str],
        args: tuple[str, ...] | None = None,
    ) -> None:
        self.cluster, self.kubeconfig, self.log_path, self.extra_env = cluster, kubeconfig, log_path, env
        self.args = args if args is not None else self.ARGS
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**self.cluster.env, **self.DEFAULT_ENV, **self.extra_env, "KUBECONFIG": str(self.kubeconfig)}
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inferop.cli", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"operator exited:\n{self.log()[-4000:]}"


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _operator_kubeconfig(cluster, tmp_path_factory.mktemp("operator"))


@pytest.fixture
def operator_factory(
    cluster: Cluster, operator_kubeconfig: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Operator]]:
    started: list[Operator] = []

    def make(**env: str) -> Operator:
        op = Operator(cluster, operator_kubeconfig, tmp_path / f"operator-{len(started)}.log", env)
        op.start()
        started.append(op)
        return op

    yield make
    for op in started:
        op.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for op in started:
            print(f"--- operator log {op.log_path} ---\n{op.log()[-6000:]}")


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    op = Operator(cluster, operator_kubeconfig, tmp_path_factory.mktemp("op") / "operator.log", {})
    op.start()
    yield op
    op.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lambda: cluster.get("serviceaccount", "default", name), timeout=60, what="default ServiceAccount")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
