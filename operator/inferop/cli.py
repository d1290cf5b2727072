"""The ``inferop`` command line: render objects offline, generate CRDs, run the operator, simulate, backtest.

Errors from bad input are one line naming the field, with exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from inferop import cli_backtest
from inferop.activator import command as activator_command
from inferop.api import GPUClass, InferenceService, InvalidObject, parse_gpuclass, parse_isvc
from inferop.api.crdgen import render_crd_files
from inferop.render import RenderError, render_all
from inferop.sim import cli as sim_cli

EXIT_USAGE = 2


class CLIError(Exception):
    pass


def _load_documents(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text()
            loaded = list(yaml.safe_load_all(text))
        except OSError as err:
            raise CLIError(f"{path}: cannot read file: {err.strerror}") from None
        except yaml.YAMLError as err:
            raise CLIError(f"{path}: not valid YAML: {err}".splitlines()[0]) from None
        for doc in loaded:
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise CLIError(f"{path}: expected Kubernetes objects (mappings), found {type(doc).__name__}")
            docs.append((path, doc))
    return docs


def _where(path: str, doc: dict[str, Any]) -> str:
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{path}: {doc.get('kind', '?')} {name}"


def cmd_render(args: argparse.Namespace) -> int:
    gpuclasses: dict[str, GPUClass] = {}
    services: list[tuple[str, InferenceService]] = []
    for path, doc in _load_documents(args.file):
        kind = doc.get("kind")
        try:
            if kind == "GPUClass":
                cls = parse_gpuclass(doc)
                gpuclasses[cls.name] = cls
            elif kind == "InferenceService":
                if args.namespace and not (doc.get("metadata") or {}).get("namespace"):
                    doc = {**doc, "metadata": {**(doc.get("metadata") or {}), "namespace": args.namespace}}
                services.append((_where(path, doc), parse_isvc(doc)))
        except InvalidObject as err:
            raise CLIError(f"{_where(path, doc)}: {err}") from None
    if not services:
        raise CLIError("no InferenceService found in the given files (-f FILE)")
    out: list[dict[str, Any]] = []
    for where, isvc in services:
        try:
            out.extend(render_all(isvc, gpuclasses))
        except RenderError as err:
            raise CLIError(f"{where}: {err}") from None
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    return 0


def cmd_crds(args: argparse.Namespace) -> int:
    out = Path(args.out)
    files = render_crd_files()
    if args.check:
        stale = [n for n, text in files.items() if not (out / n).exists() or (out / n).read_text() != text]
        extra = sorted(p.name for p in out.glob("*.yaml") if p.name not in files) if out.exists() else []
        if stale or extra:
            raise CLIError(f"{out}/ is out of date ({', '.join(stale + extra)}): run `make crds`")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
        print(f"wrote {out / name}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from inferop.operator import run  # imports kopf; keep `render` and `crds` light

    # Settings are read from the environment when the handlers are imported (inferop.settings).
    if args.prometheus_url:
        os.environ["INFEROP_PROMETHEUS_URL"] = args.prometheus_url
    if args.metrics_port is not None:
        os.environ["INFEROP_METRICS_PORT"] = str(args.metrics_port)
    return run(
        namespaces=args.namespace,
        all_namespaces=args.all_namespaces,
        verbose=args.verbose,
        liveness=args.liveness,
        standalone=args.standalone,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferop", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="print the objects an InferenceService becomes, offline")
    render.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        help="YAML file with InferenceServices and GPUClasses (repeatable, - for stdin)",
    )
    render.add_argument("-n", "--namespace", default=None, help="namespace for objects that name none")
    render.set_defaults(func=cmd_render)

    crds = sub.add_parser("crds", help="generate the CustomResourceDefinitions from the API models")
    crds.add_argument("--out", default="crds", help="output directory (default: crds)")
    crds.add_argument("--check", action="store_true", help="fail if the directory is out of date")
    crds.set_defaults(func=cmd_crds)

    run = sub.add_parser("run", help="run the operator (kopf) against the current kubeconfig")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch only these namespaces")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    run.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--prometheus-url", default=None,
                     help="Prometheus for the cost controller (env INFEROP_PROMETHEUS_URL)")
    run.add_argument("--metrics-port", type=int, default=None,
                     help="port of the operator's /metrics (env INFEROP_METRICS_PORT, default 8080; 0 disables)")
    run.add_argument("--standalone", action="store_true", help="no peering with other operator instances")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=cmd_run)

    sim_cli.add_parser(sub)
    cli_backtest.add_parser(sub)
    activator_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CLIError, sim_cli.SimError, cli_backtest.BacktestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
