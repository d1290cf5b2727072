"""``inferop backtest`` against a real Prometheus holding recorded data, for a service in the real cluster.

Two hours of a vLLM service's series (e2e latency histogram, request counter, queue gauge, dcgm GPU
utilization) and kube-state-metrics' replica count are written as OpenMetrics and loaded with
``promtool tsdb create-blocks-from openmetrics`` (Prometheus' own backfill), so the recorded range is
exact and known: 4 replicas ran throughout; the latency was well inside the 1 s SLO except for a
20-minute stretch where half of the requests took 1.5-2 s. The backtest reads the InferenceService
and its GPUClass from the cluster and replays the range through decide().
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import Cluster
from tests.cluster.test_cost_controller import ROOT, SLO_MS, Prom, service

SCRAPE = 15
HOURS = 2
SLOW = (60 * 60, 80 * 60)  # seconds from the start: half of the requests take 1.5-2 s
RPS = 2.0
REPLICAS = 4
BUCKETS = ("0.3", "0.5", "0.8", "1.0", "1.5", "2.0", "2.5", "5.0", "10.0", "+Inf")


def openmetrics(namespace: str, start: int) -> str:
    """The recorded range: one sample per series every SCRAPE seconds for HOURS hours."""
    svc = f'namespace="{namespace}",inferenceservice="chat",pod="chat-7d9c5b6f4-x2x4z"'
    lines: dict[str, list[str]] = {
        "vllm:e2e_request_latency_seconds_bucket": [],
        "vllm:request_success_total": [],
        "vllm:prompt_tokens_total": [],
        "vllm:generation_tokens_total": [],
        "vllm:num_requests_waiting": [],
        "DCGM_FI_DEV_GPU_UTIL": [],
        "kube_deployment_status_replicas": [],
    }
    fast = slow = 0.0
    for i in range(HOURS * 3600 // SCRAPE + 1):
        offset = i * SCRAPE
        t = start + offset
        arrived = RPS * SCRAPE if i else 0.0
        if SLOW[0] <= offset < SLOW[1]:
            fast, slow = fast + arrived / 2, slow + arrived / 2
        else:
            fast += arrived
        for le in BUCKETS:
            count = fast + (slow if le not in ("0.3", "0.5", "0.8", "1.0", "1.5") else 0.0)
            lines["vllm:e2e_request_latency_seconds_bucket"].append(
                f'vllm:e2e_request_latency_seconds_bucket{{{svc},le="{le}"}} {count} {t}'
            )
        lines["vllm:request_success_total"].append(f"vllm:request_success_total{{{svc}}} {fast + slow} {t}")
        # loademu's defaults: 600 prompt and 200 generated tokens per request
        lines["vllm:prompt_tokens_total"].append(f"vllm:prompt_tokens_total{{{svc}}} {(fast + slow) * 600} {t}")
        lines["vllm:generation_tokens_total"].append(f"vllm:generation_tokens_total{{{svc}}} {(fast + slow) * 200} {t}")
        lines["vllm:num_requests_waiting"].append(f"vllm:num_requests_waiting{{{svc}}} 0 {t}")
        lines["DCGM_FI_DEV_GPU_UTIL"].append(
            f'DCGM_FI_DEV_GPU_UTIL{{namespace="{namespace}",pod="chat-7d9c5b6f4-x2x4z",gpu="0"}} 30 {t}'
        )
        lines["kube_deployment_status_replicas"].append(
            f'kube_deployment_status_replicas{{namespace="{namespace}",deployment="chat"}} {REPLICAS} {t}'
        )
    types = {"vllm:num_requests_waiting": "gauge", "DCGM_FI_DEV_GPU_UTIL": "gauge"}
    out: list[str] = []
    for family, samples in lines.items():
        out.append(f"# TYPE {family} {types.get(family, 'counter' if family.endswith('_total') else 'gauge')}")
        out += samples
    return "\n".join([*out, "# EOF", ""])


@pytest.fixture
def recorded(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    binary = Path(
        subprocess.run(["bash", str(ROOT / "hack" / "prometheus.sh")], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    import time

    start = (int(time.time()) - 3 * 3600) // 60 * 60
    (tmp_path / "recorded.om").write_text(openmetrics(namespace, start))
    subprocess.run(
        [
            str(binary.parent / "promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(tmp_path / "recorded.om"),
            str(tmp_path / "data"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    prom = Prom(str(binary), tmp_path, "127.0.0.1:9")  # scrapes nothing useful: the data is recorded
    prom.start()
    chat = service()  # the closed-loop test's service: vLLM, 1 H100, p95 e2e SLO of 1 s
    chat["metadata"]["namespace"] = namespace
    chat["spec"]["autoscaling"].update({"maxReplicas": 8, "policy": "no-such-policy"})
    assert SLO_MS == 1000  # the recorded data is built around it: slow requests take 1.5-2 s
    cluster.apply(chat)
    try:
        yield {"prom": prom, "start": start, "end": start + HOURS * 3600}
    finally:
        prom.stop()


def backtest(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inferop.cli", "backtest", *args],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def instant(prom: Prom, promql: str, t: float) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql, "time": f"{t}"})
    with urllib.request.urlopen(f"{prom.url}/api/v1/query?{query}", timeout=10) as answer:
        return list(json.load(answer)["data"]["result"])


def test_backtest_replays_recorded_range_through_decide(
    cluster: Cluster, namespace: str, recorded: dict[str, Any], tmp_path: Path
) -> None:
    prom: Prom = recorded["prom"]
    start, end = recorded["start"], recorded["end"]
    out = tmp_path / "report"
    args = ("--prometheus", prom.url, "--isvc", f"{namespace}/chat", "--start", str(start), "--end", str(end))
    proc = backtest(cluster, *args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "backtest.json").read_text())
    assert (out / "backtest.png").stat().st_size > 0
    assert "the default CostPolicy" in report["policy"]  # the service names a policy that does not exist
    assert report["replicas_query"].startswith("max(kube_deployment_status_replicas")
    steps, summary = report["steps"], report["summary"]
    assert len(steps) == HOURS * 3600 // 30 + 1
    # What actually ran: 4 replicas x 1 GPU for every 30 s step.
    assert all(s["actual"] == REPLICAS for s in steps)
    assert summary["actual_gpu_hours"] == pytest.approx(len(steps) * REPLICAS * 30 / 3600, abs=1e-3)
    assert summary["actual_cost"] == pytest.approx(summary["actual_gpu_hours"] * 4.10, abs=0.01)
    assert (summary["currency"], report["price"]) == ("USD", "4.10 USD per replica-hour, GPUClass h100")

    def at(offset: float) -> dict[str, Any]:
        return next(s for s in steps if s["time"] >= start + offset)

    # The signals of a step are what Prometheus answers to the controller's query at that time.
    latency_query = next(q for q in report["queries"] if q.startswith("histogram_quantile"))
    assert f'{{namespace="{namespace}",inferenceservice="chat"}}' in latency_query  # only this service's series
    for offset in (600, SLOW[0] + 30, SLOW[0] + 90):  # inside the window where the latency moves every step
        step = at(offset)
        answer = [r for r in instant(prom, latency_query, step["time"]) if r["metric"]["namespace"] == namespace]
        observed = step["inputs"]["observations"]["latencyMilliseconds"]
        assert observed["value"] == pytest.approx(float(answer[0]["value"][1]))
    # Quiet first hour, SLO met: the projection scales down to minReplicas ...
    assert at(50 * 60)["to"] == 1
    assert at(50 * 60)["inputs"]["observations"]["sloAttainment"]["value"] == pytest.approx(1.0)
    assert all(s["optimistic"] for s in steps if start + 50 * 60 <= s["time"] < start + SLOW[0])
    # ... the slow stretch breaches the SLO: the guard raises at once ...
    slow = [s for s in steps if SLOW[0] <= s["time"] - start < SLOW[1]]
    before = at(SLOW[0] - 30)["to"]
    assert slow[0]["reason"] == "SLOBreach" and slow[0]["to"] > before, [s["reason"] for s in slow]
    # ... and when half the requests stay slow at a load per replica already served within the SLO
    # (the recording's latency does not follow the load), the planner says more replicas would not
    # cure it and holds, instead of scaling up while the latency ignores it ...
    held = [s for s in slow if s["reason"] == "Hold" and "not load-driven" in s["message"]]
    assert held, [s["reason"] for s in slow]
    assert held[0]["inputs"]["observations"]["sloAttainment"]["value"] == pytest.approx(0.5, abs=0.05)
    assert max(s["to"] for s in slow) <= 2 * before
    # ... and down again after it.
    assert steps[-1]["to"] < max(s["to"] for s in steps)
    assert 0 < summary["projected_gpu_hours"] < summary["actual_gpu_hours"]
    assert summary["scale_events"] >= 3
    assert "# Backtest of" in proc.stdout and "SLOBreach" in proc.stdout

    # Another CostPolicy gives another projection: no scale-down stabilization reaches 1 replica sooner.
    policy = tmp_path / "fast-down.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "inferop.dev/v1alpha1",
                "kind": "CostPolicy",
                "metadata": {"name": "fast-down"},
                "spec": {"scaleDown": {"stabilizationSeconds": 0, "maxStepReplicas": 4}, "cooldownSeconds": 0},
            }
        )
    )
    fast = backtest(cluster, *args, "--policy", str(policy), "--out", str(tmp_path / "fast"))
    assert fast.returncode == 0, fast.stderr
    fast_report = json.loads((tmp_path / "fast" / "backtest.json").read_text())
    assert fast_report["policy"] == str(policy)

    def first_at_min(rows: list[dict[str, Any]]) -> float:
        return float(next(s["time"] for s in rows if s["to"] == 1))

    assert first_at_min(fast_report["steps"]) < first_at_min(steps)

    # Relative times (fractional seconds from the clock) land on the same grid as Prometheus' answers.
    relative = backtest(cluster, *args[:4], "--start", "now-2h", "--end", "now-90m", "--out", str(tmp_path / "rel"))
    assert relative.returncode == 0, relative.stderr
    rel = json.loads((tmp_path / "rel" / "backtest.json").read_text())
    assert rel["summary"]["steps_without_actual_replicas"] == 0
    assert all(s["inputs"]["observations"]["latencyMilliseconds"]["status"] == "Ok" for s in rel["steps"])
    assert fast_report["summary"]["projected_gpu_hours"] < summary["projected_gpu_hours"]

    # The replay starts from the learned state rebuilt from the history window before --start (an hour
    # of the recording lies before now-2h): load in tokens/s and capacity points of the steady pod.
    learned = re.fullmatch(
        r"rebuilt from the [0-9.]+ h before --start: ([0-9]+) capacity points, ([0-9]+) load samples \(tokens/s\)",
        rel["learned_state"],
    )
    assert learned, rel["learned_state"]
    assert int(learned.group(1)) >= 60 and int(learned.group(2)) >= 60, rel["learned_state"]
    assert report["learned_state"].startswith("rebuilt from the"), report["learned_state"]


def test_backtest_errors_name_the_flag(cluster: Cluster, namespace: str, recorded: dict[str, Any]) -> None:
    prom: Prom = recorded["prom"]
    span = ("--start", str(recorded["start"]), "--end", str(recorded["end"]))
    cases = [
        (("--prometheus", prom.url, "--isvc", "chat", *span), "--isvc: 'chat' is not NAMESPACE/NAME"),
        (("--prometheus", prom.url, "--isvc", f"{namespace}/nope", *span), "not found"),
        (
            ("--prometheus", prom.url, "--isvc", f"{namespace}/chat", "--start", "yesterday", "--end", "now"),
            "--start: 'yesterday' is not a time",
        ),
        (
            ("--prometheus", prom.url, "--isvc", f"{namespace}/chat", "--start", "now", "--end", "now-1h"),
            "--end: must be after --start",
        ),
        (("--prometheus", "http://127.0.0.1:9", "--isvc", f"{namespace}/chat", *span), "--prometheus:"),
        (
            ("--prometheus", prom.url, "--isvc", f"{namespace}/chat", "--start", "now-10m", "--end", "now"),
            "--replicas-query: no replica series",
        ),
        (
            ("--prometheus", prom.url, "--isvc", f"{namespace}/chat", *span, "--out", "/proc/inferop"),
            "--out: cannot write",
        ),
    ]
    for args, message in cases:
        proc = backtest(cluster, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)


def test_long_ranges_are_queried_in_chunks_on_one_grid(
    recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prometheus refuses more than 11,000 points per series: the client splits, and the joined answer is
    the one an unsplit query gives."""
    from inferop.reconcile import prometheus

    source = prometheus.Prometheus(recorded["prom"].url, timeout=30)
    promql = "sum by (namespace) (rate(vllm:request_success_total[2m]))"
    whole = source.query_range(promql, recorded["start"], recorded["end"], 30)
    monkeypatch.setattr(prometheus, "MAX_RANGE_POINTS", 7)
    chunked = source.query_range(promql, recorded["start"], recorded["end"], 30)
    assert isinstance(whole, list) and isinstance(chunked, list)
    assert len(whole[0]["values"]) == HOURS * 3600 // 30  # every step but the first (one sample: no rate)
    assert chunked == whole
