"""kopf's diff-base storage, bounded: a digest of the last handled essence, never a copy of it.

kopf's ``AnnotationsDiffBaseStorage`` copies the object's spec, labels and annotations into one
annotation. An object with 128 KiB of annotations (or a 256 KiB spec) then needs more than the API
server's 256 KiB of annotations, every bookkeeping patch fails with 422, and because the finalizer is
removed in such a patch too, deletion (and the deletion of the namespace) hangs forever.

inferop's handlers are level-based and never read kopf's ``old``/``new``/``diff``: kopf only has to
tell "changed since last handled" from "unchanged". So this storage keeps

- the essence without ``metadata.annotations`` (users' and tools' annotations are no input of ours;
  a change of one alone is not a reason to reconcile), and
- in the annotation, ``sha256:<hex>`` of that essence (71 bytes, whatever the object's size), and
  nothing once the object is being deleted (the patch that removes our finalizer adds no bytes) or
  when the users' annotations leave no room for it.

``fetch`` returns the current essence when the digest matches (no change) and an empty essence when
it does not (a change: kopf calls the update handlers, which reconcile from the whole object). An
annotation written by kopf's own storage (JSON) is still read, so an upgrade reconciles once.

It does not support handlers with ``field=`` filters (kopf's ``extra_fields``): they would see a
change on every event. inferop registers none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, cast

import kopf

DIGEST_PREFIX = "sha256:"
#: The API server's limit on an object's annotations, keys and values together (ValidateAnnotationsSize).
ANNOTATIONS_LIMIT = 256 * 1024


def digest(essence: Any) -> str:
    """A stable digest of an essence (key order does not matter)."""
    text = json.dumps(essence, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DIGEST_PREFIX + hashlib.sha256(text.encode()).hexdigest()


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """``AnnotationsDiffBaseStorage`` that stores a digest of the essence, without annotations."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        metadata = cast(dict[str, Any], essence).get("metadata")
        if isinstance(metadata, dict):
            metadata.pop("annotations", None)
            if not metadata:
                cast(dict[str, Any], essence).pop("metadata")
        return essence

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        for full_key in self.make_keys(self.key, body=body):
            stored = body.metadata.annotations.get(full_key)
            if stored is None:
                continue
            stored = stored.strip()
            if not stored.startswith(DIGEST_PREFIX):
                return cast(kopf.BodyEssence, json.loads(stored))  # written by kopf's own storage
            current = self.build(body=body)
            return current if digest(current) == stored else cast(kopf.BodyEssence, {})
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if body.metadata.deletion_timestamp:
            return  # the patch that removes the finalizer carries no annotation of ours
        ours = {key: digest(essence) for key in self.make_keys(self.key, body=body)}
        marker = kopf.Patch()
        self._store_marker(prefix=self.prefix, patch=marker, body=body)
        ours.update(marker.get("metadata", {}).get("annotations", {}))
        annotations = {**body.metadata.annotations, **ours}
        if sum(len(k) + len(v or "") for k, v in annotations.items()) > ANNOTATIONS_LIMIT:
            # Users' annotations leave no room: store nothing rather than a patch the API server
            # refuses forever. kopf then treats the next event as a creation; our handlers are
            # level-based, so that is one more idempotent reconcile.
            return
        for key, value in ours.items():
            patch.metadata.annotations[key] = value
