"""A load emulator for the pods of one real Deployment (pods run by kwok serve nothing).

It exposes, on /metrics, what vLLM and dcgm-exporter would expose for each Ready pod of an
InferenceService: ``vllm:e2e_request_latency_seconds`` (a histogram with vLLM's buckets),
``vllm:num_requests_waiting``, ``vllm:request_success_total``, the token counters
``vllm:prompt_tokens_total`` and ``vllm:generation_tokens_total`` (``--prompt-tokens`` and
``--generation-tokens`` per completed request) and ``DCGM_FI_DEV_GPU_UTIL``, labelled
``namespace``, ``inferenceservice`` and ``pod``. Latency comes from the offered load and the live
number of Ready pods (read from the API server every second), with an M/M/1-style model: each replica
serves ``--capacity`` requests/s at ``--service-ms`` mean; at utilisation rho the mean latency is
service/(1-rho), exponentially distributed; at rho >= 1 requests wait ``--saturated-ms``.

Offered load: ``--rps`` to start; ``POST /load?rps=N`` changes it; or ``--trace FILE`` (a CSV of
``seconds,rps`` rows) replays a trace, looping.

    python hack/loademu.py --namespace demo --name chat --port 9400 --rps 5
"""

from __future__ import annotations

import argparse
import csv
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from kubernetes import client, config

BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)  # vLLM e2e buckets


class Emulator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rps = float(args.rps)
        self.trace: list[tuple[float, float]] = []
        if args.trace:
            with open(args.trace) as f:
                self.trace = [(float(r[0]), float(r[1])) for r in csv.reader(f) if r and not r[0].startswith("#")]
        self.started = time.monotonic()
        self.pods: list[str] = []
        self.lock = threading.Lock()
        # per pod: cumulative bucket counts, sum, count
        self.hist: dict[str, list[float]] = {}
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}
        self.waiting: dict[str, float] = {}
        self.util: dict[str, float] = {}

    def offered(self) -> float:
        if not self.trace:
            return self.rps
        span = self.trace[-1][0] or 1.0
        t = (time.monotonic() - self.started) % span
        current = self.trace[0][1]
        for at, rps in self.trace:
            if at <= t:
                current = rps
        return current

    def refresh_pods(self, core: client.CoreV1Api) -> None:
        pods = core.list_namespaced_pod(
            self.args.namespace, label_selector=f"inferop.dev/inferenceservice={self.args.name}"
        ).items
        ready = []
        for pod in pods:
            if pod.metadata.deletion_timestamp:
                continue
            conds = {c.type: c.status for c in (pod.status.conditions or [])}
            if conds.get("Ready") == "True":
                ready.append(pod.metadata.name)
        with self.lock:
            self.pods = sorted(ready)

    def step(self, dt: float) -> None:
        with self.lock:
            pods = list(self.pods)
            load = self.offered()
            n = len(pods)
            for pod in pods:
                self.hist.setdefault(pod, [0.0] * len(BUCKETS))
                self.sums.setdefault(pod, 0.0)
                self.counts.setdefault(pod, 0.0)
            if n == 0:
                return
            per_pod = load / n
            rho = per_pod / self.args.capacity
            if rho < 1:
                mean = self.args.service_ms / 1000 / (1 - rho)
                waiting = rho * rho / (1 - rho)
            else:
                mean = self.args.saturated_ms / 1000
                waiting = per_pod * mean
            requests = per_pod * dt
            for pod in pods:
                for i, bound in enumerate(BUCKETS):
                    self.hist[pod][i] += requests * (1 - math.exp(-bound / mean))
                self.sums[pod] += requests * mean
                self.counts[pod] += requests
                self.waiting[pod] = waiting
                self.util[pod] = min(100.0, 100.0 * rho)

    def render(self) -> str:
        ns, name = self.args.namespace, self.args.name
        lines = [
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            "# TYPE vllm:request_success_total counter",
            "# TYPE vllm:num_requests_waiting gauge",
            "# TYPE vllm:prompt_tokens_total counter",
            "# TYPE vllm:generation_tokens_total counter",
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        ]
        with self.lock:
            for pod in self.pods:
                lab = f'namespace="{ns}",inferenceservice="{name}",pod="{pod}"'
                for bound, count in zip(BUCKETS, self.hist[pod], strict=True):
                    lines.append(f'vllm:e2e_request_latency_seconds_bucket{{{lab},le="{bound}"}} {count:.3f}')
                lines.append(f'vllm:e2e_request_latency_seconds_bucket{{{lab},le="+Inf"}} {self.counts[pod]:.3f}')
                lines.append(f"vllm:e2e_request_latency_seconds_sum{{{lab}}} {self.sums[pod]:.3f}")
                lines.append(f"vllm:e2e_request_latency_seconds_count{{{lab}}} {self.counts[pod]:.3f}")
                lines.append(f"vllm:request_success_total{{{lab}}} {self.counts[pod]:.3f}")
                prompt = self.counts[pod] * self.args.prompt_tokens
                generated = self.counts[pod] * self.args.generation_tokens
                lines.append(f"vllm:prompt_tokens_total{{{lab}}} {prompt:.3f}")
                lines.append(f"vllm:generation_tokens_total{{{lab}}} {generated:.3f}")
                lines.append(f"vllm:num_requests_waiting{{{lab}}} {self.waiting.get(pod, 0):.3f}")
                lines.append(
                    f'DCGM_FI_DEV_GPU_UTIL{{namespace="{ns}",pod="{pod}",gpu="0"}} {self.util.get(pod, 0):.1f}'
                )
        return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--rps", type=float, default=5.0)
    parser.add_argument("--trace", default=None)
    parser.add_argument("--capacity", type=float, default=20.0, help="requests/s one replica serves")
    parser.add_argument("--service-ms", type=float, default=100.0)
    parser.add_argument("--saturated-ms", type=float, default=30000.0)
    parser.add_argument("--prompt-tokens", type=float, default=600.0, help="prompt tokens per request")
    parser.add_argument("--generation-tokens", type=float, default=200.0, help="generated tokens per request")
    args = parser.parse_args()
    config.load_kube_config()
    core = client.CoreV1Api()
    emu = Emulator(args)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = emu.render().encode() if self.path.startswith("/metrics") else f"{emu.offered()}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            emu.rps = float(query.get("rps", [emu.rps])[0])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(f"{emu.rps}\n".encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    last = time.monotonic()
    while True:
        try:
            emu.refresh_pods(core)
        except Exception as err:  # noqa: BLE001 - keep emulating through API hiccups
            print(f"pod refresh failed: {err}", flush=True)
        time.sleep(1)
        now = time.monotonic()
        emu.step(now - last)
        last = now


if __name__ == "__main__":
    main()
