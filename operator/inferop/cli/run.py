"""``inferop run``: the operator's settings from the environment and the flags, then the operator.

The settings are built here, once, at startup (``Settings.from_env()`` with the flags over it) and
handed to :func:`inferop.operator.run`; nothing writes the flags back into ``os.environ``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from inferop.cli.errors import CLIError
from inferop.settings import Settings


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run the operator (kopf) against the current kubeconfig")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch only these namespaces")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    run.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument(
        "--prometheus-url", default=None, help="Prometheus for the cost controller (env INFEROP_PROMETHEUS_URL)"
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of the operator's /metrics (env INFEROP_METRICS_PORT, default 8080; 0 disables)",
    )
    run.add_argument(
        "--peering",
        dest="standalone",
        action="store_false",
        help="peer with other operator instances (kopf's peering: needs its CRDs and RBAC; default: standalone)",
    )
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=cmd_run)


def environment_settings() -> Settings:
    """``Settings.from_env()``; a bad INFEROP_* variable is a CLIError (exit 2) like any bad input."""
    try:
        return Settings.from_env()
    except SystemExit as err:  # settings.py's own message: "error: environment variable ..."
        raise CLIError(str(err.code).removeprefix("error: ")) from None


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings (``Settings.from_env``) with the flags that were given over them."""
    settings = environment_settings()
    if args.prometheus_url:
        settings = replace(settings, prometheus_url=args.prometheus_url)
    if args.metrics_port is not None:
        settings = replace(settings, metrics_port=args.metrics_port)
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from inferop import operator  # imports kopf; keeps `render` and `crds` light

    return operator.run(
        settings_from(args),
        namespaces=args.namespace,
        all_namespaces=args.all_namespaces,
        verbose=args.verbose,
        liveness=args.liveness,
        standalone=args.standalone,
    )
