"""The activator's Kubernetes side: watch InferenceServices and the EndpointSlices of their pods
Services, and patch the activation annotation. I/O, asynchronous (aiohttp against the API server; no
kopf, no threads).

What it reads and writes, exactly (the chart's activator ClusterRole grants only this):
- ``inferop.dev/v1alpha1`` ``inferenceservices``: list + watch (which services exist, their
  ``spec.autoscaling.scaleToZero`` limits), and patch (JSON merge patch of one annotation,
  ``inferop.dev/activation-requested``; the chart's ValidatingAdmissionPolicy refuses any other change
  by the activator's ServiceAccount).
- ``discovery.k8s.io/v1`` ``endpointslices``: list + watch, only those labelled
  ``inferop.dev/inferenceservice`` (the ``<name>-pods`` Services carry the label; the EndpointSlice
  controller copies a Service's labels to its slices).

Credentials: in a pod, the ServiceAccount token (re-read on every (re)connect: bound tokens rotate)
and CA; elsewhere the kubeconfig, through the ``kubernetes`` client's loader.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from inferop.activator.contract import API_GROUP, API_VERSION, PLURAL, activation_patch
from inferop.activator.discovery import Directory, key_of, limits_of, slice_entry
from inferop.activator.hold import Limits
from inferop.activator.routing import Backend, ServiceKey

log = logging.getLogger(__name__)

#: Label on the pods Services (and so their EndpointSlices) the activator watches.
ISVC_LABEL = "inferop.dev/inferenceservice"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Server-side timeout of one watch request; the watch then resumes from the last resourceVersion.
WATCH_SECONDS = 300


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass
class ApiConfig:
    """Where the API server is and how to authenticate to it."""

    host: str
    ssl: ssl.SSLContext | bool
    token: Callable[[], str | None] = field(default=lambda: None)

    def headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}


def load_api_config() -> ApiConfig:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if host and port and (SA_DIR / "token").exists():
        bracketed = f"[{host}]" if ":" in host else host
        return ApiConfig(
            f"https://{bracketed}:{port}",
            ssl.create_default_context(cafile=str(SA_DIR / "ca.crt")),
            lambda: (SA_DIR / "token").read_text().strip(),
        )
    from kubernetes import client, config  # the kubeconfig loader (exec plugins, client certificates)

    cfg = client.Configuration()
    config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    context: ssl.SSLContext | bool
    if cfg.host.startswith("https"):
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert) if cfg.verify_ssl else False
        if isinstance(context, ssl.SSLContext) and cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, cfg.key_file)
    else:
        context = False
    auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    token = auth.split(" ", 1)[1] if auth and auth.lower().startswith("bearer ") else auth
    return ApiConfig(cfg.host.rstrip("/"), context, lambda: token)


class Api:
    def __init__(self, config: ApiConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        return self.config.host + path + ("?" + urlencode(query) if query else "")

    async def list(self, path: str, query: Mapping[str, str]) -> dict[str, Any]:
        async with self.session.get(self.url(path, query), headers=self.config.headers(), ssl=self.config.ssl) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise ApiError(resp.status, _message(text))
            return dict(json.loads(text))

    async def patch_merge(self, path: str, patch: Mapping[str, Any], field_manager: str) -> None:
        headers = {**self.config.headers(), "Content-Type": "application/merge-patch+json"}
        url = self.url(path, {"fieldManager": field_manager})
        async with self.session.patch(url, data=json.dumps(patch), headers=headers, ssl=self.config.ssl) as resp:
            if resp.status >= 300:
                raise ApiError(resp.status, _message(await resp.text()))

    async def watch(self, path: str, query: Mapping[str, str], on_event: Callable[[str, dict[str, Any]], None]) -> str:
        """One watch request; calls ``on_event(type, object)`` per event, returns the last resourceVersion.
        Raises ``ApiError(410)`` when the resourceVersion is too old (the caller relists)."""
        last = query["resourceVersion"]
        params = {**query, "watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": str(WATCH_SECONDS)}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=WATCH_SECONDS + 30)
        async with self.session.get(self.url(path, params), headers=self.config.headers(), ssl=self.config.ssl,
                                    timeout=timeout) as resp:
            if resp.status != 200:
                raise ApiError(resp.status, _message(await resp.text()))
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise ApiError(int(obj.get("code") or 500), str(obj.get("message")))
                last = (obj.get("metadata") or {}).get("resourceVersion") or last
                if kind != "BOOKMARK":
                    on_event(str(kind), obj)
        return str(last)


def _message(text: str) -> str:
    try:
        return str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        return text[:500]


class Watcher:
    """Keeps a Directory in step with the cluster: list, then watch, relist on 410 or error."""

    def __init__(self, api: Api, directory: Directory, namespaces: list[str] | None = None) -> None:
        self.api = api
        self.directory = directory
        self.namespaces = namespaces or [""]
        for source in self._sources():
            directory.expect(source)

    def _sources(self) -> list[str]:
        return [f"{kind}:{ns or '*'}" for kind in ("isvc", "eps") for ns in self.namespaces]

    @staticmethod
    def _path(kind: str, namespace: str) -> str:
        ns = f"/namespaces/{namespace}" if namespace else ""
        if kind == "isvc":
            return f"/apis/{API_GROUP}/{API_VERSION}{ns}/{PLURAL}"
        return f"/apis/discovery.k8s.io/v1{ns}/endpointslices"

    def tasks(self) -> list[asyncio.Task[None]]:
        loop = asyncio.get_running_loop()
        return [loop.create_task(self._run(kind, ns)) for kind in ("isvc", "eps") for ns in self.namespaces]

    async def _run(self, kind: str, namespace: str) -> None:
        source = f"{kind}:{namespace or '*'}"
        path = self._path(kind, namespace)
        query = {"labelSelector": ISVC_LABEL} if kind == "eps" else {}
        backoff = 1.0
        while True:
            try:
                listed = await self.api.list(path, query)
                self._replace(kind, namespace, listed.get("items") or [])
                self.directory.mark_synced(source)
                version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
                log.info("Listed %d %s (%s)", len(listed.get("items") or []),
                         "InferenceServices" if kind == "isvc" else "EndpointSlices", namespace or "all namespaces")
                backoff = 1.0
                on_event = functools.partial(self._event, kind)
                while True:
                    version = await self.api.watch(path, {**query, "resourceVersion": version}, on_event)
            except asyncio.CancelledError:
                raise
            except ApiError as err:
                if err.status != 410:
                    log.warning("Watching %s failed (%s); relisting in %.0fs", path, err, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as err:
                log.warning("Watching %s failed (%s); relisting in %.0fs", path, err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _replace(self, kind: str, namespace: str, items: list[dict[str, Any]]) -> None:
        scope = namespace or None
        if kind == "isvc":
            services: dict[ServiceKey, Limits] = {}
            for obj in items:
                key = key_of(obj)
                if key is not None:
                    services[key] = limits_of(obj, self.directory.default_limits)
            self.directory.replace_services(services, scope)
            return
        slices: dict[str, tuple[ServiceKey, tuple[Backend, ...]]] = {}
        for obj in items:
            entry = slice_entry(obj)
            if entry is not None:
                slices[entry[0]] = (entry[1], entry[2])
        self.directory.replace_slices(slices, scope)

    def _event(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        if kind == "isvc":
            key = key_of(obj)
            if key is None:
                return
            if type_ == "DELETED":
                self.directory.remove_service(key)
            else:
                self.directory.set_service(key, limits_of(obj, self.directory.default_limits))
            return
        entry = slice_entry(obj)
        if entry is None:
            return
        source, key, backends = entry
        self.directory.set_backends(key, () if type_ == "DELETED" else backends, source)


class AnnotationSignaller:
    """Tells the operator a service has demand: a JSON merge patch of the InferenceService's
    ``inferop.dev/activation-requested`` annotation (contract.activation_patch)."""

    FIELD_MANAGER = "inferop-activator"

    def __init__(self, api: Api) -> None:
        self.api = api

    async def signal(self, key: ServiceKey, when: datetime) -> None:
        path = f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{key.namespace}/{PLURAL}/{key.name}"
        await self.api.patch_merge(path, activation_patch(when), self.FIELD_MANAGER)
