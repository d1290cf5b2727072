"""One reconcile per InferenceService at a time; triggers that arrive meanwhile collapse into one re-run.

Without this, the kopf handler of the InferenceService, one kopf worker per child object (Deployment,
Service and HPA each have their own event stream), the drift timer and the cost controller reconcile the
same service at once, each from its own copy of its status: the same child applied twice, the same status
patched twice, the same Event posted twice. (controller-runtime's work queue gives Go operators this
guarantee: one worker per key, and keys added while it runs are processed once more afterwards.)

- ``exclusive(key, fn)``: kopf handlers (create/update/resume, the drift timer) and the cost controller.
  Blocks until no run for ``key`` is in progress, then calls ``fn(waited)``; ``waited`` tells it that
  another run finished meanwhile. ``reconciles=False`` (the cost controller's status write) leaves a
  queued trigger to run afterwards.
- ``trigger(key, fn)``: events of children, GPUClasses and Tenants. Runs ``fn`` now or, when a run is in
  progress, once after it: any number of triggers during one run become one more run (``fn`` reads the
  object afresh). A waiting ``exclusive`` run replaces the queued trigger, since it reads afresh too.
- ``wrote(key, obj)`` / ``is_current(key, body)``: the resourceVersion of the last status written per
  key, so a run can tell whether the body kopf handed it (from the watch stream, a moment behind)
  already holds that status, or must be read again. resourceVersions are compared as the integers
  etcd makes them; anything else counts as "not known to be current".

Threads only (the kubernetes client blocks); no I/O here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class KeyedRunner:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy: set[Hashable] = set()
        self._waiting: dict[Hashable, int] = {}
        self._pending: dict[Hashable, Callable[[], None]] = {}
        self._written: dict[Hashable, str] = {}

    def exclusive(self, key: Hashable, fn: Callable[[bool], T], reconciles: bool = True) -> T:
        with self._cond:
            waited = key in self._busy
            if waited:
                self._waiting[key] = self._waiting.get(key, 0) + 1
                while key in self._busy:
                    self._cond.wait()
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]
            self._busy.add(key)
            if reconciles:
                self._pending.pop(key, None)  # a full reconcile from the current state covers a queued trigger
        try:
            return fn(waited)
        finally:
            self._release(key)

    def trigger(self, key: Hashable, fn: Callable[[], None]) -> None:
        with self._cond:
            if key in self._busy:
                self._pending[key] = fn
                return
            self._busy.add(key)
        try:
            fn()
        finally:
            self._release(key)

    def wrote(self, key: Hashable, obj: Mapping[str, Any] | None) -> None:
        version = ((obj or {}).get("metadata") or {}).get("resourceVersion")
        if version is not None:
            with self._cond:
                self._written[key] = str(version)

    def forget(self, key: Hashable) -> None:
        with self._cond:
            self._written.pop(key, None)

    def is_current(self, key: Hashable, body: Mapping[str, Any]) -> bool:
        """Whether ``body`` is at least as new as the last status this process wrote for ``key``."""
        with self._cond:
            written = self._written.get(key)
        if written is None:
            return True
        version = (body.get("metadata") or {}).get("resourceVersion")
        try:
            return int(str(version)) >= int(written)
        except ValueError:
            return False

    def _release(self, key: Hashable) -> None:
        while True:
            with self._cond:
                queued = None if self._waiting.get(key) else self._pending.pop(key, None)
                if queued is None:
                    self._busy.discard(key)
                    self._cond.notify_all()
                    return
            try:
                queued()
            except Exception:  # noqa: BLE001 - a queued trigger's failure is the drift timer's to retry
                log.exception("Reconcile of %s failed; the drift timer will retry", key)
