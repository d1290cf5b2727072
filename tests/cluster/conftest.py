"""Fixtures for the cluster tier: a real kube-apiserver, controller-manager, scheduler and etcd
(built from Go modules by hack/), fake GPU nodes run by kwok, and the operator as a subprocess.

- ``cluster`` (session): starts or reuses the cluster ``inferop-test`` via hack/cluster-up.sh and
  installs the CRDs. With CI=true a cluster that cannot start fails the run; elsewhere it skips
  with the command that gets you one.
- ``operator_factory``: runs ``inferop run`` with its own ServiceAccount credentials, so the API
  server's audit log can tell its writes apart.
- ``namespace``: a fresh namespace per test, deleted afterwards.

The cluster, the operator process and Prometheus are the harness's (tests/harness, shared with the scale
bench); this module turns them into fixtures and a harness timeout into a test failure (``wait_for``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import harness
from tests.harness import OPERATOR_NS as OPERATOR_NS
from tests.harness import OPERATOR_SA as OPERATOR_SA
from tests.harness import OPERATOR_USER as OPERATOR_USER
from tests.harness import ROOT as ROOT
from tests.harness import Cluster as Cluster
from tests.harness import NotEstablished as NotEstablished  # re-exported for the tests
from tests.harness import crd_names, wait_established

CLUSTER_NAME = os.environ.get("INFEROP_TEST_CLUSTER", "inferop-test")
HOW_TO_GET_ONE = "build and start it with `make cluster-up` (first build takes a while), then rerun"


def wait_for(check: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value; fail the test with the last value seen."""
    try:
        return harness.wait_until(check, timeout=timeout, interval=interval, what=what)
    except harness.WaitTimeout as err:
        pytest.fail(str(err))


def _start_cluster() -> Cluster:
    return harness.start_cluster(CLUSTER_NAME)


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


class Operator(harness.Operator):
    """The test tier's operator: ``inferop run --all-namespaces --verbose`` (harness.Operator)."""

    #: Arguments and environment of the test tier's operator (a 5 s drift timer keeps repair tests short).
    ARGS: tuple[str, ...] = ("run", "--all-namespaces", "--verbose")
    DEFAULT_ENV: dict[str, str] = {"INFEROP_DRIFT_INTERVAL": "5"}


@pytest.fixture(scope="session")
def operator_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harness.operator_kubeconfig(cluster, tmp_path_factory.mktemp("operator"), binding="inferop-test-operator")


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
