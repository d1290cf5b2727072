"""The operator as a process: killed mid-reconcile and restarted it converges with exactly one of each
child; in steady state it writes nothing (counted from the API server's audit log over several
drift-timer periods)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_reconcile import condition

ROOT = Path(__file__).resolve().parents[2]
DRIFT_INTERVAL = 5  # seconds; set by the Operator fixture (INFEROP_DRIFT_INTERVAL)


def services(n: int) -> list[dict[str, Any]]:
    base = yaml.safe_load((ROOT / "examples/cpu-embeddings.yaml").read_text())
    out = []
    for i in range(n):
        obj = yaml.safe_load(yaml.safe_dump(base))
        obj["metadata"]["name"] = f"svc-{i}"
        obj["spec"]["replicas"] = 1
        out.append(obj)
    return out


def all_ready(cluster: Cluster, namespace: str, n: int) -> bool:
    items = cluster.list("inferenceservices", namespace)
    ready = [i for i in items if condition(i, "Ready").get("status") == "True"]
    return len(ready) == n


def test_killed_mid_reconcile_converges_without_duplicates(
    cluster: Cluster, operator_factory: Callable[..., Operator], namespace: str
) -> None:
    n = 8
    first = operator_factory()
    time.sleep(3)  # let it connect and start watching
    cluster.apply(yaml.safe_dump_all(services(n)), namespace=namespace)
    # Kill as soon as the first child exists: the other services are still being reconciled.
    wait_for(lambda: cluster.list("deployments", namespace), interval=0.1, what="first Deployment")
    first.kill()

    second = operator_factory()
    wait_for(lambda: all_ready(cluster, namespace, n), timeout=120, what=f"all {n} services Ready after restart")
    second.assert_alive()
    for kind in ("deployments", "services"):
        names = Counter(o["metadata"]["name"] for o in cluster.list(kind, namespace))
        assert names == Counter(f"svc-{i}" for i in range(n)), f"{kind}: {names}"
    assert not cluster.list("hpa", namespace), "fixed-size services must have no HPA"


def test_steady_state_writes_nothing(
    cluster: Cluster, operator_factory: Callable[..., Operator], namespace: str
) -> None:
    op = operator_factory()
    cluster.apply(yaml.safe_dump_all(services(3)), namespace=namespace)
    autoscaled = yaml.safe_load((ROOT / "examples/llm-vllm.yaml").read_text())
    cluster.apply(autoscaled, namespace=namespace)
    wait_for(lambda: all_ready(cluster, namespace, 4), timeout=120, what="services Ready")
    # The HPA controller's first sync (every 15 s) changes the HPA's status, which the InferenceService
    # reports once; steady state starts after it.
    wait_for(
        lambda: (cluster.get("hpa", "chat", namespace) or {}).get("status", {}).get("conditions"),
        timeout=60,
        what="first HPA sync",
    )
    time.sleep(2 * DRIFT_INTERVAL)

    timer_runs_before = op.log().count("Timer 'repair_drift' succeeded")
    start = time.time()
    time.sleep(4 * DRIFT_INTERVAL + 1)  # several drift-timer periods
    op.assert_alive()
    writes = cluster.audit_writes(since=start, namespace=namespace)
    timer_runs = op.log().count("Timer 'repair_drift' succeeded") - timer_runs_before
    summary = [
        (
            w["verb"],
            w["objectRef"].get("resource"),
            w["objectRef"].get("subresource"),
            w["objectRef"].get("name"),
            w["requestReceivedTimestamp"],
            w.get("userAgent"),
        )
        for w in writes
    ]
    assert writes == [], f"operator wrote in steady state: {summary}"
    # The drift timer really ran for each of the 4 services in that window, reading and finding nothing to do.
    assert timer_runs >= 4 * 3, f"only {timer_runs} drift checks ran in the window"
