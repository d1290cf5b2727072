"""Wait for CustomResourceDefinitions to become Established, by polling (issue 17, item 14).

``kubectl wait --for=condition=Established crd/x`` on a CRD created a moment before can fail at once
instead of waiting: until the apiextensions controller writes the CRD's status, the API server serves
``status.conditions: null`` (the v1 field has no ``omitempty``), and kubectl's condition check treats
a null list as an error (".status.conditions accessor error: <nil> is of the type <nil>, expected
[]interface{}"), not as "not yet". An absent list would be polled; a null one is not.

This module polls ``kubectl get crd`` until every named CRD has ``Established=True``, and on timeout
raises :class:`NotEstablished` naming each CRD that did not make it and what was last seen. It is the
one Python copy, part of the harness (tests/harness) that the cluster tests (tests/cluster) and the
scale bench (bench/scale) share; the shell scripts use ``wait_established`` in hack/lib.sh. Standard
library only: it runs ``kubectl`` with the caller's environment (KUBECONFIG, PATH).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Mapping
from typing import Any

CRD_PREFIXES = ("customresourcedefinition.apiextensions.k8s.io/", "customresourcedefinitions/", "crd/")


class NotEstablished(TimeoutError):
    """Some CRDs did not become Established in time; the message names each one and why."""


def crd_names(text: str) -> list[str]:
    """The CRD names in ``kubectl apply -o name`` output (other kinds are skipped), in order."""
    names = []
    for line in text.split():
        if line.startswith(CRD_PREFIXES[0]):
            names.append(line.removeprefix(CRD_PREFIXES[0]))
    return names


def _bare(name: str) -> str:
    for prefix in CRD_PREFIXES:
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def _why_not(crd: dict[str, Any] | None) -> str | None:
    """None when ``crd`` is Established=True, else what is missing, for the timeout message."""
    if crd is None:
        return "not found"
    conditions = (crd.get("status") or {}).get("conditions")
    if not conditions:
        return "no status conditions written yet"
    by_type = {c.get("type"): c for c in conditions}
    established, names = by_type.get("Established"), by_type.get("NamesAccepted")
    if established and established.get("status") == "True":
        return None
    why = (
        f"Established={established.get('status')} ({established.get('reason', '')}: {established.get('message', '')})"
        if established
        else "no Established condition yet"
    )
    if names and names.get("status") != "True":
        why += f"; NamesAccepted={names.get('status')} ({names.get('reason', '')}: {names.get('message', '')})"
    return why


def wait_established(
    names: Iterable[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    interval: float = 0.2,
) -> float:
    """Poll until every CRD in ``names`` has condition ``Established=True``; return the seconds waited.

    ``names`` may be bare (``gpuclasses.inferop.dev``) or as kubectl prints them
    (``customresourcedefinition.apiextensions.k8s.io/gpuclasses.inferop.dev``, ``crd/...``).
    A CRD not found yet, one without status, and a kubectl call that fails (API server restarting) all
    count as "not yet". Raises :class:`NotEstablished` after ``timeout`` seconds.
    """
    pending = list(dict.fromkeys(_bare(n) for n in names))
    if not pending:
        raise ValueError("wait_established: no CRD names given")
    start = time.monotonic()
    deadline = start + timeout
    why: dict[str, str] = {}
    while True:
        try:
            proc = subprocess.run(
                ["kubectl", "get", "crd", *pending, "--ignore-not-found", "-o", "json", "--request-timeout=10s"],
                capture_output=True,
                text=True,
                env=dict(env) if env is not None else None,
                timeout=30,
            )
        except subprocess.TimeoutExpired:
            proc = subprocess.CompletedProcess([], 1, "", "kubectl get did not answer in 30 s")
        if proc.returncode == 0:
            found: dict[str, dict[str, Any]] = {}
            if proc.stdout.strip():
                doc = json.loads(proc.stdout)
                for item in doc.get("items", [doc]) if doc.get("kind") == "List" else [doc]:
                    found[item["metadata"]["name"]] = item
            why = {}
            for name in pending:
                reason = _why_not(found.get(name))
                if reason is not None:
                    why[name] = reason
            pending = list(why)
            if not pending:
                return time.monotonic() - start
        else:
            why = {name: f"kubectl get failed: {proc.stderr.strip()[-300:]}" for name in pending}
        if time.monotonic() >= deadline:
            detail = "; ".join(f"{name}: {reason}" for name, reason in why.items())
            raise NotEstablished(f"{len(why)} CRD(s) not Established after {timeout:.0f}s: {detail}")
        time.sleep(interval)
