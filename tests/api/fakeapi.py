"""A tiny in-memory Kubernetes API for the kmock tier.

``FakeAPI`` answers GET, server-side apply, JSON merge patches of ``/status`` and DELETE from a dict, at
a low kmock priority: a test injects a fault (409, 5xx) with an ordinary ``kmock[...] << ...`` reaction,
which wins over it. Every request stays recorded in ``kmock`` for assertions.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import kmock as kmocklib
from kmock import Response  # type: ignore[attr-defined]  # public, though not in kmock.__all__


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": code,
            "reason": reason, "message": message}


def failure(code: int, reason: str, message: str) -> Response:
    return Response(status=code, payload=status_body(code, reason, message))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeAPI:
    """Objects by URL path; server-side apply creates or replaces our fields, status is separate."""

    def __init__(self, kmock: kmocklib.RawHandler) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self._uid = 0
        low = kmock ** -1  # below the tests' own reactions, above the scaffold's 404 fallback
        low["get"] << self._get
        low["patch"] << self._patch
        low["delete"] << self._delete

    def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[path] = copy.deepcopy(obj)
        return self.objects[path]

    def _get(self, request: kmocklib.Request) -> Response:
        obj = self.objects.get(request.url.path)
        if obj is None and request.url.path.endswith("/pods"):
            return Response(status=200, payload={"kind": "PodList", "items": self._list(request)})
        if obj is None:
            return failure(404, "NotFound", f"{request.url.path} not found")
        return Response(status=200, payload=obj)

    def _list(self, request: kmocklib.Request) -> list[dict[str, Any]]:
        """A collection: the objects directly under the path, filtered by an equality labelSelector."""
        prefix = request.url.path + "/"
        selector = request.url.query.get("labelSelector") or ""
        wanted = dict(pair.split("=", 1) for pair in selector.split(",") if "=" in pair)
        return [
            obj
            for path, obj in self.objects.items()
            if path.startswith(prefix) and "/" not in path.removeprefix(prefix)
            and wanted.items() <= ((obj.get("metadata") or {}).get("labels") or {}).items()
        ]

    def _patch(self, request: kmocklib.Request) -> Response:
        path = request.url.path
        content_type = request.headers.get("Content-Type", "")
        body = json.loads(request.body)
        if path.endswith("/status") and content_type == "application/merge-patch+json":
            base = path.removesuffix("/status")
            if base not in self.objects:
                return failure(404, "NotFound", f"{base} not found")
            current = self.objects[base]
            current["status"] = merge_patch(current.get("status") or {}, body.get("status") or {})
            return Response(status=200, payload=current)
        if content_type == "application/apply-patch+yaml":
            old = self.objects.get(path)
            new = copy.deepcopy(body)
            meta = new.setdefault("metadata", {})
            if old is None:
                self._uid += 1
                meta |= {"uid": f"uid-{self._uid}", "generation": 1, "resourceVersion": "1"}
            else:
                changed = old.get("spec") != new.get("spec")
                meta |= {"uid": old["metadata"]["uid"],
                         "generation": old["metadata"]["generation"] + (1 if changed else 0),
                         "resourceVersion": str(int(old["metadata"]["resourceVersion"]) + 1)}
                if "status" in old:
                    new["status"] = old["status"]
            self.objects[path] = new
            return Response(status=200, payload=new)
        return failure(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")

    def _delete(self, request: kmocklib.Request) -> Response:
        if self.objects.pop(request.url.path, None) is None:
            return failure(404, "NotFound", f"{request.url.path} not found")
        return Response(status=200, payload={"kind": "Status", "status": "Success"})
