"""The activator under load, on this machine (issue 16): hold then forward >= 1,000 concurrent requests
with no loss, and the latency it adds when proxying to a ready backend (goal: <= 2 ms median).

    .venv/bin/python bench/activator.py [--held 1000,2000] [--rounds 3000] [--concurrency 1,16] [--repeat 3]

Three processes, so that the client, the activator and the backend never share an event loop:
- a backend stand-in (aiohttp, ``/v1/echo`` answers the request's id at once, counts what it saw);
- the activator (``inferop.activator``'s Server, the code ``inferop activator`` runs) with its
  Directory filled by this script instead of a cluster watch: the service is known, its backend is
  either listed from the start (latency) or added when the activator gets SIGUSR1 (hold);
- the client (this process, aiohttp).

Hold: the backend is not listed; N clients send at once, each on its own connection, and wait; once
the activator's own gauge ``inferop_activator_held_requests`` shows all N held, SIGUSR1 lists the
backend. Counted: answers by status, whether every client got its own id back, how many requests
the backend saw, time from the backend appearing to the last answer. No loss = N answers 200, each
with its own id, and the backend saw exactly N.

Latency: one keep-alive connection each, sequential requests alternating direct (client -> backend)
and proxied (client -> activator -> backend), after a warm-up; per request the wall time from send to
the full body. Added latency = median(proxied) - median(direct); also p90/p99 and the same at 16
concurrent clients. The machine is shared (2 cores, other jobs: the load average is recorded).

Writes ``<out>/activator.json`` and ``<out>/activator.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
HOST = "chat.team-a.svc.cluster.local"


# --- child processes --------------------------------------------------------------------------------


def announce(port_file: str, ports: str) -> None:
    """Tell the parent the child's ports (it polls the file)."""
    Path(port_file).write_text(ports)


async def run_backend(port_file: str) -> None:
    seen = {"n": 0}

    async def echo(request: web.Request) -> web.Response:
        seen["n"] += 1
        await request.read()
        return web.Response(text=request.headers.get("X-Id", ""))

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(seen)

    app = web.Application()
    app.router.add_post("/v1/echo", echo)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    announce(port_file, str(site._server.sockets[0].getsockname()[1]))  # type: ignore[union-attr]
    await asyncio.Event().wait()


async def run_activator(port_file: str, backend_port: int, listed: bool) -> None:
    from inferop.activator.discovery import Directory
    from inferop.activator.hold import Limits
    from inferop.activator.proxy import Activator, RecordingSignaller
    from inferop.activator.routing import Backend, ServiceKey
    from inferop.activator.server import Server

    key = ServiceKey("team-a", "chat")
    directory = Directory(Limits(100_000, 600.0))
    directory.set_service(key)
    backend = Backend("127.0.0.1", backend_port)
    if listed:
        directory.set_backends(key, [backend])
    server = Server(Activator(directory, RecordingSignaller()))
    await server.start("127.0.0.1", 0, 0)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: directory.set_backends(key, [backend]))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    announce(port_file, f"{server.port} {server.admin_port}")
    await stop.wait()
    await server.stop(grace=5)


def spawn(*args: str) -> tuple[subprocess.Popen[bytes], list[int]]:
    port_file = Path(f"/tmp/inferop-bench-activator-{os.getpid()}-{args[0]}-{time.monotonic_ns()}")
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args, str(port_file)], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"child {args} did not start")
        time.sleep(0.05)
    time.sleep(0.05)
    ports = [int(p) for p in port_file.read_text().split()]
    port_file.unlink()
    return proc, ports


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- measurements -----------------------------------------------------------------------------------


