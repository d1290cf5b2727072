"""The local cluster as the harness drives it: start and stop (hack/), kubectl, the operator's
ServiceAccount kubeconfig, the API server's audit log, polling and status conditions.

Must not: import pytest or the operator package (``inferop``); the bench and the tests add their own
API reads on top.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NS = "inferop-system"
OPERATOR_SA = "inferop"
#: The user the API server's audit log records for the operator's writes.
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"


class WaitTimeout(TimeoutError):
    """:func:`wait_until` ran out of time; the message says what it waited for and the last value seen."""


class KubectlFailed(AssertionError):
    """A kubectl call with ``check=True`` exited non-zero (an AssertionError, so a poll retries it)."""


def wait_until(
    check: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "condition"
) -> Any:
    """Call ``check`` until it returns a truthy value (an AssertionError counts as "not yet") and return
    that value; raise :class:`WaitTimeout` with the last value seen after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as err:
            last = err
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}; last seen: {last!r}")
        time.sleep(interval)


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    """The status condition of type ``ctype`` of ``obj`` ({} when absent)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


def epoch(stamp: str) -> float:
    """An audit event's RFC 3339 timestamp as unix seconds (0 for none)."""
    if not stamp:
        return 0.0
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass
class Cluster:
    """A running local cluster: its kubeconfig, the API server's audit log and the environment
    (KUBECONFIG, the control plane's binaries on PATH) every kubectl and subprocess gets."""

    kubeconfig: str
    audit_log: Path
    env: dict[str, str] = field(default_factory=dict)
    #: Where hack/build-control-plane.sh put kubectl and the control plane.
    bin_dir: str = ""
    #: Seconds before a kubectl call without its own ``timeout`` is given up.
    kubectl_timeout: float = 120

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout or self.kubectl_timeout,
        )
        if check and proc.returncode != 0:
            raise KubectlFailed(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(
        self, obj: dict[str, Any] | str, namespace: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl apply`` (client side) of one object or a YAML text."""
        text = obj if isinstance(obj, str) else yaml.safe_dump(obj)
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=text, check=check)

    def apply_server_side(self, objs: Iterable[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str] | None:
        """``kubectl apply --server-side --force-conflicts`` of many objects at once; nothing for none
        (kubectl refuses an empty input: the scale bench's smallest N adds no extra nodes)."""
        objs = list(objs)
        if not objs:
            return None
        return self.kubectl(
            "apply", "--server-side", "--force-conflicts", *extra, "-f", "-", input=yaml.safe_dump_all(objs)
        )

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
        return self.audit_writes_matching(
            since, lambda e: e.get("objectRef", {}).get("namespace") == namespace, user=user
        )

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
            if epoch(event.get("requestReceivedTimestamp", "")) >= since and keep(event):
                out.append(event)
        return out


C = TypeVar("C", bound=Cluster)


def start_cluster(name: str, cls: type[C] = Cluster) -> C:  # type: ignore[assignment]  # (a default for a TypeVar)
    """Start (or reuse) the local cluster ``name`` with hack/cluster-up.sh. Raises RuntimeError."""
    env = {**os.environ, "INFEROP_CLUSTER_NAME": name}
    proc = subprocess.run(
        ["bash", str(ROOT / "hack" / "cluster-up.sh")], capture_output=True, text=True, env=env, timeout=3600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/cluster-up.sh failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines() if line.startswith("export ")
    )
    kubeconfig = exports["KUBECONFIG"]
    bin_dir = (
        subprocess.run(
            ["bash", str(ROOT / "hack" / "build-control-plane.sh")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    cluster_env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return cls(kubeconfig=kubeconfig, audit_log=Path(exports["INFEROP_AUDIT_LOG"]), env=cluster_env, bin_dir=bin_dir)


def cluster_down(name: str) -> None:
    """hack/cluster-down.sh for cluster ``name``: it stops every process of the cluster and fails if one
    survives (kwokctl's delete used to leave kube-apiserver running); so does this (RuntimeError)."""
    env = {**os.environ, "INFEROP_CLUSTER_NAME": name}
    proc = subprocess.run(
        ["bash", str(ROOT / "hack" / "cluster-down.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/cluster-down.sh failed for cluster {name}:\n{proc.stderr[-3000:]}")


def operator_kubeconfig(cluster: Cluster, workdir: Path, binding: str = "inferop-test-operator") -> Path:
    """A kubeconfig with a token of the operator's own ServiceAccount (bound to cluster-admin by
    ``binding``), so the audit log tells the operator's writes from kubectl's and the controllers'."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}})
    cluster.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": OPERATOR_SA, "namespace": OPERATOR_NS}}
    )
    cluster.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_NS}],
        }
    )
    wait_until(lambda: cluster.get("serviceaccount", OPERATOR_SA, OPERATOR_NS), timeout=60, what="ServiceAccount")
    token = cluster.kubectl("create", "token", OPERATOR_SA, "-n", OPERATOR_NS, "--duration=24h").stdout.strip()
    config = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    config["users"] = [{"name": OPERATOR_SA, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = OPERATOR_SA
    path = workdir / "operator-kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class AuditLog:
    """The operator's writes in the API server's audit log (one JSON line per write), read from a byte
    offset on, so a long run reads each line once."""

    def __init__(self, path: Path, user: str = OPERATOR_USER) -> None:
        self.path, self.user = path, user

    def mark(self) -> int:
        """The current end of the log, for :meth:`writes` later."""
        return self.path.stat().st_size if self.path.exists() else 0

    def writes(self, since_offset: int) -> list[dict[str, Any]]:
        out = []
        with open(self.path, "rb") as f:
            f.seek(since_offset)
            for raw in f:
                if self.user.encode() not in raw:
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if event.get("user", {}).get("username") == self.user:
                    out.append(event)
        return out
