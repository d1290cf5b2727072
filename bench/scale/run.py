"""The operator at scale, measured against the API server's own write path (issue 8).

On a dedicated local cluster (``INFEROP_CLUSTER_NAME=inferop-bench``, real kube-apiserver,
controller-manager, scheduler and etcd; fake nodes run by kwok, generated here from the shapes in
hack/nodes.yaml) this script:

1. **kubectl baseline**: renders N InferenceServices with ``inferop render`` and ``kubectl apply
   --server-side``s the Deployments, Services and HPAs into their own namespaces, timed until every
   Deployment is available (``kubectl_apply_s``). Then deletes those namespaces and waits until they
   are gone, so the operator starts on the same cluster.
2. **operator**: starts ``python -m inferop.cli run`` with its own ServiceAccount token (so the audit
   log tells its writes apart) and a real Prometheus (hack/prometheus.sh) that scrapes nothing but
   itself; ``kubectl apply --server-side``s the same N InferenceServices, timed until every one is
   Ready (``operator_converge_s``). ``ratio = operator_converge_s / kubectl_apply_s``.
3. **steady state**: once the operator has stopped writing, counts its writes in the audit log over a
   window of several drift-timer periods (``steady_writes_per_min``, expected 0) and its CPU use.
4. **query cost**: samples the operator's ``inferop_prometheus_queries_per_tick`` gauge at N, deletes
   all but N/10 services and samples it again (``queries_per_tick``: the two must be equal).

The operator's peak RSS (VmHWM) and CPU seconds come from /proc of its process. Results:
``bench/results/scale-N.json`` and ``scale-N.md``; ``--save-as LABEL`` also keeps the JSON under
``bench/scale/runs/`` (the before/after history of the fixes in ``bench/scale/FIXES.md``).

The services: names ``svc-0000``...; class by ``i % 3`` (h100 on vLLM, l4 on TGI, CPU on KServe), half
autoscaled (``(i // 3) % 2 == 0``, Enforce mode, e2e p95 SLO), spread over ``--namespaces``
namespaces; the first ``--tenant-namespaces`` namespaces belong to a Tenant with generous quotas (so
the quota admission and the tenant headroom arithmetic run, without ever binding). The kubectl
baseline gets the same ResourceQuota/LimitRange in its namespaces.

Not a pass/fail test: it reports numbers (STYLE: benchmarks report ratios).

    make bench-scale N=300
    .venv/bin/python -m bench.scale.run --n 300 [--keep-cluster] [--steady-seconds 180]

Run from the repository root (``python -m``): the cluster, the operator process, Prometheus and the
audit log are the test harness's (``tests/harness``, shared with tests/cluster).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from tests.harness import (
    OPERATOR_USER,
    ROOT,
    AuditLog,
    Cluster,
    Operator,
    Prometheus,
    cluster_down,
    crd_names,
    epoch,
    free_port,
    operator_kubeconfig,
    read_metric,
    start_cluster,
    wait_established,
    wait_until,
)
from tests.harness import condition as cond

from inferop.api.tenant import TenantSpec
from inferop.reconcile.kube import Kube
from inferop.render.quota import build_limit_range, build_namespace_labels, build_resource_quota

CLUSTER = os.environ.get("INFEROP_CLUSTER_NAME", "inferop-bench")
TENANT = "bench"
GROUP_PATH = "/apis/inferop.dev/v1alpha1"
CLASSES = ("h100", "l4", "cpu")
#: Per-node capacity of the three shapes in hack/nodes.yaml, in the resource that binds for our pods.
PODS_PER_NODE = {"h100": 8, "l4": 4, "cpu": 64}  # 8 / 4 GPUs; 32 CPUs / 500m
TEMPLATE_NODE = {"h100": "gpu-h100-0", "l4": "gpu-l4-0", "cpu": "cpu-0"}
POLICY_INTERVAL = 10  # seconds: the bench's `default` CostPolicy decides every 10 s


def log(msg: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- objects


def service(i: int, namespace: str) -> dict[str, Any]:
    kind = CLASSES[i % 3]
    autoscaled = (i // 3) % 2 == 0
    spec: dict[str, Any]
    if kind == "h100":
        spec = {
            "model": {"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
            "runtime": {"name": "vllm"},
            "resources": {"cpu": "2", "memory": "16Gi", "gpu": {"class": "h100", "count": 1}},
        }
    elif kind == "l4":
        spec = {
            "model": {"uri": "hf://mistralai/Mistral-7B-Instruct-v0.3"},
            "runtime": {"name": "tgi"},
            "resources": {"cpu": "2", "memory": "8Gi", "gpu": {"class": "l4", "count": 1}},
        }
    else:
        spec = {
            "model": {"uri": "hf://sentence-transformers/all-MiniLM-L6-v2"},
            "runtime": {"name": "kserve", "image": "kserve/huggingfaceserver:v0.20.0"},
            "resources": {"cpu": "500m", "memory": "1Gi"},
        }
    if autoscaled:
        spec["autoscaling"] = {
            "minReplicas": 1,
            "maxReplicas": 3,
            "mode": "Enforce",
            "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": 5000}},
        }
    else:
        spec["replicas"] = 1
    return {
        "apiVersion": "inferop.dev/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": f"svc-{i:04d}", "namespace": namespace},
        "spec": spec,
    }


def services(n: int, namespaces: list[str]) -> list[dict[str, Any]]:
    return [service(i, namespaces[i % len(namespaces)]) for i in range(n)]


def tenant_spec(namespaces: list[str]) -> dict[str, Any]:
    """Generous: the quota admission and the headroom arithmetic run, but nothing ever binds."""
    return {
        "namespaces": namespaces,
        "quota": {"gpus": 100000, "cpu": "100000", "memory": "100000Ti", "inferenceServices": 100000},
        "budget": {"hourly": "1000000.00", "currency": "USD"},
        "podSecurity": "baseline",
    }


def extra_nodes(n: int) -> list[dict[str, Any]]:
    """Fake nodes, shaped like hack/nodes.yaml's, for one replica of each of N services with 50% slack."""
    shapes = {
        doc["metadata"]["name"]: doc for doc in yaml.safe_load_all((ROOT / "hack" / "nodes.yaml").read_text()) if doc
    }
    out = []
    for kind in CLASSES:
        count = sum(1 for i in range(n) if CLASSES[i % 3] == kind)
        need = math.ceil(count * 1.5 / PODS_PER_NODE[kind]) - 2  # hack/nodes.yaml has two of each
        for k in range(max(0, need)):
            node = copy.deepcopy(shapes[TEMPLATE_NODE[kind]])
            name = f"bench-{kind}-{k}"
            node["metadata"]["name"] = name
            node["metadata"]["labels"]["kubernetes.io/hostname"] = name
            node["metadata"]["labels"]["topology.kubernetes.io/zone"] = ("zone-a", "zone-b")[k % 2]
            # kwok hands out pod IPs from the node's podCIDR, else from one shared /24 (254 pods).
            node["spec"]["podCIDR"] = f"10.{64 + CLASSES.index(kind)}.{k}.0/24"
            out.append(node)
    return out


