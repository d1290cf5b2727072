"""The processes the harness starts next to the cluster: the operator (``python -m inferop.cli``) and a
real Prometheus (hack/prometheus.sh), plus free ports and /proc readings of a process.

Must not: import pytest or the operator package; the operator runs as a subprocess.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.harness.kube import ROOT, Cluster, wait_until


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_metric(port: int, name: str) -> float | None:
    """The first sample of ``name`` on ``http://127.0.0.1:<port>/metrics`` (None when absent)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


class Operator:
    """``python -m inferop.cli <args>`` in a subprocess, with ``env`` over the cluster's environment and
    its own kubeconfig; stdout and stderr go to ``log_path``."""

    #: Arguments when none are given.
    ARGS: tuple[str, ...] = ("run", "--all-namespaces")
    #: Environment under the caller's ``env`` (a subclass sets its tier's defaults).
    DEFAULT_ENV: dict[str, str] = {}

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

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the operator was not started"
        return self.proc.pid

    def wait_healthy(self, port: int, timeout: float = 120) -> None:
        """Until its liveness endpoint (``--liveness http://127.0.0.1:<port>/healthz``) answers 200."""

        def healthy() -> bool:
            self.alive_or_raise()
            try:
                return bool(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200)
            except OSError:
                return False

        wait_until(healthy, timeout, what="operator liveness endpoint")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc:
            _stop(self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_alive(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"operator exited:\n{self.log()[-4000:]}"

    def alive_or_raise(self) -> None:
        """Like :meth:`assert_alive`, but a RuntimeError, which no poll mistakes for "not yet"."""
        if self.proc is None or self.proc.poll() is not None:
            code = self.proc.returncode if self.proc else None
            raise RuntimeError(f"the operator exited ({code}):\n{self.log()[-3000:]}")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the process has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The process's peak resident set (VmHWM), MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def load_emulator(
    cluster: Cluster, *, namespace: str, name: str, port: int, rps: float, capacity: float, log: Path
) -> subprocess.Popen[bytes]:
    """hack/loademu.py serving ``rps`` requests/s for the InferenceService ``namespace/name`` on
    ``port`` (its pods as the cluster reports them, ``capacity`` requests/s per ready pod), its output
    appended to ``log``. The caller terminates it."""
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "hack" / "loademu.py"),
            "--namespace",
            namespace,
            "--name",
            name,
            "--port",
            str(port),
            "--rps",
            f"{rps:g}",
            "--capacity",
            f"{capacity:g}",
        ],
        env=cluster.env,
        stdout=open(log, "ab"),  # noqa: SIM115 - owned by the child process
        stderr=subprocess.STDOUT,
    )


def prometheus_binary() -> str:
    """The Prometheus binary hack/prometheus.sh downloads (once) and prints."""
    out = subprocess.run(["bash", str(ROOT / "hack" / "prometheus.sh")], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


class Prometheus:
    """A real Prometheus on a free port of 127.0.0.1, its config, data and log in ``workdir``.

    With ``targets`` it scrapes them as job ``job`` with ``honor_labels`` (the load emulator's series
    carry the pod labels); without, it scrapes only itself. :meth:`start` may be called again after
    :meth:`stop` (same port, same data).
    """

    def __init__(
        self,
        workdir: Path,
        targets: list[str] | None = None,
        *,
        job: str = "emulator",
        scrape_interval: str = "15s",
        evaluation_interval: str | None = None,
        binary: str | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.binary = binary or prometheus_binary()
        self.workdir, self.port = workdir, free_port()
        self.data_dir = data_dir or workdir / "data"
        if targets is None:
            scrape: dict[str, Any] = {"job_name": "prometheus", "static_configs": [{"targets": [self.address]}]}
        else:
            scrape = {"job_name": job, "honor_labels": True, "static_configs": [{"targets": targets}]}
        config: dict[str, Any] = {"global": {"scrape_interval": scrape_interval}, "scrape_configs": [scrape]}
        if evaluation_interval:
            config["global"]["evaluation_interval"] = evaluation_interval
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 60) -> None:
        log = open(self.workdir / "prometheus.log", "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address={self.address}",
            ],
            stdout=log,
            stderr=log,
        )
        wait_until(self.ready, timeout, what="Prometheus ready")

    def ready(self) -> bool:
        try:
            return bool(urllib.request.urlopen(f"{self.url}/-/ready", timeout=1).status == 200)
        except OSError:
            return False

    def queries_served(self) -> float:
        """Instant queries Prometheus has answered (its own counter)."""
        text = urllib.request.urlopen(f"{self.url}/metrics", timeout=5).read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/query"' in line
        )

    def stop(self) -> None:
        if self.proc:
            _stop(self.proc)
