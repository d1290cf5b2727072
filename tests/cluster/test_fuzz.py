"""Hostile inputs on the real control plane (issue 17, "Done when"): over 100 generated malformed or
hostile objects of all four kinds (``tests/cluster/hostile.py``) are applied with strict server-side
apply while the operator runs. Every object must be rejected at admission with a message naming the
field, or accepted and reported (``Ready=False``, a CamelCase reason, a human message and a Warning
Event), or, when the input is valid, become Ready. Meanwhile no traceback may repeat in the operator's
log, no object of another owner may change (not by the fuzz, not by the garbage collector after the
fuzz objects are deleted), the operator must write nothing in steady state, and every fuzz object and
namespace must be deletable within a bound.

``INFEROP_FUZZ_SEED`` picks another seed (default 17); the failure message prints the seed and a table
of the failing cases (id, kind, issue item, mutation, expected, seen).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.cluster.conftest import OPERATOR_NS, Cluster, Operator
from tests.cluster.hostile import Case, cases

SEED = int(os.environ.get("INFEROP_FUZZ_SEED", "17"))
RUN_LABEL = "fuzz.inferop.test/run"
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
REPORT_DEADLINE = 120  # seconds, one for all accepted cases together
STEADY_WINDOW = 16  # seconds: three drift intervals of the test operator (5 s) and some
STEADY_DEADLINE = 90  # seconds after the cases settled for one window with no write (pods may still start)
DELETE_DEADLINE = 60  # seconds for the fuzz custom objects to go, then again for their namespaces
GC_GRACE = 10  # seconds for the garbage collector to act on deleted owners
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", OPERATOR_NS)
KINDS_PLURAL = {
    "InferenceService": "inferenceservices.inferop.dev",
    "GPUClass": "gpuclasses.inferop.dev",
    "Tenant": "tenants.inferop.dev",
    "CostPolicy": "costpolicies.inferop.dev",
}


@dataclass
class Outcome:
    case: Case
    rejected: bool = False
    stderr: str = ""
    harness_error: str = ""
    ok: bool | None = None
    seen: str = "not evaluated"
    extra: list[str] = field(default_factory=list)


def _meta(obj: dict[str, Any]) -> tuple[str, str, str | None]:
    m = obj["metadata"]
    return obj["kind"], m["name"], m.get("namespace")


def _ssa(cluster: Cluster, obj: dict[str, Any]) -> tuple[int, str]:
    """Strict server-side apply (kubectl's default field validation for --server-side is Strict)."""
    proc = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=fuzz-user",
        "--validate=strict",
        "-f",
        "-",
        input=json.dumps(obj),
        check=False,
    )
    return proc.returncode, proc.stderr.strip()


def _kubectl_json(cluster: Cluster, *args: str) -> list[dict[str, Any]]:
    proc = cluster.kubectl("get", *args, "-o", "json", check=False)
    if proc.returncode != 0:
        return []
    return list(json.loads(proc.stdout).get("items", []))


