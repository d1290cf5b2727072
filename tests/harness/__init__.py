"""The one harness of the cluster tests (tests/cluster) and the scale bench (bench/scale).

A local cluster (hack/cluster-up.sh: real kube-apiserver, controller-manager, scheduler and etcd,
kwok nodes) as :class:`Cluster`, the operator as a subprocess (:class:`Operator`, ``python -m
inferop.cli``), a real Prometheus (:class:`Prometheus`, hack/prometheus.sh), the operator's own
ServiceAccount credentials (:func:`operator_kubeconfig`), the API server's audit log, polling
(:func:`wait_until`) and the CRD wait (:mod:`tests.harness.kubewait`).

It is a package of ``tests`` (which the suite already imports as ``tests.*``), not of the operator, so
none of it ships in the ``inferop`` wheel. Both users run from the repository root: pytest puts the
root on ``sys.path`` (``tests`` is a package), and the bench runs as ``python -m bench.scale.run``;
nothing edits ``sys.path``. No pytest here: a test turns :class:`WaitTimeout` into a failure itself.
"""

from tests.harness.kube import (
    OPERATOR_NS,
    OPERATOR_SA,
    OPERATOR_USER,
    ROOT,
    AuditLog,
    Cluster,
    KubectlFailed,
    WaitTimeout,
    cluster_down,
    condition,
    epoch,
    operator_kubeconfig,
    start_cluster,
    wait_until,
)
from tests.harness.kubewait import NotEstablished, crd_names, wait_established
from tests.harness.procs import Operator, Prometheus, free_port, load_emulator, prometheus_binary, read_metric

__all__ = [
    "OPERATOR_NS",
    "OPERATOR_SA",
    "OPERATOR_USER",
    "ROOT",
    "AuditLog",
    "Cluster",
    "KubectlFailed",
    "NotEstablished",
    "Operator",
    "Prometheus",
    "WaitTimeout",
    "cluster_down",
    "condition",
    "crd_names",
    "epoch",
    "free_port",
    "load_emulator",
    "operator_kubeconfig",
    "prometheus_binary",
    "read_metric",
    "start_cluster",
    "wait_established",
    "wait_until",
]
