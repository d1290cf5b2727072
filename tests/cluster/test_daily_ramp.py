"""Yesterday's daily ramp, backfilled into a real Prometheus, is in the planner's rebuilt load history;
with the planner's forecast (issue 14's core), today's replicas rise before today's ramp arrives.

Yesterday (26 h to 2 h ago) of a vLLM service's series are written as OpenMetrics and loaded with
``promtool tsdb create-blocks-from openmetrics`` (Prometheus' own backfill; promtool is next to the
cached Prometheus binary): 4 pods serving 8 requests/s at night and 40 requests/s for one hour from
the time of day that is :data:`LEAD` seconds from now, 800 tokens per request (600 prompt, 200
generated, loademu's defaults), inside the 1 s SLO.

1. The rebuild (``reconcile.rebuild.PlannerInputs``, the operator's own code, against that real
   Prometheus) gives a load history that holds the ramp: ~32k tok/s in yesterday's ramp hour and
   ~6.4k tok/s before it, and capacity points (4 steady pods) from the same range.
2. The operator runs against that Prometheus plus a load emulator at today's night load; before the
   ramp's time of day it must raise the replicas. This part needs the planner's forecast (the same
   time of day on previous days).
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferop.cost.queries import PromLabels, ServiceKey, ServiceQuerySpec
from inferop.cost.state import Learned
from inferop.reconcile.prometheus import Prometheus as PromClient
from inferop.reconcile.rebuild import Due, PlannerInputs
from inferop.runtimes import get_profile
from tests.cluster.conftest import Cluster, Operator, wait_for
from tests.cluster.test_cost_controller import SLO_MS, service
from tests.harness import Prometheus, free_port, load_emulator, prometheus_binary

SCRAPE = 30
PODS = 4
NIGHT_RPS, RAMP_RPS = 8.0, 40.0
TOKENS = (600.0, 200.0)  # prompt, generated per request
#: Seconds from now to today's ramp (yesterday's ramp started LEAD seconds after this time of day): time
#: for the first replicas to come up, the start-up decisions (read from a rate window not yet full) to be
#: paced back down to the night's replicas, and those to hold for a minute before the horizon.
LEAD = 840
#: kwok pods are Ready within a second or two, so the measured cold start is tiny: the CostPolicy's
#: ``planner.horizonMarginSeconds`` stands in for a real model load (the horizon is cold start +
#: interval + margin), or the pre-warm could come only seconds before the ramp.
MARGIN = 120
#: The longest horizon: the margin, the runtime profile's 120 s cold start (before one is measured), the
#: 30 s interval.
HORIZON = MARGIN + 120 + 30
#: Seconds before today's ramp by which the night's replicas must have settled (more than the horizon).
SETTLED_BEFORE = HORIZON + 90
RAMP_SECONDS = 3600
BUCKETS = ("0.5", "1.0", "2.5", "+Inf")
WINDOW = "2m"


def yesterday(namespace: str, now: int) -> tuple[str, int]:
    """The OpenMetrics of 26 h to 2 h ago, and when yesterday's ramp started (unix seconds)."""
    start, end = (now - 26 * 3600) // SCRAPE * SCRAPE, now - 2 * 3600
    ramp = now + LEAD - 86_400
    families: dict[str, list[str]] = {}
    totals = [0.0] * PODS
    for t in range(start, end + 1, SCRAPE):
        rps = RAMP_RPS if ramp <= t < ramp + RAMP_SECONDS else NIGHT_RPS
        for p in range(PODS):
            totals[p] += rps / PODS * SCRAPE if t > start else 0.0
            lab = f'namespace="{namespace}",inferenceservice="chat",pod="chat-7d9c5b6f4-p{p}x2z"'
            done = totals[p]
            for le in BUCKETS:  # 95% within 0.5 s, all within 1 s: inside the SLO
                within = done * (0.95 if le == "0.5" else 1.0)
                families.setdefault("vllm:e2e_request_latency_seconds_bucket", []).append(
                    f'vllm:e2e_request_latency_seconds_bucket{{{lab},le="{le}"}} {within} {t}'
                )
            families.setdefault("vllm:request_success_total", []).append(
                f"vllm:request_success_total{{{lab}}} {done} {t}"
            )
            families.setdefault("vllm:prompt_tokens_total", []).append(
                f"vllm:prompt_tokens_total{{{lab}}} {done * TOKENS[0]} {t}"
            )
            families.setdefault("vllm:generation_tokens_total", []).append(
                f"vllm:generation_tokens_total{{{lab}}} {done * TOKENS[1]} {t}"
            )
    out: list[str] = []
    for family, samples in families.items():
        out.append(f"# TYPE {family} {'counter' if family.endswith('_total') else 'gauge'}")
        out += samples
    return "\n".join([*out, "# EOF", ""]), ramp


