"""The only module that talks to the Kubernetes API for the reconcile loop.

A thin, typed layer over the ``kubernetes`` client's REST transport: paths built from apiVersion and
kind (no discovery round trips), server-side apply with our field manager, JSON merge patches of
``/status``. Errors come back as three classes the callers act on: ``NotFound``, ``Conflict``
(retried at once, a few times), and ``Transient`` (5xx/429/connection: the handler backs off).
Blocking: call it from sync kopf handlers or ``asyncio.to_thread``, never from ``async def``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from inferop.api.times import now_iso

FIELD_MANAGER = "inferop"
T = TypeVar("T")

_PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "EndpointSlice": "endpointslices",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges",
    "Namespace": "namespaces",
    "Pod": "pods",
    "Event": "events",
    "InferenceService": "inferenceservices",
    "GPUClass": "gpuclasses",
    "Tenant": "tenants",
    "CostPolicy": "costpolicies",
}


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Transient(KubeError):
    """A server-side or network failure worth retrying later (5xx, 429, connection errors)."""


class Rejected(KubeError):
    """The API server refused the object as sent, although it answered 5xx: the same request fails the
    same way every time, so it is a problem to report, not an outage to wait out."""


#: Messages of HTTP 500 answers that are about the request body, not the server's health. Server-side
#: apply answers 500 when the object does not fit the type's schema (an unknown field in a free-form
#: part we passed through, a wrong type): "failed to create typed patch object (...): .spec.x: field not
#: declared in schema".
PERMANENT_5XX_MARKERS = (
    "field not declared in schema",
    "failed to create typed patch object",
    "failed to create typed live object",
    "expected map, got",
    "expected list, got",
    "expected string, got",
    "expected numeric",
)


def is_permanent_5xx(message: str) -> bool:
    return any(marker in message for marker in PERMANENT_5XX_MARKERS)


def path(
    api_version: str, kind: str, namespace: str | None = None, name: str | None = None, subresource: str | None = None
) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{_PLURALS[kind]}"
    if name:
        base += f"/{name}"
    if subresource:
        base += f"/{subresource}"
    return base


def path_of(obj: dict[str, Any], subresource: str | None = None) -> str:
    meta = obj["metadata"]
    return path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"], subresource)


def _raise_for(status: int, body: bytes | str | None) -> None:
    text = body.decode() if isinstance(body, bytes) else (body or "")
    try:
        message = str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        message = text
    if status == 404:
        raise NotFound(status, message)
    if status == 409:
        raise Conflict(status, message)
    if status >= 500 and is_permanent_5xx(message):
        raise Rejected(status, message)
    if status == 429 or status >= 500:
        raise Transient(status, message)
    raise KubeError(status, message)


#: What may stay raw in an apply body: printable characters YAML reads as themselves. Escaped as
#: ``\\uXXXX`` (all are in the Basic Multilingual Plane, and YAML double-quoted scalars accept such
#: escapes): control characters, DEL, the C1 block (NEL \\x85 is a YAML line break, folded to a space),
#: U+2028/U+2029 (line breaks too), the byte order mark, surrogates, U+FFFE/U+FFFF.
_ESCAPE = re.compile(r"[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def apply_body(obj: Any) -> bytes:
    """``obj`` as a server-side apply body (``application/apply-patch+yaml``) the API server parses for
    every valid string: JSON (which is YAML) in UTF-8, characters outside the Basic Multilingual Plane
    written as themselves (YAML reads an escaped surrogate pair such as ``\\ud83d\\ude80`` as two
    invalid characters, not one emoji: HTTP 400), the rest of what YAML would not read back escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def retry_conflicts(fn: Callable[[], T], attempts: int = 3) -> T:
    """Run ``fn``; on 409 Conflict try again at once (the next attempt re-reads), up to ``attempts``."""
    for attempt in range(attempts):
        try:
            return fn()
        except Conflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def load_config(pool_size: int | None = None) -> None:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG).

    ``pool_size``: keep-alive connections to the API server. The client's default (5 per CPU) is
    below the operator's handler threads; a thread that finds the pool full opens a new TLS
    connection and throws it away afterwards ("Connection pool is full, discarding connection").
    """
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    if pool_size:
        cfg = client.Configuration.get_default_copy()
        cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, pool_size)
        client.Configuration.set_default(cfg)


class Kube:
    def __init__(self, api_client: client.ApiClient | None = None, timeout: float = 30.0) -> None:
        self.api = api_client or client.ApiClient()
        self.timeout = timeout

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            method_, full_url, headers_, body_, _ = self.api.param_serialize(
                method=method, resource_path=url, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            resp = self.api.call_api(
                method_, full_url, header_params=headers_, body=body_, _request_timeout=self.timeout
            )
            data = resp.read()  # type: ignore[no-untyped-call]
        except ApiException as err:
            _raise_for(err.status or 0, err.body)
            raise
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise Transient(0, f"cannot reach the API server: {err}") from None
        if not 200 <= resp.status <= 299:
            _raise_for(resp.status, data)
        return dict(json.loads(data)) if data else {}

    def get(self, url: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", url)
        except NotFound:
            return None

    def list(self, url: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        items = self.request("GET", url, query=query).get("items", [])
        return list(items)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as field manager ``inferop``, taking back fields others changed.

        The body is serialised here (``apply_body``): the client's own ``json.dumps`` escapes an emoji as
        a surrogate pair, which the API server's YAML parser refuses (HTTP 400).
        """
        body = apply_body(obj)
        return retry_conflicts(
            lambda: self.request(
                "PATCH",
                path_of(obj),
                body=body,
                content_type="application/apply-patch+yaml",
                query={"fieldManager": FIELD_MANAGER, "force": "true"},
            )
        )

    def patch_merge(self, url: str, patch: dict[str, Any]) -> dict[str, Any]:
        return retry_conflicts(
            lambda: self.request(
                "PATCH",
                url,
                body=patch,
                content_type="application/merge-patch+json",
                query={"fieldManager": FIELD_MANAGER},
            )
        )

    def post_event(self, involved: Mapping[str, Any], type_: str, reason: str, message: str,
                   component: str = "inferop") -> bool:
        """Record a core/v1 Event about ``involved`` (best effort: an Event is never worth failing for).
        Returns whether the API server took it."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        now = now_iso()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                               "name": meta["name"], "namespace": meta.get("namespace"), "uid": meta.get("uid")},
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.request("POST", path("v1", "Event", namespace), body=event)
        except KubeError:
            return False
        return True

    def delete(self, url: str) -> bool:
        try:
            self.request("DELETE", url, body={"propagationPolicy": "Background"})
            return True
        except NotFound:
            return False
