"""The file loaders of every ``inferop`` subcommand: manifests, CostPolicy, InferenceService, GPUClass,
service profiles and traces.

YAML (and so JSON) manifests, several documents per file, ``-`` for stdin. Every problem becomes a
:class:`~inferop.cli.errors.CLIError` whose message starts with the flag and file (``--isvc: FILE``)
or the file and object (``FILE: InferenceService chat``), and lists every field problem with its path.
The parsing itself is the API's (``inferop.api``) and the simulator's (``inferop.sim``); only the
reading and the error wording live here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from inferop.api import GPUClass, InferenceService, InvalidObject, describe_validation_error, parse_gpuclass, parse_isvc
from inferop.api.costpolicy import CostPolicySpec
from inferop.api.validation import plain
from inferop.cli.errors import CLIError, invalid
from inferop.sim.profile import ProfileError, ServiceProfile, load_profile
from inferop.sim.trace import Trace, TraceError, load_trace


def _prefix(flag: str | None, path: str) -> str:
    return f"{flag}: {path}" if flag else path


def read_manifests(path: str, flag: str | None = None) -> list[dict[str, Any]]:
    """The objects (mappings) of one YAML/JSON file, ``-`` for stdin; empty documents are skipped."""
    where = _prefix(flag, path)
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        loaded = [d for d in yaml.safe_load_all(text) if d is not None]
    except OSError as err:
        raise CLIError(f"{where}: cannot read file: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise CLIError(f"{where}: not valid YAML: {err}".splitlines()[0]) from None
    for doc in loaded:
        if not isinstance(doc, dict):
            raise CLIError(f"{where}: expected Kubernetes objects (mappings), found {type(doc).__name__}")
    return loaded


def read_all_manifests(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(path, object)`` for every object of every file, in order."""
    return [(path, doc) for path in paths for doc in read_manifests(path)]


def describe(path: str, doc: Mapping[str, Any]) -> str:
    """``FILE: Kind name``, how an error names one object of a file."""
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{path}: {doc.get('kind', '?')} {name}"


def one_object(flag: str, path: str, kind: str) -> dict[str, Any]:
    """The single object of ``kind`` in the file given to ``flag``."""
    docs = [d for d in read_manifests(path, flag) if d.get("kind") == kind]
    if len(docs) != 1:
        raise CLIError(f"{flag}: {path}: expected exactly one {kind}, found {len(docs)}")
    return docs[0]


def parse_isvc_at(where: str, doc: Mapping[str, Any]) -> InferenceService:
    """An InferenceService, or a CLIError naming ``where`` and every problem."""
    try:
        return parse_isvc(doc)
    except InvalidObject as err:
        raise invalid(where, err) from None


def parse_gpuclass_at(where: str, doc: Mapping[str, Any]) -> GPUClass:
    """A GPUClass, or a CLIError naming ``where`` and every problem."""
    try:
        return parse_gpuclass(doc)
    except InvalidObject as err:
        raise invalid(where, err) from None


def parse_cost_policy_at(where: str, spec: Mapping[str, Any]) -> CostPolicySpec:
    """A CostPolicy's spec, or a CLIError naming ``where`` and every problem (paths start ``spec.``)."""
    try:
        return CostPolicySpec.model_validate(plain(spec))
    except ValidationError as err:
        raise invalid(where, describe_validation_error(err, prefix="spec")) from None


def load_isvc(flag: str, path: str) -> InferenceService:
    """The one InferenceService of the file given to ``flag``."""
    return parse_isvc_at(f"{flag}: {path}", one_object(flag, path, "InferenceService"))


def load_cost_policy(flag: str, path: str | None) -> CostPolicySpec:
    """The one CostPolicy of the file given to ``flag``; the default CostPolicy without a file."""
    if path is None:
        return CostPolicySpec()
    doc = one_object(flag, path, "CostPolicy")
    return parse_cost_policy_at(f"{flag}: {path}", doc.get("spec") or {})


def load_service_profile(flag: str, name_or_path: str) -> ServiceProfile:
    """A built-in simulator profile by name, or a profile YAML file."""
    try:
        return load_profile(name_or_path)
    except ProfileError as err:
        if err.invalid is not None:
            raise invalid(f"{flag}: {err.path}", err.invalid) from None
        raise CLIError(f"{flag}: {err}") from None


def load_trace_file(
    path: str,
    *,
    seed: int,
    rate_scale: float = 1.0,
    start: float = 0.0,
    duration: float | None = None,
    category: str | None = None,
) -> Trace:
    """A request or rate trace CSV (``inferop.sim.trace``); the error names the flag it is about."""
    try:
        return load_trace(path, seed=seed, rate_scale=rate_scale, start=start, duration=duration, category=category)
    except TraceError as err:
        text = str(err)
        flag = err.option or (
            "--rate-scale" if "rate scale" in text else "--start/--duration" if "time range" in text else "--trace"
        )
        raise CLIError(f"{flag}: {err}") from None
