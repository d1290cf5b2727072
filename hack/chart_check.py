"""The Python half of `make chart-check` (hack/chart-check.sh calls it; run it with the repo's .venv).

  chart_check.py sync [--check]
      Regenerate what the chart copies from elsewhere, or (--check) fail when it drifted:
      - charts/inferop/crds-src/*.yaml: byte-identical to crds/ (both come from `inferop crds`);
      - values.schema.json $defs: costPolicySpec / gpuClassSpec from the CRDs' openAPIV3Schema
        (closed with additionalProperties: false), and the core/v1 types the values embed (Affinity,
        Toleration, EnvVar, ResourceRequirements, LocalObjectReference) from the official Kubernetes
        JSON schemas in kubernetes_validate (strict variant).

  chart_check.py validate --crds DIR [--crds DIR ...] RENDERED.yaml ...
      Validate every object of `helm template` output:
      - built-in kinds against the official Kubernetes schemas (kubernetes_validate, strict: unknown
        fields are errors) of the control plane's Kubernetes minor (hack/versions.sh);
      - objects of a CRD found in a --crds directory (our inferop.dev kinds; ServiceMonitor and
        PrometheusRule from prometheus-operator) against that CRD's openAPIV3Schema, closed like the
        API server's strict field validation; inferop.dev kinds also through the operator's own
        pydantic models (which mirror the CRDs' CEL rules);
      - rendered CRDs equal crds/ plus only the chart's metadata (labels, keep annotation);
      - any other kind is an error (nothing is skipped silently).

It never talks to a cluster.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "inferop"
CRDS = ROOT / "crds"
CRDS_SRC = CHART / "crds-src"
VALUES_SCHEMA = CHART / "values.schema.json"
VERSIONS_SH = ROOT / "hack" / "versions.sh"

#: values.schema.json $defs generated from our CRDs: name -> CRD file.
CRD_DEFS = {
    "costPolicySpec": "inferop.dev_costpolicies.yaml",
    "gpuClassSpec": "inferop.dev_gpuclasses.yaml",
}
#: core/v1 definitions the values embed (plus everything they reference).
K8S_DEFS = (
    "io.k8s.api.core.v1.Affinity",
    "io.k8s.api.core.v1.Toleration",
    "io.k8s.api.core.v1.EnvVar",
    "io.k8s.api.core.v1.ResourceRequirements",
    "io.k8s.api.core.v1.LocalObjectReference",
)
#: Labels and annotations the chart adds to each CRD; nothing else may differ from crds/.
CHART_CRD_ANNOTATIONS = {"helm.sh/resource-policy"}
CHART_CRD_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
}


class CheckError(Exception):
    pass


def kubernetes_version() -> str:
    """The Kubernetes minor of the pinned control plane (hack/versions.sh K8S_VERSION, e.g. 1.36.0),
    whose official schemas kubernetes_validate ships."""
    match = re.search(r"^K8S_VERSION=v(\d+)\.(\d+)\.", VERSIONS_SH.read_text(), re.MULTILINE)
    if match is None:
        raise CheckError("no K8S_VERSION=vX.Y.Z in hack/versions.sh")
    version = f"{match.group(1)}.{match.group(2)}.0"
    if version not in kubernetes_validate.utils.all_versions():
        raise CheckError(f"kubernetes_validate has no schemas for Kubernetes {version}; upgrade kubernetes-validate")
    return version


def _k8s_definitions(version: str) -> dict[str, Any]:
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    return dict(json.loads((base / "_definitions.json").read_text())["$defs"])


# --- sync -------------------------------------------------------------------------------------------


def close_schema(node: Any) -> Any:
    """A CRD structural schema as a closed JSON Schema: objects with properties get
    additionalProperties: false (the API server rejects unknown fields with strict field validation);
    Kubernetes extensions (x-kubernetes-*, CEL) are dropped because JSON Schema cannot evaluate them."""
    if isinstance(node, list):
        return [close_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {k: close_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not"):
            out[key] = close_schema(value)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable"):
        out.pop("nullable", None)
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
    return out


def crd_spec_schema(file_name: str, crds_dir: Path = CRDS) -> dict[str, Any]:
    crd = yaml.safe_load((crds_dir / file_name).read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return dict(close_schema(schema))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip_descriptions(n) for n in node]
    return node


def k8s_defs(version: str) -> dict[str, Any]:
    """The K8S_DEFS and their transitive references, descriptions dropped (the values table links the
    Kubernetes API reference instead)."""
    everything = _k8s_definitions(version)
    out: dict[str, Any] = {}
    todo = list(K8S_DEFS)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = _strip_descriptions(everything[name])
        todo.extend(_refs(out[name]))
    return dict(sorted(out.items()))


def expected_values_schema(current: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(current)
    defs = schema.setdefault("$defs", {})
    for name in [n for n in defs if n.startswith("io.k8s.")]:
        del defs[name]
    for name, file_name in CRD_DEFS.items():
        defs[name] = crd_spec_schema(file_name)
    defs.update(k8s_defs(kubernetes_version()))
    return schema


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def crd_files() -> dict[str, str]:
    from inferop.api.crdgen import render_crd_files  # the same generator as `make crds`

    return render_crd_files()


def sync(check: bool) -> list[str]:
    """Write (or with check=True, list without writing) the generated chart files that differ."""
    stale: list[str] = []
    files = crd_files()
    for name, text in files.items():
        path = CRDS_SRC / name
        if not path.exists() or path.read_text() != text:
            stale.append(str(path.relative_to(ROOT)))
            if not check:
                CRDS_SRC.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    for extra in sorted(p for p in CRDS_SRC.glob("*.yaml") if p.name not in files):
        stale.append(str(extra.relative_to(ROOT)))
        if not check:
            extra.unlink()
    current = json.loads(VALUES_SCHEMA.read_text())
    want = dump_json(expected_values_schema(current))
    if VALUES_SCHEMA.read_text() != want:
        stale.append(str(VALUES_SCHEMA.relative_to(ROOT)))
        if not check:
            VALUES_SCHEMA.write_text(want)
    return stale


# --- validate ---------------------------------------------------------------------------------------


def load_crds(dirs: Iterable[Path]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema of every CRD in the directories."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in dirs:
        for path in sorted(d.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    out[(spec["group"], version["name"], spec["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return out


def _where(doc: dict[str, Any], source: str) -> str:
    meta = doc.get("metadata") or {}
    name = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
    return f"{source}: {doc.get('kind')} {name}"


def _validate_custom(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    closed = close_schema(schema)
    # metadata is validated by the API server itself, not by the CRD schema.
    closed.setdefault("properties", {})["metadata"] = {"type": "object"}
    validator = jsonschema.Draft7Validator(closed)
    return [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _validate_inferop_model(doc: dict[str, Any]) -> list[str]:
    from inferop.api import InvalidObject, parse_gpuclass, parse_isvc
    from inferop.api.costpolicy import CostPolicySpec
    from inferop.api.validation import parse_tenant

    try:
        kind = doc["kind"]
        if kind == "GPUClass":
            parse_gpuclass(doc)
        elif kind == "Tenant":
            parse_tenant(doc)
        elif kind == "InferenceService":
            parse_isvc(doc)
        elif kind == "CostPolicy":
            CostPolicySpec.model_validate(doc.get("spec") or {})
    except (InvalidObject, ValueError) as err:
        return [f"rejected by the operator's model: {err}"]
    return []


def _compare_crd(doc: dict[str, Any]) -> list[str]:
    name = f"{doc['spec']['group']}_{doc['spec']['names']['plural']}.yaml"
    source = CRDS / name
    if not source.exists():
        return [f"a CRD the chart renders has no source in crds/ ({name})"]
    want = yaml.safe_load(source.read_text())
    got = copy.deepcopy(doc)
    meta = got["metadata"]
    annotations = meta.pop("annotations", {}) or {}
    if annotations.get("helm.sh/resource-policy") != "keep":
        return ["a chart CRD must carry helm.sh/resource-policy: keep"]
    extra = set(annotations) - CHART_CRD_ANNOTATIONS
    labels = meta.get("labels") or {}
    for key in CHART_CRD_LABELS - set(want["metadata"].get("labels") or {}):
        labels.pop(key, None)
    errors = [f"unexpected annotations {sorted(extra)}"] if extra else []
    if got != want:
        errors.append(f"differs from crds/{name} beyond the chart's labels and annotations")
    return errors


def validate(files: Iterable[Path], crd_dirs: Iterable[Path]) -> tuple[int, list[str]]:
    version = kubernetes_version()
    crds = load_crds(crd_dirs)
    count, errors = 0, []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            count += 1
            where = _where(doc, path.name)
            group, _, ver = str(doc.get("apiVersion", "")).rpartition("/")
            key = (group, ver, str(doc.get("kind")))
            problems: list[str] = []
            if key in crds:
                problems = _validate_custom(doc, crds[key])
                if group == "inferop.dev" and not problems:
                    problems = _validate_inferop_model(doc)
            elif (
                "." in group
                and not group.endswith(".k8s.io")
                and group not in ("apps", "batch", "autoscaling", "policy")
            ):
                problems = [f"no CRD schema for {doc.get('apiVersion')} {doc.get('kind')} (pass --crds)"]
            else:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as err:
                    problems = [f"{'.'.join(str(p) for p in err.path) or '<root>'}: {err.message}"]
                except kubernetes_validate.utils.SchemaNotFoundError:
                    problems = [f"no Kubernetes {version} schema for {doc.get('apiVersion')} {doc.get('kind')}"]
                if doc.get("kind") == "CustomResourceDefinition" and not problems:
                    problems = _compare_crd(doc)
            errors += [f"{where}: {p}" for p in problems]
    return count, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sync")
    s.add_argument("--check", action="store_true")
    v = sub.add_parser("validate")
    v.add_argument("--crds", action="append", type=Path, default=[])
    v.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "sync":
        stale = sync(args.check)
        if stale and args.check:
            print(
                f"error: out of date: {', '.join(stale)}; run `.venv/bin/python hack/chart_check.py sync`",
                file=sys.stderr,
            )
            return 1
        for path in stale:
            print(f"wrote {path}")
        return 0
    count, errors = validate(args.files, args.crds or [CRDS])
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    print(
        f"validated {count} objects against Kubernetes {kubernetes_version()} schemas and CRD schemas: "
        f"{len(errors)} error(s)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