async def held_gauge(session: aiohttp.ClientSession, admin_port: int) -> float:
    async with session.get(f"http://127.0.0.1:{admin_port}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("inferop_activator_held_requests{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def hold_run(n: int) -> dict[str, Any]:
    backend, (backend_port,) = spawn("backend")
    activator, (port, admin_port) = spawn("activator", str(backend_port), "unlisted")
    try:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(i: int) -> tuple[int, bool]:
                try:
                    async with session.post(f"http://127.0.0.1:{port}/v1/echo", data=b'{"prompt": "hello"}',
                                            headers={"Host": HOST, "X-Id": str(i)}) as resp:
                        return resp.status, (await resp.text()) == str(i)
                except aiohttp.ClientError as err:
                    return -1, bool(err) and False

            t0 = time.monotonic()
            tasks = [asyncio.create_task(one(i)) for i in range(n)]
            async with aiohttp.ClientSession() as admin:
                while await held_gauge(admin, admin_port) < n:
                    if time.monotonic() - t0 > 120:
                        raise RuntimeError("the activator never held them all")
                    await asyncio.sleep(0.05)
                all_held_s = time.monotonic() - t0
                t1 = time.monotonic()
                activator.send_signal(signal.SIGUSR1)  # the backend becomes ready
                results = await asyncio.gather(*tasks)
                drain_s = time.monotonic() - t1
                async with admin.get(f"http://127.0.0.1:{backend_port}/stats") as resp:
                    seen = (await resp.json())["n"]
        statuses: dict[str, int] = {}
        for status, _ in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        own = sum(1 for _, ok in results if ok)
        return {"concurrent": n, "statuses": statuses, "own_answer": own, "backend_saw": seen,
                "seconds_to_hold_all": round(all_held_s, 3),
                "seconds_backend_ready_to_last_answer": round(drain_s, 3),
                "lost": n - own, "no_loss": statuses.get("200") == n and own == n and seen == n}
    finally:
        stop(activator)
        stop(backend)


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(percentile(ms, 0.9), 3),
            "p99_ms": round(percentile(ms, 0.99), 3), "n": len(ms)}


async def latency_run(rounds: int, concurrency: int) -> dict[str, Any]:
    backend, (backend_port,) = spawn("backend")
    activator, (port, _) = spawn("activator", str(backend_port), "listed")
    try:
        direct: list[float] = []
        proxied: list[float] = []
        body = b'{"model": "m", "prompt": "hello", "max_tokens": 16}'

        async def worker(w: int) -> None:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as ds, \
                    aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as ps:
                targets = [(ds, f"http://127.0.0.1:{backend_port}/v1/echo", direct),
                           (ps, f"http://127.0.0.1:{port}/v1/echo", proxied)]
                for i in range(-100, rounds // concurrency):  # the first 100 rounds warm up, unrecorded
                    order = targets if (i + w) % 2 == 0 else targets[::-1]
                    for session, url, sink in order:
                        t = time.perf_counter()
                        async with session.post(url, data=body, headers={"Host": HOST, "X-Id": str(i)}) as resp:
                            await resp.read()
                            assert resp.status == 200, resp.status
                        if i >= 0:
                            sink.append((time.perf_counter() - t) * 1000)

        cpu0, t0 = cpu_seconds(activator.pid), time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        cpu, wall = cpu_seconds(activator.pid) - cpu0, time.monotonic() - t0
        proxied_total = (rounds // concurrency + 100) * concurrency  # warm-up included
        d, p = summary(direct), summary(proxied)
        return {"concurrency": concurrency, "direct": d, "proxied": p,
                "activator_cpu_ms_per_request": round(cpu * 1000 / proxied_total, 3),
                "activator_cpu_share": round(cpu / wall, 2),
                "added_median_ms": round(p["median_ms"] - d["median_ms"], 3),
                "added_p90_ms": round(p["p90_ms"] - d["p90_ms"], 3)}
    finally:
        stop(activator)
        stop(backend)


def write(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "activator.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Activator under load",
        "",
        "Generated by `.venv/bin/python bench/activator.py` (bench/activator.py; how it measures is in its",
        "docstring); do not edit by hand. Raw numbers: `activator.json`.",
        "",
        f"- machine: nproc {result['machine']['nproc']}, {result['machine']['python']}, "
        f"load average before/after {result['machine']['loadavg_before']} / {result['machine']['loadavg_after']}"
        " (the machine is shared with other jobs)",
        f"- when: {result['when']}; wall time {result['wall_seconds']} s",
        "- three processes: client (aiohttp), activator (`inferop.activator` Server, a static Directory instead of"
        " the cluster watch), backend stand-in (aiohttp, answers at once); all on 127.0.0.1",
        "",
        "## Hold, then forward (no loss)",
        "",
        "N clients send at once (one connection each) to a service with no ready backend; when the activator's",
        "`inferop_activator_held_requests` gauge shows N, the backend is listed. No loss: every client got 200",
        "with its own id back, and the backend saw exactly N requests.",
        "",
        "| concurrent | answers | own answer | backend saw | time to hold all | backend ready -> last answer"
        " | no loss |",
        "|---:|---|---:|---:|---:|---:|:-:|",
    ]
    for h in result["hold"]:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(h["statuses"].items()))
        lines.append(f"| {h['concurrent']:,} | {answers} | {h['own_answer']:,} | {h['backend_saw']:,} | "
                     f"{h['seconds_to_hold_all']} s | {h['seconds_backend_ready_to_last_answer']} s | "
                     f"{'yes' if h['no_loss'] else '**no**'} |")
    lines += [
        "",
        "## Latency added when proxying to a ready backend (goal: median <= 2 ms)",
        "",
        "Sequential requests on keep-alive connections, alternating direct and through the activator (so that",
        "both see the same machine load), after 100 unrecorded warm-up rounds per client; time from send to the",
        "full body. Added = proxied - direct; each row is a run with fresh processes. The goal is judged on the",
        "1-client rows. With 16 clients even direct calls queue (one client process drives 32 sessions on a",
        "2-core machine that other jobs load too): a proxied request needs the activator process scheduled twice",
        "more, and the extra wall time is mostly that wait, while the activator's own CPU time per request",
        "(/proc/<pid>/stat) stays about the same as with one client.",
        "",
        "| clients | requests each way | direct median / p90 / p99 | proxied median / p90 / p99 | added median"
        " | added p90 | activator CPU per request | goal met |",
        "|---:|---:|---|---|---:|---:|---:|:-:|",
    ]
    for r in result["latency"]:
        d, p = r["direct"], r["proxied"]
        lines.append(f"| {r['concurrency']} | {d['n']:,} | {d['median_ms']} / {d['p90_ms']} / {d['p99_ms']} ms | "
                     f"{p['median_ms']} / {p['p90_ms']} / {p['p99_ms']} ms | {r['added_median_ms']} ms | "
                     f"{r['added_p90_ms']} ms | {r['activator_cpu_ms_per_request']} ms "
                     f"({round(100 * r['activator_cpu_share'])}% of a core) | "
                     f"{'yes' if r['added_median_ms'] <= 2.0 else '**no**'} |")
    lines.append("")
    (out / "activator.md").write_text("\n".join(lines))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    before = [round(x, 2) for x in os.getloadavg()]
    hold = []
    for n in [int(x) for x in args.held.split(",")]:
        hold.append(await hold_run(n))
        print(f"hold {n}: {hold[-1]}", flush=True)
    latency = []
    for c in [int(x) for x in args.concurrency.split(",")]:
        for _ in range(args.repeat):
            latency.append(await latency_run(args.rounds, c))
            print(f"latency x{c}: {latency[-1]}", flush=True)
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_seconds": round(time.monotonic() - t0, 1),
        "machine": {"nproc": os.cpu_count(), "python": f"Python {platform.python_version()}",
                    "loadavg_before": before, "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "hold": hold,
        "latency": latency,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        role, rest = sys.argv[2], sys.argv[3:]
        if role == "backend":
            asyncio.run(run_backend(rest[-1]))
        else:
            asyncio.run(run_activator(rest[-1], int(rest[0]), rest[1] == "listed"))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--held", default="1000,2000", help="concurrent held requests per hold run")
    parser.add_argument("--rounds", type=int, default=3000, help="recorded requests each way per latency run")
    parser.add_argument("--concurrency", default="1,16", help="clients per latency run")
    parser.add_argument("--repeat", type=int, default=3, help="latency runs per client count (fresh processes each)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    write(args.out, result)
    failed = [h for h in result["hold"] if not h["no_loss"]]
    print(f"wrote {args.out / 'activator.md'}" + (f"; LOSS in {len(failed)} hold run(s)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
