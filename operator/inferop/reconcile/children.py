"""Apply objects only where they drifted: the shared executor of every reconcile loop."""

from __future__ import annotations

import datetime
import logging
from typing import Any, Protocol

from inferop.reconcile import plan
from inferop.reconcile.kube import Kube, path_of

log = logging.getLogger(__name__)


class Reader(Protocol):
    """Where a reconcile reads live objects: the API (``Kube``) or the operator's watch-fed cache
    (``inferop.reconcile.context.IndexReader``). None means "does not exist"."""

    def get(self, url: str) -> dict[str, Any] | None: ...


def remember_write(reader: Reader, obj: dict[str, Any]) -> None:
    """Tell a caching reader what an apply returned, so its next read does not predate our own write."""
    applied = getattr(reader, "applied", None)
    if applied is not None:
        applied(obj)


def remember_delete(reader: Reader, url: str) -> None:
    """Tell a caching reader that we deleted ``url``."""
    deleted = getattr(reader, "deleted", None)
    if deleted is not None:
        deleted(url)


class ReadOnce:
    """A reader that reads each URL at most once per reconcile (the HPA is looked at twice)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.seen: dict[str, dict[str, Any] | None] = {}

    def get(self, url: str) -> dict[str, Any] | None:
        if url not in self.seen:
            self.seen[url] = self.reader.get(url)
        return self.seen[url]

    def applied(self, obj: dict[str, Any]) -> None:
        self.seen[path_of(obj)] = obj
        remember_write(self.reader, obj)

    def deleted(self, url: str) -> None:
        self.seen[url] = None
        remember_delete(self.reader, url)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    return f"{obj['kind']} {where}"


def ensure_objects(
    kube: Kube, objects: list[dict[str, Any]], reader: Reader | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read each object (from ``reader``, default the API); server-side apply it only when missing or
    drifted. Returns the live objects (in order) and a description of each write, so an undrifted set
    costs reads only."""
    read = reader if reader is not None else kube
    live_objects: list[dict[str, Any]] = []
    applied: list[str] = []
    for obj in objects:
        live = read.get(path_of(obj))
        if live is None or not plan.is_subset(obj, live):
            verb = "Created" if live is None else "Updated"
            live = kube.apply(obj)
            remember_write(read, live)
            applied.append(describe(obj))
            log.info("%s %s", verb, describe(obj))
        live_objects.append(live)
    return live_objects, applied