# ---------------------------------------------------------------------------------------- cluster


class BenchCluster(Cluster):
    """The harness's cluster, plus reads through the operator's own client: lists from the API
    server's watch cache, cheap enough to poll N objects every half second."""

    @cached_property
    def kube(self) -> Kube:
        from kubernetes import config

        return Kube(config.new_client_from_config(config_file=self.kubeconfig), timeout=120)  # type: ignore[no-untyped-call]

    def items(self, url: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        """A list served from the API server's watch cache (resourceVersion=0): cheap, at most ms stale."""
        query = {"resourceVersion": "0"}
        if label_selector:
            query["labelSelector"] = label_selector
        return list(self.kube.request("GET", url, query=query).get("items", []))

    def version(self) -> str:
        return str(self.kube.request("GET", "/version").get("gitVersion"))


def deployment_available(dep: dict[str, Any]) -> bool:
    spec, status, meta = dep.get("spec") or {}, dep.get("status") or {}, dep["metadata"]
    want = int(spec.get("replicas", 1))
    return (
        int(status.get("observedGeneration", 0) or 0) >= int(meta.get("generation", 0) or 0)
        and int(status.get("readyReplicas", 0) or 0) >= want
        and int(status.get("updatedReplicas", 0) or 0) >= want
        and cond(dep, "Available").get("status") == "True"
    )


def isvc_ready(obj: dict[str, Any]) -> bool:
    ready = cond(obj, "Ready")
    generation = int(obj["metadata"].get("generation", 0) or 0)
    return ready.get("status") == "True" and int((obj.get("status") or {}).get("observedGeneration", 0)) >= generation


def count_in(objs: list[dict[str, Any]], namespaces: set[str], pred: Callable[[dict[str, Any]], bool]) -> int:
    return sum(1 for o in objs if o["metadata"].get("namespace") in namespaces and pred(o))


# ---------------------------------------------------------------------------------------- processes


def start_operator(cluster: Cluster, workdir: Path, prometheus_url: str) -> tuple[Operator, int]:
    """``inferop run`` with its own ServiceAccount token, a liveness endpoint and /metrics on free
    ports, up once the liveness endpoint answers; returns it and its metrics port."""
    kubeconfig = operator_kubeconfig(cluster, workdir, binding="inferop-bench-operator")
    metrics_port, health_port = free_port(), free_port()
    env = {"INFEROP_PROMETHEUS_URL": prometheus_url, "INFEROP_METRICS_PORT": str(metrics_port)}
    args = ("run", "--all-namespaces", "--liveness", f"http://127.0.0.1:{health_port}/healthz")
    op = Operator(cluster, kubeconfig, workdir / "operator.log", env, args)
    op.start()
    op.wait_healthy(health_port, 120)
    return op, metrics_port


def summarize(writes: list[dict[str, Any]]) -> dict[str, int]:
    c = Counter(
        f"{w['verb']} {w['objectRef'].get('resource')}"
        + (f"/{w['objectRef']['subresource']}" if w["objectRef"].get("subresource") else "")
        for w in writes
    )
    return dict(c.most_common())


# ---------------------------------------------------------------------------------------- phases


def render(objs: list[dict[str, Any]], workdir: Path) -> list[dict[str, Any]]:
    """What ``inferop render`` prints for these services (the CLI itself, as a user would run it)."""
    src = workdir / "services.yaml"
    src.write_text(yaml.safe_dump_all(objs))
    out = subprocess.run(
        [sys.executable, "-m", "inferop.cli", "render", "-f", str(src),
         "-f", str(ROOT / "examples" / "gpuclasses.yaml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def make_namespaces(cluster: Cluster, names: list[str]) -> None:
    cluster.apply_server_side([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in names])
    for ns in names:

        def has_sa(ns: str = ns) -> str:
            return cluster.kubectl("get", "sa", "default", "-n", ns, check=False).stdout

        wait_until(has_sa, 60, what=f"{ns}/default SA")


def wait_quotas(cluster: BenchCluster, namespaces: list[str]) -> None:
    """ResourceQuota admission refuses what it counts until the quota controller has filled in the
    quota's status (for a custom resource such as ``count/inferenceservices.inferop.dev`` only after its
    periodic discovery has found the CRD), so both phases wait for that before the clock starts."""

    def synced() -> bool:
        quotas = {q["metadata"]["namespace"]: q for q in cluster.items("/api/v1/resourcequotas")}
        return all(
            ns in quotas and set(quotas[ns]["spec"]["hard"]) <= set((quotas[ns].get("status") or {}).get("used") or {})
            for ns in namespaces
        )

    wait_until(synced, 300, interval=1, what="ResourceQuota status")


def wait_quota_discovery(cluster: BenchCluster) -> None:
    """kube-controller-manager's quota monitor finds a new CRD some seconds after it is installed; a
    quota created before that only learns to count it at the next full resync (5 min). Recreate a
    probe quota until it counts InferenceServices."""
    make_namespaces(cluster, ["bench-probe"])
    probe = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "probe", "namespace": "bench-probe"},
        "spec": {"hard": {"count/inferenceservices.inferop.dev": "1"}},
    }
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        cluster.kubectl("delete", "resourcequota", "probe", "-n", "bench-probe", "--ignore-not-found")
        cluster.apply_server_side([probe])
        for _ in range(10):
            time.sleep(1)
            got = cluster.kube.get("/api/v1/namespaces/bench-probe/resourcequotas/probe") or {}
            if "count/inferenceservices.inferop.dev" in ((got.get("status") or {}).get("used") or {}):
                cluster.kubectl("delete", "namespace", "bench-probe", "--wait=false")
                return
    raise TimeoutError("the quota controller never started counting InferenceServices")


def poll_until_all(
    cluster: BenchCluster, url: str, namespaces: set[str], n: int, pred: Callable[[dict[str, Any]], bool],
    t0: float, timeout: float, label_selector: str | None = None, on_poll: Callable[[], None] | None = None,
) -> float:
    """Seconds from ``t0`` until ``n`` objects in ``namespaces`` satisfy ``pred`` (polled every 0.5 s)."""
    last_log = 0.0
    while True:
        done = count_in(cluster.items(url, label_selector), namespaces, pred)
        now = time.monotonic()
        if on_poll:
            on_poll()
        if done >= n:
            return now - t0
        if now - last_log > 15:
            log(f"  {done}/{n} after {now - t0:.0f}s")
            last_log = now
        if now - t0 > timeout:
            raise TimeoutError(f"only {done}/{n} after {timeout:.0f}s")
        time.sleep(0.5)


def tenant_quota_objects(namespaces: list[str]) -> list[dict[str, Any]]:
    """What the operator makes for the bench Tenant in these namespaces (for the runs without it)."""
    tspec = TenantSpec.model_validate(tenant_spec(namespaces))
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out += [
            build_namespace_labels(TENANT, tspec, ns),
            build_resource_quota(TENANT, tspec, ns, ["nvidia.com/gpu"]),
            build_limit_range(TENANT, tspec, ns),
        ]
    return out


def kubectl_phase(cluster: BenchCluster, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    namespaces = [f"bench-k-{k}" for k in range(args.namespaces)]
    objs = services(n, namespaces)
    rendered = render(objs, workdir)
    make_namespaces(cluster, namespaces)
    quota_objs = tenant_quota_objects(namespaces[: args.tenant_namespaces])
    if quota_objs:
        cluster.apply_server_side(quota_objs)
        wait_quotas(cluster, namespaces[: args.tenant_namespaces])
    (workdir / "rendered.yaml").write_text(yaml.safe_dump_all(rendered))
    log(f"kubectl phase: applying {len(rendered)} rendered objects ({n} services) with kubectl apply --server-side")
    t0 = time.monotonic()
    cluster.kubectl("apply", "--server-side", "-f", str(workdir / "rendered.yaml"), timeout=1200)
    applied_s = time.monotonic() - t0
    log(f"  kubectl apply returned after {applied_s:.1f}s; waiting for the Deployments to be available")
    total = poll_until_all(
        cluster, "/apis/apps/v1/deployments", set(namespaces), n, deployment_available, t0, args.timeout
    )
    log(f"kubectl phase: all {n} Deployments available after {total:.1f}s")
    log("deleting the kubectl namespaces (so the operator starts on the same cluster)")
    t1 = time.monotonic()
    cluster.kubectl("delete", "namespace", *namespaces, "--wait=false")
    gone = True
    try:
        wait_until(
            lambda: not any(ns["metadata"]["name"] in namespaces for ns in cluster.items("/api/v1/namespaces")),
            args.timeout,
            interval=2,
            what="kubectl namespaces deleted",
        )
    except TimeoutError as err:
        gone = False
        log(f"  {err}; continuing")
    log(f"  namespaces gone after {time.monotonic() - t1:.0f}s")
    return {
        "kubectl_apply_s": round(total, 2),
        "kubectl_apply_returned_s": round(applied_s, 2),
        "rendered_objects": len(rendered),
        "namespace_cleanup_s": round(time.monotonic() - t1, 1),
        "namespace_cleanup_complete": gone,
    }


def sample_queries_per_tick(metrics_port: int, prom: Prometheus, seconds: float) -> dict[str, Any]:
    """Gauge values seen while sampling every second, and Prometheus' own count of queries served."""
    values: list[float] = []
    served0, ticks0 = prom.queries_served(), read_metric(metrics_port, "inferop_reconcile_seconds_count") or 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = read_metric(metrics_port, "inferop_prometheus_queries_per_tick")
        if v is not None:
            values.append(v)
        time.sleep(1)
    return {
        "gauge_max": max(values) if values else None,
        "gauge_values": sorted({int(v) for v in values}),
        "prometheus_queries_served": prom.queries_served() - served0,
        "seconds": seconds,
        "ticks_or_reconciles": (read_metric(metrics_port, "inferop_reconcile_seconds_count") or 0) - ticks0,
    }


class Profiler:
    """Optional (``--pyspy BINARY``): py-spy samples the operator's threads into collapsed stacks, for
    finding what to fix. It perturbs the numbers; never use a profiled run as a result."""

    def __init__(self, binary: str | None, pid: int, out: Path) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = out
        if binary:
            self.proc = subprocess.Popen(
                [binary, "record", "--pid", str(pid), "--rate", "50", "--nonblocking", "--format", "raw",
                 "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
            log(f"  profile: {self.out}")


def operator_phase(cluster: BenchCluster, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    namespaces = [f"bench-o-{k}" for k in range(args.namespaces)]
    objs = services(n, namespaces)
    make_namespaces(cluster, namespaces)
    # A real Prometheus that scrapes only itself: the operator's queries hit a real PromQL engine and
    # find no series (every service: MetricsAvailable=False, hold).
    prom = Prometheus(workdir, data_dir=workdir / "prom-data")
    prom.start()
    audit = AuditLog(cluster.audit_log, OPERATOR_USER)
    op: Operator | None = None
    out: dict[str, Any] = {}
    try:
        op, metrics_port = start_operator(cluster, workdir, prom.url)
        log(f"operator pid {op.pid} up (log {op.log_path}); Prometheus {prom.url}")
        tenant = {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": TENANT},
            "spec": tenant_spec(namespaces[: args.tenant_namespaces]),
        }
        if args.tenant_namespaces:
            cluster.apply_server_side([tenant])
            wait_until(
                lambda: cond(cluster.kube.get(f"{GROUP_PATH}/tenants/{TENANT}") or {}, "Ready").get("status")
                == "True",
                60,
                what="Tenant Ready",
            )
            wait_quotas(cluster, namespaces[: args.tenant_namespaces])
        time.sleep(3)  # let the operator settle (tenant reconcile, watches established)
        cpu0, audit0 = op.cpu_s(), audit.mark()
        out["cpu_s_startup"] = round(cpu0, 2)
        log(f"operator phase: creating {n} InferenceServices with kubectl apply --server-side")
        (workdir / "services.yaml").write_text(yaml.safe_dump_all(objs))
        prof = Profiler(args.pyspy, op.pid, workdir / "profile-converge.txt")
        t0, wall0 = time.monotonic(), time.time()
        cluster.kubectl("apply", "--server-side", "-f", str(workdir / "services.yaml"), timeout=1200)
        out["kubectl_create_returned_s"] = round(time.monotonic() - t0, 2)
        converge = poll_until_all(
            cluster, f"{GROUP_PATH}/inferenceservices", set(namespaces), n, isvc_ready, t0, args.timeout,
            on_poll=op.alive_or_raise,
        )
        cpu1 = op.cpu_s()
        prof.stop()
        out["operator_converge_s"] = round(converge, 2)
        out["cpu_s"] = round(cpu1 - cpu0, 2)
        out["peak_rss_mb_at_converge"] = round(op.peak_rss_mb(), 1)
        converge_writes = audit.writes(audit0)
        # The operator's own write path: when did it create the last child (Deployment/Service/HPA)?
        created = [
            epoch(w["requestReceivedTimestamp"]) - wall0
            for w in converge_writes
            if w["objectRef"].get("resource") in ("deployments", "services", "horizontalpodautoscalers")
            and (w.get("responseStatus") or {}).get("code") == 201
        ]
        out["children_created"] = len(created)
        out["last_child_created_s"] = round(max(created), 2) if created else None
        out["writes_during_converge"] = len(converge_writes)
        out["writes_during_converge_by_kind"] = summarize(converge_writes)
        log(f"operator phase: all {n} Ready after {converge:.1f}s; operator CPU {cpu1 - cpu0:.1f}s")
        events = [
            e for e in cluster.items("/api/v1/events")
            if e["metadata"].get("namespace") in namespaces and e["involvedObject"].get("kind") == "InferenceService"
        ]
        out["events_by_reason"] = dict(Counter(e.get("reason") for e in events).most_common())
        ready_per_object = Counter(e["involvedObject"].get("name") for e in events if e.get("reason") == "Ready")
        out["duplicate_ready_events"] = sum(c - 1 for c in ready_per_object.values() if c > 1)

        # Steady state: once the operator has been quiet for a while (HPA first syncs, first cost ticks).
        settle_start = time.monotonic()
        quiet_since, mark = time.monotonic(), audit.mark()
        while time.monotonic() - settle_start < args.settle_max:
            time.sleep(5)
            op.alive_or_raise()
            if audit.writes(mark):
                quiet_since, mark = time.monotonic(), audit.mark()
            elif time.monotonic() - quiet_since >= args.settle_quiet and (
                time.monotonic() - settle_start >= args.settle_min
            ):
                break
        out["settle_s"] = round(time.monotonic() - settle_start, 1)
        log(f"steady state: settled after {out['settle_s']}s; counting writes for {args.steady_seconds}s")
        mark, cpu2 = audit.mark(), op.cpu_s()
        prof = Profiler(args.pyspy, op.pid, workdir / "profile-steady.txt")
        q_n = sample_queries_per_tick(metrics_port, prom, args.steady_seconds)
        prof.stop()
        op.alive_or_raise()
        steady = audit.writes(mark)
        cpu3 = op.cpu_s()
        out["steady_writes_per_min"] = round(len(steady) * 60 / args.steady_seconds, 2)
        out["steady_writes_by_kind"] = summarize(steady)
        out["steady_writes_sample"] = [
            (w["verb"], w["objectRef"].get("resource"), w["objectRef"].get("subresource"),
             w["objectRef"].get("namespace"), w["objectRef"].get("name"), w.get("requestReceivedTimestamp"))
            for w in steady[:10]
        ]
        out["steady_seconds"] = args.steady_seconds
        out["steady_cpu_s_per_min"] = round((cpu3 - cpu2) * 60 / args.steady_seconds, 2)
        out["peak_rss_mb"] = round(op.peak_rss_mb(), 1)
        out["queries_at_n"] = q_n
        log(f"steady state: {len(steady)} writes, queries per tick at N: {q_n['gauge_values']}")

        # Query cost at N/10: delete all but the first N/10 services.
        keep = max(6, n // 10)
        log(f"query cost: deleting all but {keep} InferenceServices")
        by_ns: dict[str, list[str]] = {}
        for obj in objs[keep:]:
            by_ns.setdefault(obj["metadata"]["namespace"], []).append(obj["metadata"]["name"])
        for ns, names in by_ns.items():
            for k in range(0, len(names), 100):
                cluster.kubectl("delete", "inferenceservices", "-n", ns, "--wait=false", *names[k : k + 100])
        wait_until(
            lambda: count_in(cluster.items(f"{GROUP_PATH}/inferenceservices"), set(namespaces), lambda _: True) <= keep,
            args.timeout,
            interval=2,
            what="InferenceServices deleted",
        )
        time.sleep(2 * POLICY_INTERVAL + 2)
        q_small = sample_queries_per_tick(metrics_port, prom, max(3 * POLICY_INTERVAL, 20))
        out["queries_at_n_div_10"] = {**q_small, "n": keep}
        out["queries_per_tick"] = {str(n): q_n["gauge_max"], str(keep): q_small["gauge_max"]}
        log(f"query cost: per tick at N={n}: {q_n['gauge_values']}, at {keep}: {q_small['gauge_values']}")
        out["cpu_s_total"] = round(op.cpu_s(), 2)
        op.alive_or_raise()
    finally:
        if op is not None:
            op.stop()
        prom.stop()
    # For reading the numbers: how long the API server takes to create N InferenceServices on its own
    # (CRD validation, quota admission), with no operator competing for the machine.
    spare = [f"bench-x-{k}" for k in range(args.namespaces)]
    make_namespaces(cluster, spare)
    if args.tenant_namespaces:
        cluster.apply_server_side(tenant_quota_objects(spare[: args.tenant_namespaces]))
        wait_quotas(cluster, spare[: args.tenant_namespaces])
    (workdir / "services-x.yaml").write_text(yaml.safe_dump_all(services(n, spare)))
    t = time.monotonic()
    cluster.kubectl("apply", "--server-side", "-f", str(workdir / "services-x.yaml"), timeout=1200)
    out["isvc_apply_without_operator_s"] = round(time.monotonic() - t, 2)
    return out


# ---------------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    others = subprocess.run(["pgrep", "-c", "kube-apiserver"], capture_output=True, text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "loadavg_at_start": os.getloadavg(),
        "kube_apiservers_running": int(others or 0),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def write_md(result: dict[str, Any], path: Path) -> None:
    d = result["details"]
    q = result["queries_per_tick"]
    fixes = ROOT / "bench" / "scale" / "FIXES.md"
    m = d["machine"]
    lines = [
        f"# Operator at scale: N = {result['n']}",
        "",
        f"`{d['command']}` — {d['date']}, cluster `{CLUSTER}` (Kubernetes {d.get('kubernetes', '?')}, kwok nodes: "
        f"{d.get('nodes', '?')}), machine: {m['cpus']} × {m['cpu_model']}, {m['memory_gib']} GiB; load average "
        f"at start {', '.join(f'{x:.1f}' for x in m['loadavg_at_start'])} "
        f"({m['kube_apiservers_running']} kube-apiservers running on the machine, this run's included).",
        "",
        "| metric | value | goal |",
        "|---|---|---|",
        f"| operator_converge_s (create N InferenceServices → all Ready) | {result['operator_converge_s']} | |",
        f"| kubectl_apply_s (apply the rendered objects → all Deployments available) | {result['kubectl_apply_s']} | |",
        f"| **ratio** | **{result['ratio']}** | ≤ 2 |",
        f"| peak_rss_mb (operator VmHWM) | {result['peak_rss_mb']} | |",
        f"| cpu_s (operator CPU while converging) | {result['cpu_s']} | |",
        f"| **steady_writes_per_min** (operator's user, audit log, {d['steady_seconds']} s) | "
        f"**{result['steady_writes_per_min']}** | 0 |",
        f"| **queries_per_tick** (N → N/10) | **{' → '.join(str(v) for v in q.values())}** | equal |",
        f"| operator CPU in steady state (s per minute) | {d.get('steady_cpu_s_per_min')} | |",
        f"| operator writes while converging | {d.get('writes_during_converge')} | |",
        f"| kubectl: `kubectl apply` of the {d.get('rendered_objects')} rendered objects returned after (s) | "
        f"{d.get('kubectl_apply_returned_s')} | |",
        f"| operator: `kubectl apply` of the N InferenceServices returned after (s) | "
        f"{d.get('kubectl_create_returned_s')} | |",
        f"| operator: its last child created after (s) | {d.get('last_child_created_s')} | |",
        f"| the same `kubectl apply` of N InferenceServices with no operator running (s) | "
        f"{d.get('isvc_apply_without_operator_s')} | |",
        "",
        f"Writes while converging, by kind: `{json.dumps(d.get('writes_during_converge_by_kind'))}`",
        "",
        f"Steady-state writes, by kind: `{json.dumps(d.get('steady_writes_by_kind'))}`",
        "",
        f"Events on InferenceServices while converging: `{json.dumps(d.get('events_by_reason'))}` "
        f"(duplicate Ready events: {d.get('duplicate_ready_events')})",
        "",
    ]
    if fixes.exists():
        lines += [fixes.read_text().rstrip(), ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=300, help="InferenceServices (default 300)")
    p.add_argument("--namespaces", type=int, default=4)
    p.add_argument("--tenant-namespaces", type=int, default=2, help="how many of them a Tenant owns")
    p.add_argument("--steady-seconds", type=float, default=180, help="steady-state window (default 180 s)")
    p.add_argument("--settle-quiet", type=float, default=20, help="operator silence that starts steady state")
    p.add_argument("--settle-min", type=float, default=65,
                   help="steady state starts no sooner (one drift/tenant timer period of 60 s after converging)")
    p.add_argument("--settle-max", type=float, default=240)
    p.add_argument("--timeout", type=float, default=900, help="per phase")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--save-as", default=None, help="also keep the JSON as bench/scale/runs/LABEL-N.json")
    p.add_argument("--pyspy", default=None, metavar="BINARY", help="profile the operator with py-spy (analysis only)")
    p.add_argument("--keep-cluster", action="store_true", help="do not delete the cluster at the end")
    p.add_argument("--skip-kubectl", type=float, default=None, metavar="SECONDS",
                   help="reuse a kubectl_apply_s measured earlier (debugging only; recorded in details)")
    args = p.parse_args(argv)
    n = args.n
    if n < 6:
        p.error("--n must be at least 6")
    command = f"make bench-scale N={n}" if os.environ.get("MAKELEVEL") else shlex.join(
        ["python", "-m", "bench.scale.run", *(argv if argv is not None else sys.argv[1:])]
    )
    info = machine()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="inferop-bench-scale-"))
    log(f"work dir {workdir}; cluster {CLUSTER}")
    cluster_down(CLUSTER)
    try:
        cluster = start_cluster(CLUSTER, BenchCluster)
    except RuntimeError as err:
        raise SystemExit(str(err)) from None
    cluster.kubectl_timeout = 600
    try:
        # The apiserver's default service range is a /24: a second ServiceCIDR makes room for N Services.
        cluster.apply_server_side([{
            "apiVersion": "networking.k8s.io/v1",
            "kind": "ServiceCIDR",
            "metadata": {"name": "bench"},
            "spec": {"cidrs": ["10.96.0.0/16"]},
        }])
        nodes = extra_nodes(n)
        log(f"adding {len(nodes)} fake nodes")
        cluster.apply_server_side(nodes)
        cluster.kubectl("wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=180s")
        applied = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"), "-o", "name")
        wait_established(crd_names(applied.stdout), env=cluster.env, timeout=60)
        if args.tenant_namespaces:
            wait_quota_discovery(cluster)
        policy = yaml.safe_load((ROOT / "examples" / "costpolicy-default.yaml").read_text())
        policy["spec"]["intervalSeconds"] = POLICY_INTERVAL
        cluster.apply_server_side([*yaml.safe_load_all((ROOT / "examples" / "gpuclasses.yaml").read_text()), policy])
        node_count = len(cluster.items("/api/v1/nodes"))
        if args.skip_kubectl is not None:
            kres: dict[str, Any] = {"kubectl_apply_s": args.skip_kubectl, "kubectl_skipped": True}
        else:
            kres = kubectl_phase(cluster, n, args, workdir)
        ores = operator_phase(cluster, n, args, workdir)
        version = cluster.version()
    finally:
        if args.keep_cluster:
            log(f"keeping cluster {CLUSTER}: KUBECONFIG={cluster.kubeconfig}")
        else:
            cluster_down(CLUSTER)
    ratio = ores["operator_converge_s"] / kres["kubectl_apply_s"]
    details = {
        **{k: v for k, v in kres.items() if k != "kubectl_apply_s"},
        **{k: v for k, v in ores.items() if k not in ("operator_converge_s", "cpu_s", "peak_rss_mb",
                                                       "steady_writes_per_min", "queries_per_tick")},
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "kubernetes": version,
        "nodes": node_count,
        "namespaces": args.namespaces,
        "tenant_namespaces": args.tenant_namespaces,
        "mix": "class by i%3: h100 (vLLM), l4 (TGI), CPU (KServe); autoscaled when (i//3)%2==0 (Enforce, e2e p95)",
        "cost_policy_interval_s": POLICY_INTERVAL,
        "bench_wall_s": round(time.monotonic() - started, 1),
        "workdir": str(workdir),
    }
    result = {
        "n": n,
        "operator_converge_s": ores["operator_converge_s"],
        "kubectl_apply_s": kres["kubectl_apply_s"],
        "ratio": round(ratio, 2),
        "peak_rss_mb": ores["peak_rss_mb"],
        "cpu_s": ores["cpu_s"],
        "steady_writes_per_min": ores["steady_writes_per_min"],
        "queries_per_tick": ores["queries_per_tick"],
        "details": details,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scale-{n}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_md(result, out / f"scale-{n}.md")
    if args.save_as:
        runs = ROOT / "bench" / "scale" / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        (runs / f"{args.save_as}-{n}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "details"}, indent=2))
    log(f"wrote {out / f'scale-{n}.json'} and .md in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
