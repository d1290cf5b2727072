"""The hack/ cluster scripts and the shared waits, on the real control plane (issue 17, items 14 and 15).

- ``wait_established`` (tests/harness/kubewait.py, and the shell copy in hack/lib.sh) waits for CRDs applied a
  moment before: ``kubectl wait --for=condition=Established`` fails at once on those when their status
  is not written yet. Each run creates several fresh CRDs (names unique per run) and waits on each one
  right after the create returns; a CRD whose names are refused never becomes Established and the
  wait fails in time with a message naming it.
- ``hack/cluster-down.sh`` leaves no process of the cluster behind and frees its ports. It used to
  skip kwokctl (it misread the marker file) and SIGTERM every component at once; kube-apiserver then
  hung in its graceful shutdown (etcd was gone) and kept running, ~490 MB each, after every
  cluster-down (hack/README.md, trap 15). A process of the cluster that kwokctl never recorded is
  stopped too. One throwaway cluster (``inferop-hack-<random>``) is created and deleted here, ~20 s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import ROOT, Cluster, NotEstablished, wait_established

KWOK_WORKDIR = Path(os.environ.get("KWOK_WORKDIR", Path.home() / ".kwok"))
GROUP = "waits.hack.inferop.dev"


# --- item 14: waiting for fresh CRDs ----------------------------------------------------------------


def crd(plural: str, kind: str) -> dict[str, object]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"inferop.dev/test": "kubewait"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


@pytest.fixture
def fresh_crds(cluster: Cluster) -> Iterator[list[str]]:
    """Names of the CRDs a test creates; all deleted afterwards."""
    created: list[str] = []
    yield created
    if created:
        cluster.kubectl("delete", "crd", *created, "--ignore-not-found", "--wait=false", check=False)


def test_wait_established_waits_for_crds_created_a_moment_before(cluster: Cluster, fresh_crds: list[str]) -> None:
    run = uuid.uuid4().hex[:6]
    for i in range(6):
        plural, kind = f"w{run}x{i}s", f"W{run}x{i}"
        name = f"{plural}.{GROUP}"
        # `kubectl create` returns as soon as the object is stored, before the apiextensions controller
        # has written its status: the moment the old `kubectl wait` failed on.
        created = cluster.kubectl("create", "-f", "-", "-o", "name", input=yaml.safe_dump(crd(plural, kind)))
        fresh_crds.append(name)
        if i % 2:
            # The shell copy, as hack/demo.sh uses it (names as `kubectl ... -o name` prints them).
            proc = subprocess.run(
                ["bash", "-c", '. hack/lib.sh && wait_established 30 "$@"', "wait", created.stdout.strip()],
                cwd=ROOT,
                env=cluster.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 0, f"wait_established (hack/lib.sh) failed for {name}: {proc.stderr}"
        else:
            wait_established([created.stdout.strip()], env=cluster.env, timeout=30)
        got = cluster.get("crd", name)
        assert got is not None
        established = [c for c in got["status"]["conditions"] if c["type"] == "Established"]
        assert established and established[0]["status"] == "True", f"{name} returned before Established: {got}"
        # ...and the API serves the new kind at once.
        listed = cluster.kubectl("get", f"{plural}.{GROUP}", "-A", "-o", "name")
        assert listed.stdout == ""


def test_wait_established_names_what_did_not_become_established(cluster: Cluster, fresh_crds: list[str]) -> None:
    run = uuid.uuid4().hex[:6]
    first = crd(f"a{run}s", f"A{run}")
    # Same kind as the first in the same group: the API server refuses its names (NamesAccepted=False),
    # so it never becomes Established.
    clash = crd(f"b{run}s", f"A{run}")
    cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(first))
    fresh_crds.append(f"a{run}s.{GROUP}")
    wait_established([f"a{run}s.{GROUP}"], env=cluster.env, timeout=30)
    cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(clash))
    fresh_crds.append(f"b{run}s.{GROUP}")
    missing = f"nothere{run}s.{GROUP}"

    start = time.monotonic()
    with pytest.raises(NotEstablished) as err:
        wait_established([f"a{run}s.{GROUP}", f"b{run}s.{GROUP}", missing], env=cluster.env, timeout=3)
    assert time.monotonic() - start < 15
    message = str(err.value)
    assert f"a{run}s.{GROUP}" not in message, message
    assert f"b{run}s.{GROUP}: Established=False" in message and f"A{run}" in message, message
    assert f"{missing}: not found" in message, message

    proc = subprocess.run(
        ["bash", "-c", '. hack/lib.sh && wait_established 2 "$@"', "wait", f"b{run}s.{GROUP}", missing],
        cwd=ROOT,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "2 CRD(s) not Established after 2s" in proc.stderr and f"b{run}s.{GROUP} (False)" in proc.stderr
    assert missing in proc.stderr


class CrdStub(BaseHTTPRequestHandler):
    """Just enough of an API server for ``kubectl get/wait crd/<NAME>``: discovery, then one CRD whose
    ``status.conditions`` is null for the first ``null_reads`` reads (what a real API server serves
    between the create and the apiextensions controller's first status write), Established after."""

    NAME = "stubs.waits.hack.inferop.dev"
    null_reads = 3
    reads = 0

    def crd(self) -> dict[str, Any]:
        type(self).reads += 1
        conditions = None if self.reads <= self.null_reads else [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "accepted"},
        ]
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.NAME, "resourceVersion": str(self.reads), "generation": 1, "uid": "u1"},
            "spec": {},
            "status": {"acceptedNames": {"kind": "", "plural": ""}, "conditions": conditions, "storedVersions": ["v1"]},
        }

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path, _, query = self.path.partition("?")
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        body: dict[str, Any]
        if path == "/api":
            body = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        elif path == "/api/v1":
            body = {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}
        elif path == "/apis":
            version = {"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"}
            group = {"name": "apiextensions.k8s.io", "versions": [version], "preferredVersion": version}
            body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}
        elif path == "/apis/apiextensions.k8s.io/v1":
            resource = {
                "name": "customresourcedefinitions",
                "singularName": "customresourcedefinition",
                "namespaced": False,
                "kind": "CustomResourceDefinition",
                "verbs": ["get", "list", "watch"],
                "shortNames": ["crd", "crds"],
            }
            body = {"kind": "APIResourceList", "groupVersion": "apiextensions.k8s.io/v1", "resources": [resource]}
        elif path == f"{base}/{self.NAME}":
            body = self.crd()
        elif path == base and "watch=true" not in query:
            body = {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinitionList",
                "metadata": {"resourceVersion": str(self.reads)},
                "items": [self.crd()],
            }
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def kubectl_dir() -> str:
    """The bin dir of the kubectl hack/build-control-plane.sh built (reused from its cache)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "hack" / "build-control-plane.sh")], capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"hack/build-control-plane.sh failed:\n{proc.stderr[-3000:]}", pytrace=False)
        pytest.skip(f"no control plane binaries (hack/build-control-plane.sh failed):\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def crd_stub(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A stub API server (CrdStub) and the environment for kubectl to use it (its own discovery cache)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CrdStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "stub", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "stub", "user": {}}],
                "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
                "current-context": "stub",
            }
        )
    )
    CrdStub.reads = 0
    yield {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "HOME": str(tmp_path),
        "PATH": f"{kubectl_dir()}:{os.environ['PATH']}",
    }
    server.shutdown()


def test_kubectl_wait_fails_where_wait_established_waits(crd_stub: dict[str, str]) -> None:
    """The old pattern, made deterministic: the real kubectl against a stub that serves the CRD's status
    as a fresh one has it. `kubectl wait` fails at once; both copies of wait_established wait it out."""
    old = subprocess.run(
        ["kubectl", "wait", "--for=condition=Established", f"crd/{CrdStub.NAME}", "--timeout=20s"],
        env=crd_stub,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert old.returncode != 0 and "accessor error" in old.stderr, (old.returncode, old.stderr)

    CrdStub.reads = 0
    waited = wait_established([f"crd/{CrdStub.NAME}"], env=crd_stub, timeout=20, interval=0.05)
    assert CrdStub.reads > CrdStub.null_reads and waited < 20

    CrdStub.reads = 0
    shell = subprocess.run(
        ["bash", "-c", f". hack/lib.sh && wait_established 20 crd/{CrdStub.NAME}"],
        cwd=ROOT,
        env=crd_stub,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    assert CrdStub.reads > CrdStub.null_reads


# --- item 15: cluster-down leaves nothing running ---------------------------------------------------


def processes_of(cluster_dir: Path) -> dict[int, str]:
    """pid -> command line of every process whose command line or working directory names ``cluster_dir``."""
    found = {}
    needle = f"{cluster_dir}/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if needle in cmdline or cwd == str(cluster_dir) or cwd.startswith(needle):
            found[int(entry.name)] = cmdline.strip()
    return found


def listening_ports(pids: set[int] | None = None) -> set[int]:
    """TCP ports in LISTEN state: of ``pids`` (by their socket inodes), or of any process."""
    inodes: set[str] | None = None
    if pids is not None:
        inodes = set()
        for pid in pids:
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except OSError:
                continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and (inodes is None or fields[9] in inodes):
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_cluster_down_leaves_no_process_and_frees_the_ports() -> None:
    name = f"inferop-hack-{uuid.uuid4().hex[:6]}"
    cluster_dir = KWOK_WORKDIR / "clusters" / name
    env = {**os.environ, "INFEROP_CLUSTER_NAME": name, "KWOK_WORKDIR": str(KWOK_WORKDIR)}
    stray: subprocess.Popen[bytes] | None = None
    try:
        up = subprocess.run(
            ["bash", "hack/cluster-up.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        if up.returncode != 0:
            if os.environ.get("CI") == "true":
                pytest.fail(f"hack/cluster-up.sh failed:\n{up.stderr[-4000:]}", pytrace=False)
            pytest.skip(f"hack/cluster-up.sh failed (no control plane binaries?):\n{up.stderr[-2000:]}")
        running = processes_of(cluster_dir)
        commands = " ".join(running.values())
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
            assert f"/{component} " in commands or f"bin/{component}" in commands, f"no {component}: {running}"
        ports = listening_ports(set(running))
        assert len(ports) >= 4, f"expected the components' ports, found {ports}"
        # A process of the cluster that kwokctl did not record in pids/, as a component started twice
        # would be (its binary under the cluster's bin/): cluster-down must stop it too.
        stray = subprocess.Popen(
            ["bash", "-c", f'exec -a "{cluster_dir}/bin/kube-apiserver" sleep 600'],
            cwd=cluster_dir,
            start_new_session=True,
        )

        down = subprocess.run(
            ["bash", "hack/cluster-down.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert down.returncode == 0, f"hack/cluster-down.sh failed:\n{down.stderr[-4000:]}"
        assert not cluster_dir.exists()
        left = processes_of(cluster_dir)
        assert not left, f"cluster-down left processes of {cluster_dir}: {left}"
        assert stray.wait(timeout=5) == -signal.SIGTERM, "the unrecorded process was not stopped by SIGTERM"
        still = ports & listening_ports()
        assert not still, f"ports of the deleted cluster still listening: {sorted(still)}"
    finally:
        # Never leak into the next run, whatever failed above (only this cluster's processes).
        for pid in processes_of(cluster_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if stray is not None and stray.poll() is None:
            stray.kill()
            stray.wait(timeout=5)
        shutil.rmtree(cluster_dir, ignore_errors=True)
