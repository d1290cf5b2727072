"""Apply objects only where they drifted: the shared executor of every reconcile loop."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any, Protocol, runtime_checkable

from inferop.reconcile import drift
from inferop.reconcile.kube import FIELD_MANAGER, Conflict, Kube, KubeError, Transient, path_of

log = logging.getLogger(__name__)


class Reader(Protocol):
    """Where a reconcile reads live objects: the API (``Kube``) or the operator's watch-fed cache
    (``inferop.reconcile.cache.IndexReader``). None means "does not exist"."""

    def get(self, url: str) -> dict[str, Any] | None: ...


@runtime_checkable
class CachingReader(Reader, Protocol):
    """A reader that keeps copies (``IndexReader``, ``ReadOnce``): told of our own writes, so that its
    next read does not predate them."""

    def applied(self, obj: dict[str, Any]) -> None: ...

    def deleted(self, url: str) -> None: ...


def remember_write(reader: Reader, obj: dict[str, Any]) -> None:
    """Tell a caching reader what an apply returned, so its next read does not predate our own write."""
    if isinstance(reader, CachingReader):
        reader.applied(obj)


def remember_delete(reader: Reader, url: str) -> None:
    """Tell a caching reader that we deleted ``url``."""
    if isinstance(reader, CachingReader):
        reader.deleted(url)


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


def describe(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    return f"{obj['kind']} {where}"


class ChildConflict(KubeError):
    """Objects we would apply exist and are not ours (no controller ownerReference to our owner's uid).

    We never modify, adopt or delete them (STYLE 11a); the owner reports ``Ready=False, ChildConflict``
    naming each one and who owns it, and the next reconcile after the object is gone creates ours.
    """

    def __init__(self, conflicts: list[str], applied: list[str] | None = None) -> None:
        self.conflicts = conflicts
        #: What was written before the conflict was raised (the other objects), for the caller's log.
        self.applied = applied or []
        message = "; ".join(conflicts)
        Exception.__init__(self, message)
        self.status = 409
        self.message = message


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of ``obj``'s controller ownerReference (None: an object with no owner, e.g. a Namespace)."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid"):
            return str(ref["uid"])
    return None


def _our_owner(want: dict[str, Any]) -> dict[str, Any]:
    refs: list[dict[str, Any]] = want["metadata"].get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), {})


def owner_of(live: dict[str, Any], want: dict[str, Any]) -> str:
    """Who owns ``live`` instead of us, in words: its controller, else its field managers."""
    meta = live.get("metadata") or {}
    ours = _our_owner(want)
    controller = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if controller is not None:
        if (controller.get("kind"), controller.get("name")) == (ours.get("kind"), ours.get("name")):
            return (
                f"it is controlled by an earlier {controller.get('kind')} {controller.get('name')} "
                f"(uid {controller.get('uid')}) that the garbage collector has not removed yet"
            )
        return f"it is controlled by {controller.get('kind')} {controller.get('name')}"
    managers = sorted({str(m.get("manager")) for m in meta.get("managedFields") or [] if m.get("manager")})
    if managers:
        return f"it has no controller and is managed by {', '.join(managers)}"
    return "it has no controller"


def conflict_message(live: dict[str, Any], want: dict[str, Any]) -> str:
    ours = _our_owner(want)
    return (
        f"{describe(want)} already exists and does not belong to {ours.get('kind')} {ours.get('name')}: "
        f"{owner_of(live, want)}; inferop leaves it untouched (delete or rename it, or choose another name)"
    )


def _reads_api(reader: Reader, kube: Kube) -> bool:
    while isinstance(reader, ReadOnce):
        reader = reader.reader
    return reader is kube


def ensure_objects(
    kube: Kube, objects: list[dict[str, Any]], reader: Reader | None = None, all_or_nothing: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read each object (from ``reader``, default the API); server-side apply it only when missing or
    drifted. Returns the live objects (in order) and a description of each write, so an undrifted set
    costs reads only.

    An object with a controller ownerReference is applied only over an object controlled by that same
    owner (uid): one that exists without it belongs to someone else and is never written. Before a
    create, an object the reader (a cache of labelled objects) does not know is confirmed missing with
    a GET. Conflicts raise ``ChildConflict`` after the other objects were applied, or before anything
    was written when ``all_or_nothing``.
    """
    read = reader if reader is not None else kube
    confirm = not _reads_api(read, kube)
    found: list[dict[str, Any] | None] = []
    conflicts: list[str] = []
    for obj in objects:
        url = path_of(obj)
        live = read.get(url)
        owner = controller_uid(obj)
        if live is None and confirm and owner is not None:
            live = kube.get(url)
        if live is not None and owner is not None and not drift.is_owned_by(live, owner):
            conflicts.append(conflict_message(live, obj))
            live = _CONFLICT
        found.append(live)
    if conflicts and all_or_nothing:
        raise ChildConflict(conflicts)
    live_objects: list[dict[str, Any]] = []
    applied: list[str] = []
    for obj, live in zip(objects, found, strict=True):
        if live is _CONFLICT:
            continue
        if live is None or drift.drifted(obj, live, FIELD_MANAGER):
            verb = "Created" if live is None else "Updated"
            live = apply_unless_refused(kube, obj)
            remember_write(read, live)
            applied.append(describe(obj))
            log.info("%s %s", verb, describe(obj))
        live_objects.append(live)
    if conflicts:
        raise ChildConflict(conflicts, applied)
    return live_objects, applied


_CONFLICT: dict[str, Any] = {}


#: How long the API server's refusal of one exact body stands before that body is sent again. A refused
#: body (422 invalid, 403 forbidden, an admission policy, a schema error) fails the same way on every
#: drift tick; re-sending it would be a write every tick forever ("steady state writes nothing"). A
#: changed body (spec, GPUClass, Tenant) is sent at once; the same body again after this long, in case
#: what refused it (a policy, RBAC) changed. ``Settings.refused_retry`` sets it at startup.
REFUSED_RETRY_SECONDS = 300.0
_refused: dict[str, tuple[str, float, KubeError]] = {}
_refused_lock = threading.Lock()


def _digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def forget_refusals() -> None:
    """Send every refused body again at its next reconcile (tests; a restart does the same)."""
    with _refused_lock:
        _refused.clear()


def apply_unless_refused(kube: Kube, obj: dict[str, Any]) -> dict[str, Any]:
    """``kube.apply(obj)``, except that a body the API server refused within ``REFUSED_RETRY_SECONDS``
    raises that refusal again without a request. Outages (``Transient``) and conflicts are not remembered."""
    url, digest = path_of(obj), _digest(obj)
    with _refused_lock:
        seen = _refused.get(url)
    if seen is not None and seen[0] == digest and time.monotonic() - seen[1] < REFUSED_RETRY_SECONDS:
        raise seen[2]
    try:
        live = kube.apply(obj)
    except (Transient, Conflict):
        raise
    except KubeError as err:
        with _refused_lock:
            _refused[url] = (digest, time.monotonic(), err)
        raise
    with _refused_lock:
        _refused.pop(url, None)
    return live
