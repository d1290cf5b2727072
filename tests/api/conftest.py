"""Fixtures for the kmock tier: a ``Kube`` talking HTTP to kmock, and the in-memory ``FakeAPI``.

kmock runs an aiohttp server in the test's event loop; ``Kube`` is synchronous (the kubernetes client),
so tests call it through ``asyncio.to_thread`` and the loop keeps serving.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kmock as kmocklib
import pytest
from kubernetes.client import ApiClient, Configuration

from inferop.reconcile.kube import Kube
from tests.api.fakeapi import FakeAPI


@pytest.fixture()
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    # The stateless scaffold: it answers what the test (or FakeAPI) declares and 404s the rest.
    # (The stateful emulator refuses a PATCH of a missing object, but server-side apply creates it.)
    return {**kmock_options, "cls": kmocklib.KubernetesScaffold}


@pytest.fixture()
def api_client(kmock: kmocklib.RawHandler) -> Iterator[ApiClient]:
    client = ApiClient(Configuration(host=str(kmock.url).rstrip("/")))
    yield client
    client.close()  # type: ignore[no-untyped-call]


@pytest.fixture()
def kube(api_client: ApiClient) -> Kube:
    return Kube(api_client, timeout=10)


@pytest.fixture()
def fake_api(kmock: kmocklib.RawHandler) -> FakeAPI:
    return FakeAPI(kmock)
