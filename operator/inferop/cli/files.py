"""The file loaders of every ``inferop`` subcommand (and of bench/): manifests, CostPolicy,
InferenceService, GPUClass, service profiles and traces. The only file reading of the package
outside the operator's own startup.

YAML (and so JSON) manifests, several documents per file, ``-`` for stdin. The parsing is the API's
(``inferop.api``) and the simulator's (``inferop.sim.trace.parse_trace``,
``inferop.sim.profile.parse_profile``, both pure); the reading and the error wording live here.

Two layers: :func:`load_trace`, :func:`rate_windows` and :func:`load_profile` raise the simulator's
TraceError / ProfileError (for callers such as bench/); the rest raise a
:class:`~inferop.cli.errors.CLIError` whose message starts with the flag and file (``--isvc: FILE``)
or the file and object (``FILE: InferenceService chat``) and lists every field problem with its path.
"""

from __future__ import annotations

import csv
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
from inferop.sim.profile import DEFAULT_PROFILE, PROFILE_DIR, ProfileError, ServiceProfile, parse_profile
from inferop.sim.trace import Trace, TraceError, Window, parse_rate_windows, parse_trace


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


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header (stripped) and its non-empty rows. Raises TraceError."""
    try:
        with Path(path).open(newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    except OSError as err:
        raise TraceError(f"{path}: cannot read file: {err.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise TraceError(f"{path}: not a CSV file: {err}") from None
    if header is None:
        raise TraceError(f"{path}: empty file")
    return [h.strip() for h in header], rows


def load_trace(
    path: str | Path,
    *,
    seed: int = 0,
    rate_scale: float = 1.0,
    start: float = 0.0,
    duration: float | None = None,
    category: str | None = None,
) -> Trace:
    """A trace file of either format (``inferop.sim.trace``), named after the file. Raises TraceError."""
    source = Path(path)
    header, rows = read_csv(source)
    return parse_trace(
        str(source),
        header,
        rows,
        name=source.stem,
        seed=seed,
        rate_scale=rate_scale,
        start=start,
        duration=duration,
        category=category,
    )


def rate_windows(path: str | Path, category: str | None = None) -> list[Window]:
    """The windows of a rate trace file as recorded (no scaling). Raises TraceError."""
    header, rows = read_csv(path)
    return parse_rate_windows(str(Path(path)), header, rows, category)


def builtin_profiles() -> list[str]:
    """The names of the simulator's built-in service profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str = DEFAULT_PROFILE) -> ServiceProfile:
    """A built-in profile by name, or a profile YAML file by path. Raises ProfileError."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ProfileError(f"no built-in profile {name_or_path!r} (have: {', '.join(builtin_profiles())})")
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ProfileError(f"{path}: cannot read file: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}".splitlines()[0]) from None
    return parse_profile(str(path), doc)


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