@pytest.fixture
def backfilled(namespace: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    binary = Path(prometheus_binary())
    now = int(time.time())
    text, ramp = yesterday(namespace, now)
    (tmp_path / "yesterday.om").write_text(text)
    subprocess.run(
        [
            str(binary.parent / "promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(tmp_path / "yesterday.om"),
            str(tmp_path / "data"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    yield {"binary": str(binary), "ramp": ramp, "now": now, "data": tmp_path / "data"}


def _chat(namespace: str) -> ServiceQuerySpec:
    return ServiceQuerySpec(ServiceKey(namespace, "chat"), get_profile("vllm"), slo_target_ms=float(SLO_MS))


def test_the_rebuilt_load_history_holds_yesterdays_ramp(
    backfilled: dict[str, Any], namespace: str, tmp_path: Path
) -> None:
    prom = Prometheus(tmp_path, None, binary=backfilled["binary"], data_dir=backfilled["data"])
    prom.start()
    try:
        inputs = PlannerInputs(kube=None)
        due = Due(spec=_chat(namespace), history_seconds=2 * 86_400.0, step_seconds=60.0, ready=1)
        now = float(backfilled["now"])
        rebuilt = inputs.rebuild(
            [due], {}, PromClient(prom.url, timeout=60), window=WINDOW, labels=PromLabels(), now=now
        )
    finally:
        prom.stop()
    assert inputs.last_queries == 5
    learned = rebuilt[ServiceKey(namespace, "chat")]
    assert isinstance(learned, Learned) and learned.unit == "tokens"
    ramp = backfilled["ramp"]
    per_request = sum(TOKENS)
    during = [s.load for s in learned.load if ramp + 600 <= s.time < ramp + RAMP_SECONDS - 60]
    before = [s.load for s in learned.load if ramp - 5400 <= s.time < ramp - 300]  # the data starts ~2 h before
    assert len(during) >= 40 and len(before) >= 60, (len(during), len(before))
    assert all(math.isclose(x, RAMP_RPS * per_request, rel_tol=0.05) for x in during), during[:5]
    assert all(math.isclose(x, NIGHT_RPS * per_request, rel_tol=0.05) for x in before), before[:5]
    # Capacity points from the 4 steady pods: load per replica, within the SLO.
    ramp_points = [p for p in learned.points if ramp + 600 <= p.time < ramp + RAMP_SECONDS - 60]
    assert ramp_points and all(
        math.isclose(p.per_replica, RAMP_RPS * per_request / PODS, rel_tol=0.05) for p in ramp_points
    )
    assert all(p.attainment >= 0.95 for p in learned.points)


@pytest.mark.timeout(LEAD + 300)
def test_replicas_rise_before_todays_ramp(
    cluster: Cluster, backfilled: dict[str, Any], namespace: str, tmp_path: Path, operator_factory: Any
) -> None:
    emu_port = free_port()
    # yesterday's night load: the planner sizes it from yesterday's capacity points
    emu = load_emulator(
        cluster, namespace=namespace, name="chat", port=emu_port, rps=NIGHT_RPS, capacity=20, log=tmp_path / "emu.log"
    )
    prom = Prometheus(
        tmp_path,
        [f"127.0.0.1:{emu_port}"],
        scrape_interval="5s",
        evaluation_interval="5s",
        binary=backfilled["binary"],
        data_dir=backfilled["data"],
    )
    prom.start()
    try:
        policy = {
            "apiVersion": "inferop.dev/v1alpha1",
            "kind": "CostPolicy",
            "metadata": {"name": "daily"},
            "spec": {
                "intervalSeconds": 30,
                "scaleUp": {"stabilizationSeconds": 0, "maxStepReplicas": 4, "maxStepPercent": 100},
                # The night settles within the test's lead (the default 300 s stabilization would hold
                # the start-up replicas past the horizon); the pacing itself is tested elsewhere.
                "scaleDown": {"stabilizationSeconds": 60, "maxStepReplicas": 1, "maxStepPercent": 50},
                "cooldownSeconds": 30,
                "planner": {"horizonMarginSeconds": MARGIN},
            },
        }
        cluster.apply(policy)
        op: Operator = operator_factory(
            INFEROP_PROMETHEUS_URL=prom.url, INFEROP_RATE_WINDOW=WINDOW, INFEROP_METRICS_PORT=str(free_port())
        )
        chat = service()
        chat["spec"]["autoscaling"].update({"policy": "daily", "maxReplicas": 8})
        cluster.apply(chat, namespace=namespace)

        def replicas() -> int:
            return int((cluster.get("deployment", "chat", namespace) or {}).get("status", {}).get("readyReplicas") or 0)

        wait_for(lambda: replicas() >= 1, timeout=90, what="the first replica")
        ramp_today = backfilled["ramp"] + 86_400
        # The night's replicas settle first (sized to today's night load), then today's load stays at the
        # night level until the ramp's time of day: only the forecast from yesterday can raise them.
        seen: list[tuple[float, int]] = []
        while time.time() < ramp_today - SETTLED_BEFORE:
            seen.append((time.time(), replicas()))
            time.sleep(2)
        night = seen[-1][1]
        assert all(n == night for t, n in seen if t >= seen[-1][0] - 60), ("not settled for the night", seen[-40:])

        def decision() -> str:
            auto = ((cluster.get("inferenceservice", "chat", namespace) or {}).get("status") or {}).get("autoscaling")
            return str(((auto or {}).get("lastDecision") or {}).get("message"))

        messages: list[tuple[float, str]] = []

        def risen() -> bool | str:
            messages.append((round(time.time() - ramp_today), decision()))
            return replicas() > night or (time.time() >= ramp_today and "late")

        wait_for(
            risen,
            timeout=LEAD + 60,
            interval=2,
            what="replicas rising before today's ramp",
        )
        rose_at = time.time()
        op.assert_alive()
        assert rose_at < ramp_today and replicas() > night, (
            "the replicas did not rise before the ramp",
            list(dict(messages[::-1]).items())[:20],
        )
        # ... because of the ramp ahead: the forecast over the horizon holds yesterday's ramp level (today's
        # load is still the night's), within the horizon before it (plus a tick of slack), not at once.
        auto = (cluster.get("inferenceservice", "chat", namespace) or {})["status"]["autoscaling"]
        print(f"rose {ramp_today - rose_at:.0f} s before the ramp: {auto['lastDecision']['message']}")
        assert ramp_today - rose_at <= HORIZON + 30, (ramp_today - rose_at, "rose too early to be the forecast")
        assert auto["forecast"]["upper"] >= 1.5 * NIGHT_RPS * sum(TOKENS), auto["forecast"]  # the ramp ahead
    finally:
        prom.stop()
        emu.terminate()
        emu.wait(timeout=10)
