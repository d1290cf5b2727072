"""``inferop render`` (the objects an InferenceService becomes, offline) and ``inferop crds``.

``render`` validates (and renders) every object of every file before it stops, so one run lists every
problem of every object, each with its field path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from inferop.api import GPUClass, InferenceService
from inferop.api.crdgen import render_crd_files
from inferop.cli.errors import CLIError, merge
from inferop.cli.files import describe, parse_gpuclass_at, parse_isvc_at, read_all_manifests
from inferop.render import RenderError, render_all


def add_parsers(sub: Any) -> None:
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


def cmd_render(args: argparse.Namespace) -> int:
    gpuclasses: dict[str, GPUClass] = {}
    services: list[tuple[str, InferenceService]] = []
    errors: list[CLIError] = []
    classes_valid = True
    for path, doc in read_all_manifests(args.file):
        kind = doc.get("kind")
        try:
            if kind == "GPUClass":
                cls = parse_gpuclass_at(describe(path, doc), doc)
                gpuclasses[cls.name] = cls
            elif kind == "InferenceService":
                if args.namespace and not (doc.get("metadata") or {}).get("namespace"):
                    doc = {**doc, "metadata": {**(doc.get("metadata") or {}), "namespace": args.namespace}}
                services.append((describe(path, doc), parse_isvc_at(describe(path, doc), doc)))
        except CLIError as err:
            errors.append(err)
            classes_valid = classes_valid and kind != "GPUClass"
    if not services and not errors:
        raise CLIError("no InferenceService found in the given files (-f FILE)")
    out: list[dict[str, Any]] = []
    for where, isvc in services:
        try:
            out.extend(render_all(isvc, gpuclasses))
        except RenderError as err:
            if classes_valid:  # with an invalid GPUClass, "class not found" may only be that one
                errors.append(CLIError(f"{where}: {err}"))
    if errors:
        raise merge(errors)
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