def _snapshot(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """What must not change on an object of another owner."""
    if obj is None:
        return None
    meta = obj["metadata"]
    # Not the resourceVersion: the Deployment, HPA and quota controllers write these objects' status.
    return {
        "uid": meta.get("uid"),
        "generation": meta.get("generation"),
        "ownerReferences": meta.get("ownerReferences"),
        "labels": meta.get("labels"),
        "annotations": meta.get("annotations"),
        "spec": obj.get("spec"),
        "field managers": sorted(
            {m.get("manager", "") for m in meta.get("managedFields") or [] if not m.get("subresource")}
        ),
    }


def _namespace_snapshot(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    meta = obj["metadata"]
    return {"uid": meta.get("uid"), "labels": meta.get("labels"), "annotations": meta.get("annotations")}


def _system_state(cluster: Cluster) -> dict[str, Any]:
    state: dict[str, Any] = {"default/kubernetes": None}
    svc = cluster.get("service", "kubernetes", "default")
    if svc is not None:
        state["default/kubernetes"] = {
            "uid": svc["metadata"]["uid"],
            "ownerReferences": svc["metadata"].get("ownerReferences"),
            "selector": svc["spec"].get("selector"),
            "ports": svc["spec"].get("ports"),
            "labels": svc["metadata"].get("labels"),
        }
    for ns in SYSTEM_NAMESPACES:
        state[f"namespace {ns}"] = _namespace_snapshot(cluster.get("namespace", ns))
        for kind in ("resourcequotas", "limitranges"):
            state[f"{kind} in {ns}"] = sorted(o["metadata"]["name"] for o in _kubectl_json(cluster, kind, "-n", ns))
    return state


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    for key, value in before.items():
        if after.get(key) != value:
            out.append(f"{key}: was {json.dumps(value)[:300]}, now {json.dumps(after.get(key))[:300]}")
    return out


def _namespaces(cluster: Cluster, names: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    live = {n["metadata"]["name"]: n for n in _kubectl_json(cluster, "namespaces")}
    return {ns: _namespace_snapshot(live.get(ns)) for ns in names}


def _condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


def _summary(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return "object not found"
    ready = _condition(obj, "Ready")
    if not ready:
        return "no Ready condition"
    return f"Ready={ready.get('status')} reason={ready.get('reason')!r} message={str(ready.get('message'))[:140]!r}"


def _warning_on(events: Iterable[dict[str, Any]], kind: str, name: str, namespace: str | None) -> list[str]:
    out = []
    for e in events:
        inv = e.get("involvedObject") or {}
        if e.get("type") != "Warning" or inv.get("kind") != kind or inv.get("name") != name:
            continue
        if namespace is not None and inv.get("namespace") != namespace:
            continue
        out.append(str(e.get("reason")))
    return out


def judge(out: Outcome, obj: dict[str, Any] | None, events: list[dict[str, Any]]) -> None:
    """Set ``out.ok`` and ``out.seen`` for an applied case from the observed object and Events."""
    case = out.case
    if out.harness_error:
        out.ok, out.seen = False, out.harness_error
        return
    if out.rejected:
        first = out.stderr.splitlines()[0][:200] if out.stderr else "(no message)"
        if case.expect in ("ready", "warn"):
            out.ok, out.seen = False, f"rejected: {first}"
        elif any(f in out.stderr for f in case.fields):
            out.ok, out.seen = True, f"rejected naming {next(f for f in case.fields if f in out.stderr)}"
        else:
            out.ok, out.seen = False, f"rejected without naming {' or '.join(case.fields)}: {first}"
        return
    kind, name, ns = case.observe
    ready = _condition(obj, "Ready")
    warnings = _warning_on(events, kind, name, ns)
    seen = f"accepted; {kind} {name}: {_summary(obj)}; Warning Events: {sorted(set(warnings)) or 'none'}"
    if case.expect == "reject":
        out.ok, out.seen = False, seen
        return
    if case.expect == "ready":
        out.ok, out.seen = ready.get("status") == "True", seen
        return
    if case.expect == "warn":
        tokened = [
            c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if case.token in str(c.get("message"))
        ]
        out.ok, out.seen = bool(tokened and warnings), seen
        return
    reason, message = str(ready.get("reason") or ""), str(ready.get("message") or "")
    reported = ready.get("status") == "False" and bool(CAMEL.match(reason)) and bool(message.strip()) and bool(warnings)
    if case.expect == "either":
        out.ok, out.seen = ready.get("status") == "True" or reported, seen
        return
    precise = (not case.reasons or reason in case.reasons) and (not case.token or case.token in message)
    out.ok, out.seen = reported and precise, seen


def repeated_tracebacks(log: str) -> list[str]:
    """Tracebacks that appear more than once (same frames, same exception type), with their count."""
    blocks: list[tuple[tuple[str, ...], str]] = []
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("Traceback (most recent call last):"):
            frames: list[str] = []
            i += 1
            while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                if lines[i].strip().startswith("File "):
                    frames.append(lines[i].strip())
                i += 1
            last = lines[i].strip() if i < len(lines) else ""
            blocks.append((tuple(frames), last))
        i += 1
    counts = Counter((frames, last.split(":")[0]) for frames, last in blocks)
    example = {(frames, last.split(":")[0]): last for frames, last in blocks}
    return [f"{n}x {example[key][:200]} (at {key[0][-1] if key[0] else '?'})" for key, n in counts.items() if n > 1]


def _table(rows: list[Outcome]) -> str:
    head = f"{'case':5} {'kind':16} {'item':4} {'mutation':50} {'expected':8} seen"
    lines = [head, "-" * len(head)]
    for r in rows:
        c = r.case
        lines.append(f"{c.cid:5} {c.kind:16} {c.item or '-':4} {c.mutation[:50]:50} {c.expect:8} {r.seen}")
    return "\n".join(lines)


def _delete(cluster: Cluster, kind: str, name: str, namespace: str | None) -> None:
    args = ["delete", KINDS_PLURAL.get(kind, kind), name, "--wait=false", "--ignore-not-found"]
    cluster.kubectl(*args, *(["-n", namespace] if namespace else []), check=False)


def _force_remove_finalizers(cluster: Cluster, kind: str, name: str, namespace: str | None) -> None:
    args = ["patch", KINDS_PLURAL.get(kind, kind), name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}']
    cluster.kubectl(*args, *(["-n", namespace] if namespace else []), check=False)


@pytest.mark.timeout(900)
def test_hostile_objects_are_rejected_or_reported(cluster: Cluster, operator: Operator) -> None:
    run = uuid.uuid4().hex[:5]
    all_cases = cases(SEED, run)
    prefix = f"fz{run}-"
    outcomes = [Outcome(c) for c in all_cases]
    problems: list[str] = []
    system_before = _system_state(cluster)
    namespaces = sorted({ns for c in all_cases for ns in c.namespaces})
    created: list[tuple[str, str, str | None]] = []  # every fuzz object we may have to delete
    t0 = time.monotonic()

    def mark(what: str) -> None:
        print(f"[fuzz {time.monotonic() - t0:5.0f} s] {what}", flush=True)

    try:
        # 1. namespaces, then the objects of other owners the hostile inputs collide with
        docs = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {RUN_LABEL: run, "team": "blue"}},
            }
            for ns in namespaces
        ]
        cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
        foreign = [o for c in all_cases for o in c.foreign]
        foreign_before: dict[tuple[str, str, str | None], dict[str, Any]] = {}
        for obj in foreign:
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref["uid"].startswith("@"):
                    kind, _, owner = ref["uid"][1:].partition("/")
                    ref["uid"] = cluster.get(kind, owner, obj["metadata"]["namespace"])["metadata"]["uid"]  # type: ignore[index]
            cluster.kubectl("create", "-f", "-", input=json.dumps(obj))
        for obj in foreign:
            snap = _snapshot(cluster.get(obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"]))
            assert snap is not None, f"foreign {_meta(obj)} vanished right after it was created"
            foreign_before[_meta(obj)] = snap
        ns_before = _namespaces(cluster, namespaces)

        mark(f"{len(namespaces)} namespaces and {len(foreign)} foreign objects created")
        # 2. valid objects of ours the cases build on (first Tenants of overlapping pairs, ...)
        setup = [o for c in all_cases for o in c.setup]
        for obj in setup:
            rc, err = _ssa(cluster, obj)
            assert rc == 0, f"setup object {_meta(obj)} was refused: {err}"
            created.append(_meta(obj))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tenants = {t["metadata"]["name"]: t for t in _kubectl_json(cluster, "tenants")}
            if all(_condition(tenants.get(o["metadata"]["name"]), "Ready") for o in setup if o["kind"] == "Tenant"):
                break
            time.sleep(2)

        mark(f"{len(setup)} setup objects applied")

        # 3. the hostile objects (4 kubectl at a time), then what depends on them
        def apply_case(out: Outcome) -> None:
            rc, err = _ssa(cluster, out.case.subject)
            out.rejected, out.stderr = rc != 0, err
            if rc != 0:
                return
            created.append(_meta(out.case.subject))
            for dep in out.case.dependents:
                rc, err = _ssa(cluster, dep)
                if rc != 0:
                    out.harness_error = f"dependent {_meta(dep)} refused: {err[:200]}"
                    return
                created.append(_meta(dep))

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(apply_case, outcomes))
        applied_in = time.monotonic() - started
        for out in outcomes:
            for obj in out.case.delete_after:
                if not out.rejected:
                    _delete(cluster, obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))

        mark(f"{len(outcomes)} hostile objects applied, {sum(o.rejected for o in outcomes)} rejected")
        # 4. one deadline for every accepted case to be reported (or Ready)
        pending = [o for o in outcomes if not o.rejected and not o.harness_error and o.case.expect != "reject"]
        deadline = time.monotonic() + REPORT_DEADLINE
        while True:
            operator.assert_alive()
            isvcs = {
                (s["metadata"]["namespace"], s["metadata"]["name"]): s
                for s in _kubectl_json(cluster, "inferenceservices", "-A")
            }
            tenants = {t["metadata"]["name"]: t for t in _kubectl_json(cluster, "tenants")}
            events = _kubectl_json(cluster, "events", "-A", "--field-selector", "type=Warning")
            for out in outcomes:
                kind, name, ns = out.case.observe
                obj = isvcs.get((ns, name)) if kind == "InferenceService" else tenants.get(name)
                judge(out, obj, events)
            if all(o.ok for o in pending) or time.monotonic() > deadline:
                break
            time.sleep(3)
        reported_in = time.monotonic() - started

        mark(f"{sum(bool(o.ok) for o in pending)} of {len(pending)} accepted cases settled")
        # 5. steady state: nothing written by the operator for three drift intervals
        ours = set(namespaces) | set(SYSTEM_NAMESPACES)

        def concerns_us(event: dict[str, Any]) -> bool:
            ref = event.get("objectRef") or {}
            if ref.get("namespace"):
                return ref["namespace"] in ours
            return str(ref.get("name", "")).startswith(prefix) or ref.get("name") in ours

        # Steady state is reached once the last pods started and their status was written: the first window
        # with no write at all counts, within STEADY_DEADLINE (an operator that keeps writing never gets one).
        steady_deadline = time.monotonic() + STEADY_DEADLINE
        while True:
            quiet_from = time.time()
            time.sleep(STEADY_WINDOW)
            writes = cluster.audit_writes_matching(quiet_from, concerns_us)
            if not writes or time.monotonic() > steady_deadline:
                break
        mark(f"steady state {'reached' if not writes else 'not reached'}")
        if writes:
            counted = Counter(
                f"{w.get('verb')} {w['objectRef'].get('resource')}"
                f"{'/' + w['objectRef']['subresource'] if w['objectRef'].get('subresource') else ''} "
                f"{w['objectRef'].get('namespace') or '-'}/{w['objectRef'].get('name') or '?'}"
                for w in writes
            )
            problems.append(
                f"steady state: the operator wrote {len(writes)} times in {STEADY_WINDOW} s:\n    "
                + "\n    ".join(f"{n}x {what}" for what, n in counted.most_common(25))
            )

        # 6. no object of another owner modified, nothing in the system namespaces touched
        def check_foreign(when: str) -> None:
            for key, before in foreign_before.items():
                now = _snapshot(cluster.get(key[0], key[1], key[2]))
                if now is None:
                    problems.append(f"{when}: foreign {key[0]} {key[2]}/{key[1]} was deleted")
                elif now != before:
                    problems.append(
                        f"{when}: foreign {key[0]} {key[2]}/{key[1]} was modified: " + "; ".join(_diff(before, now))
                    )
            for item in _diff(system_before, _system_state(cluster)):
                problems.append(f"{when}: system object changed: {item}")

        check_foreign("after the fuzz")

        # 7. tracebacks
        for line in repeated_tracebacks(operator.log()):
            problems.append(f"operator log: repeated traceback {line}")

        mark("steady state, foreign objects and log checked")
        # 8. delete every fuzz custom object; all must go within the bound; GC must spare the foreign ones
        kinds_of_run = [("InferenceService", n, ns) for (ns, n) in isvcs if ns in ours or n.startswith(prefix)]
        for kind in ("Tenant", "GPUClass", "CostPolicy"):
            kinds_of_run += [
                (kind, o["metadata"]["name"], None)
                for o in _kubectl_json(cluster, KINDS_PLURAL[kind])
                if o["metadata"]["name"].startswith(prefix)
            ]
        remaining = sorted(set(kinds_of_run) | set(created), key=str)
        remaining = [r for r in remaining if r[0] in KINDS_PLURAL]
        for kind, name, ns in remaining:
            _delete(cluster, kind, name, ns)
        deadline = time.monotonic() + DELETE_DEADLINE
        while remaining and time.monotonic() < deadline:
            time.sleep(2)
            live = {
                (kind, o["metadata"]["name"], o["metadata"].get("namespace"))
                for kind, plural in KINDS_PLURAL.items()
                for o in _kubectl_json(cluster, plural, *(["-A"] if kind == "InferenceService" else []))
            }
            remaining = [r for r in remaining if r in live]
        for kind, name, ns in remaining:
            problems.append(f"deletion: {kind} {ns or '-'}/{name} still there after {DELETE_DEADLINE} s")
            _force_remove_finalizers(cluster, kind, name, ns)
        time.sleep(GC_GRACE)
        check_foreign("after deleting the fuzz objects")
        ns_after = _namespaces(cluster, namespaces)
        for ns in namespaces:
            now = ns_after.get(ns)
            if now is not None and ns_before.get(ns) is not None and now["labels"] != ns_before[ns]["labels"]:  # type: ignore[index]
                problems.append(
                    f"namespace {ns}: labels left behind after its Tenant was deleted: "
                    + "; ".join(_diff(ns_before[ns]["labels"] or {}, now["labels"] or {}))  # type: ignore[index]
                    + "; added: "
                    + ", ".join(sorted(set(now["labels"] or {}) - set(ns_before[ns]["labels"] or {})))  # type: ignore[index]
                )

        mark("fuzz objects deleted")
        # 9. every fuzz namespace disappears
        cluster.kubectl("delete", "namespace", "-l", f"{RUN_LABEL}={run}", "--wait=false", check=False)
        stray = [n["metadata"]["name"] for n in _kubectl_json(cluster, "namespaces")]
        stray = [n for n in stray if n.startswith(prefix) and n not in namespaces]
        for ns in stray:  # created by someone else than this test (a Tenant listing a missing namespace)
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        deadline = time.monotonic() + DELETE_DEADLINE
        left: list[str] = namespaces + stray
        while left and time.monotonic() < deadline:
            live = {n["metadata"]["name"] for n in _kubectl_json(cluster, "namespaces")}
            left = [ns for ns in namespaces + stray if ns in live]
            time.sleep(3)
        for ns in left:
            problems.append(f"deletion: namespace {ns} still there after {DELETE_DEADLINE} s")
    finally:
        # Leave the cluster usable for the tests after this one, whatever happened above.
        for kind, name, ns in created:
            _delete(cluster, kind, name, ns)
        for kind, name, ns in created:
            _force_remove_finalizers(cluster, kind, name, ns)
        cluster.kubectl(
            "delete",
            "inferenceservice",
            "kubernetes",
            "-n",
            "default",
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )
        _force_remove_finalizers(cluster, "InferenceService", "kubernetes", "default")
        cluster.kubectl("delete", "namespace", "-l", f"{RUN_LABEL}={run}", "--wait=false", check=False)
        for ns in SYSTEM_NAMESPACES:
            before = system_before.get(f"namespace {ns}")
            now = _namespace_snapshot(cluster.get("namespace", ns))
            if before is not None and now is not None:
                for key in set(now["labels"] or {}) - set(before["labels"] or {}):
                    cluster.kubectl("label", "namespace", ns, f"{key}-", check=False)
            for kind in ("resourcequota", "limitrange"):
                cluster.kubectl("delete", kind, "inferop-tenant", "-n", ns, "--ignore-not-found", check=False)

    mark("namespaces deleted")
    failed = [o for o in outcomes if not o.ok]
    by_item = Counter(o.case.item or "-" for o in failed)
    header = (
        f"seed {SEED}, run {run}: {len(outcomes)} cases "
        f"({', '.join(f'{k} {n}' for k, n in sorted(Counter(c.kind for c in all_cases).items()))}), "
        f"{sum(o.rejected for o in outcomes)} rejected at admission, applied in {applied_in:.0f} s, "
        f"settled in {reported_in:.0f} s; {len(failed)} cases failed "
        f"(by issue item: {', '.join(f'{k}: {n}' for k, n in sorted(by_item.items()))})"
    )
    print(header)
    if failed or problems:
        text = header + "\n\n" + (_table(failed) if failed else "no failing case")
        if problems:
            text += "\n\nother checks:\n  " + "\n  ".join(problems)
        pytest.fail(text, pytrace=False)
