"""The contract between the activator and the operator: names, annotation, ports, defaults. Pure.

One home for every string both sides must agree on (STYLE 11c). docs/activator.md explains them. It
lives in ``inferop.api`` because both processes import it and neither may import the other (the
import-linter contracts); ``inferop.activator.contract`` re-exports it for the activator.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inferop.api.common import GROUP, VERSION

#: The activator patches this annotation on an InferenceService (JSON merge patch, metadata only) when
#: it holds a request for it: the first held request at once, then at most every
#: ``RESIGNAL_SECONDS`` while requests are still held. The value is an RFC 3339 UTC time with
#: milliseconds (``2026-12-02T01:23:45.678Z``), the time the activator held that request.
ACTIVATION_ANNOTATION = f"{GROUP}/activation-requested"
#: While it holds requests of a service, an activator re-patches the annotation this often (level-based:
#: an operator that missed the first event, or restarted, sees demand again within this time).
RESIGNAL_SECONDS = 10.0

#: The selector-based Service on an InferenceService's pods is named ``<name><PODS_SERVICE_SUFFIX>``;
#: its EndpointSlices (label ``kubernetes.io/service-name``) tell the activator where the ready pods are.
PODS_SERVICE_SUFFIX = "-pods"
#: The label every EndpointSlice carries naming its Service (set by the EndpointSlice controller).
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: The name of the port, on the pods Service and its EndpointSlices, that carries the model's HTTP API.
BACKEND_PORT_NAME = "http"

#: Optional request header naming the service as ``<namespace>/<name>``, for callers whose Host header
#: does not (a gateway that rewrites Host, a client that dials an IP). It wins over the Host header.
SERVICE_HEADER = "X-Inferop-Service"

#: The activator's own ports (the chart's defaults): the proxy and its /metrics + /healthz + /readyz.
PROXY_PORT = 8012
ADMIN_PORT = 9090
#: The name of the proxy port on the activator's Service (chart: ``<release>-activator``) and its
#: EndpointSlices: the operator copies the ready endpoints of that port into a service's EndpointSlice
#: while the service is at zero.
PROXY_PORT_NAME = "proxy"
#: The setting that will tell the operator where the activator's Service is (``<namespace>/<name>``).
ACTIVATOR_SERVICE_ENV = "INFEROP_ACTIVATOR_SERVICE"
#: ``endpointslice.kubernetes.io/managed-by`` on the EndpointSlices the operator writes for a
#: selectorless InferenceService Service (never the EndpointSlice controller's own value).
ENDPOINTSLICE_MANAGER = "inferop.dev"

#: The InferenceService fields the activator reads (``spec.autoscaling.scaleToZero``) and their
#: defaults when a service sets none (the activator's --max-held-requests / --hold-timeout-seconds).
DEFAULT_MAX_HELD_REQUESTS = 1000
DEFAULT_HOLD_TIMEOUT_SECONDS = 300.0

PLURAL = "inferenceservices"
API_GROUP = GROUP
API_VERSION = VERSION


def activation_timestamp(when: datetime) -> str:
    """The annotation value for a request held at ``when`` (aware or naive-UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.astimezone(UTC).microsecond // 1000:03d}Z"


def parse_activation_timestamp(value: str) -> datetime | None:
    """The time an annotation value names, or None when it is not one (never raises: the operator side
    ignores a value it cannot read and says so)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def activation_patch(when: datetime) -> dict[str, object]:
    """The JSON merge patch the activator sends (metadata.annotations only)."""
    return {"metadata": {"annotations": {ACTIVATION_ANNOTATION: activation_timestamp(when)}}}


def serving_addresses(endpoint_slice: Mapping[str, Any]) -> list[str]:
    """The first address of each endpoint of an EndpointSlice that may serve: not ``ready: false``, not
    terminating (an absent condition counts as ready, as discovery.k8s.io/v1 says). How both the
    operator (the ready pods it writes into the Service's slice) and the activator (the backends it
    forwards to) read a slice."""
    out = []
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        addresses = endpoint.get("addresses") or []
        if addresses and isinstance(addresses[0], str):
            out.append(addresses[0])
    return out
