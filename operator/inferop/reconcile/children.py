"""Apply objects only where they drifted: the shared executor of every reconcile loop."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from inferop.reconcile import plan
from inferop.reconcile.kube import Kube, path_of

log = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    return f"{obj['kind']} {where}"


def ensure_objects(kube: Kube, objects: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Read each object; server-side apply it only when missing or drifted. Returns the live objects
    (in order) and a description of each write, so an undrifted set costs reads only."""
    live_objects: list[dict[str, Any]] = []
    applied: list[str] = []
    for obj in objects:
        live = kube.get(path_of(obj))
        if live is None or not plan.is_subset(obj, live):
            verb = "Created" if live is None else "Updated"
            live = kube.apply(obj)
            applied.append(describe(obj))
            log.info("%s %s", verb, describe(obj))
        live_objects.append(live)
    return live_objects, applied
