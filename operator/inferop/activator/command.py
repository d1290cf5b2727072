"""``inferop activator``: its flags, and the call into ``inferop.activator.server`` (imported only when
the command runs, so the rest of the CLI stays light)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from inferop.activator.contract import ADMIN_PORT, DEFAULT_HOLD_TIMEOUT_SECONDS, DEFAULT_MAX_HELD_REQUESTS, PROXY_PORT


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "activator",
        help="run the activator: hold requests of services at zero, wake them, forward when a pod is ready",
        description="Hold each request of an InferenceService that has no ready pod, tell the operator at once "
        "(annotation inferop.dev/activation-requested), forward held requests in arrival order as soon as a pod "
        "of its <name>-pods Service is ready. See docs/activator.md.",
    )
    p.add_argument("--address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=PROXY_PORT, help=f"proxy port (default {PROXY_PORT})")
    p.add_argument("--admin-port", type=int, default=ADMIN_PORT,
                   help=f"port of /metrics, /healthz, /readyz (default {ADMIN_PORT})")
    p.add_argument("-n", "--namespace", action="append", default=[],
                   help="serve only these namespaces (repeatable; default all)")
    p.add_argument("--max-held-requests", type=_positive(int), default=DEFAULT_MAX_HELD_REQUESTS,
                   help="per service, when it sets no spec.autoscaling.scaleToZero.maxHeldRequests "
                   f"(default {DEFAULT_MAX_HELD_REQUESTS})")
    p.add_argument("--hold-timeout-seconds", type=_positive(float), default=DEFAULT_HOLD_TIMEOUT_SECONDS,
                   help="per service, when it sets no spec.autoscaling.scaleToZero.holdTimeoutSeconds "
                   f"(default {DEFAULT_HOLD_TIMEOUT_SECONDS:g})")
    p.add_argument("--max-held-megabytes", type=_positive(int), default=256,
                   help="all held request bodies together, over every service; beyond it 503 (default 256)")
    p.add_argument("--shutdown-seconds", type=_positive(float), default=25.0,
                   help="after SIGTERM, drain within this time; keep it below terminationGracePeriodSeconds "
                   "(default 25)")
    p.add_argument("--shutdown-delay-seconds", type=float, default=3.0,
                   help="after SIGTERM, keep serving this long before closing the listener (default 3)")
    p.add_argument("--cluster-domain", default="cluster.local", help="cluster DNS domain (default cluster.local)")
    p.add_argument("--no-signal", action="store_true",
                   help="never patch InferenceServices (hold and forward only; for trying it without the operator)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inferop.activator.server import Options, main

    return main(
        Options(
            address=args.address,
            port=args.port,
            admin_port=args.admin_port,
            namespaces=list(args.namespace),
            max_held_requests=args.max_held_requests,
            hold_timeout_seconds=args.hold_timeout_seconds,
            max_held_megabytes=args.max_held_megabytes,
            shutdown_seconds=args.shutdown_seconds,
            shutdown_delay_seconds=args.shutdown_delay_seconds,
            cluster_domain=args.cluster_domain,
            no_signal=args.no_signal,
        )
    )
