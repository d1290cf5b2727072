"""The activator/operator contract, re-exported: its one home is ``inferop.api.activation`` (both
processes import it; neither imports the other)."""

from __future__ import annotations

from inferop.api.activation import (
    ACTIVATION_ANNOTATION,
    ACTIVATOR_SERVICE_ENV,
    ADMIN_PORT,
    API_GROUP,
    API_VERSION,
    BACKEND_PORT_NAME,
    DEFAULT_HOLD_TIMEOUT_SECONDS,
    DEFAULT_MAX_HELD_REQUESTS,
    ENDPOINTSLICE_MANAGER,
    PLURAL,
    PODS_SERVICE_SUFFIX,
    PROXY_PORT,
    PROXY_PORT_NAME,
    RESIGNAL_SECONDS,
    SERVICE_HEADER,
    SERVICE_NAME_LABEL,
    activation_patch,
    activation_timestamp,
    parse_activation_timestamp,
    serving_addresses,
)

__all__ = [
    "ACTIVATION_ANNOTATION",
    "ACTIVATOR_SERVICE_ENV",
    "ADMIN_PORT",
    "API_GROUP",
    "API_VERSION",
    "BACKEND_PORT_NAME",
    "DEFAULT_HOLD_TIMEOUT_SECONDS",
    "DEFAULT_MAX_HELD_REQUESTS",
    "ENDPOINTSLICE_MANAGER",
    "PLURAL",
    "PODS_SERVICE_SUFFIX",
    "PROXY_PORT",
    "PROXY_PORT_NAME",
    "RESIGNAL_SECONDS",
    "SERVICE_HEADER",
    "SERVICE_NAME_LABEL",
    "activation_patch",
    "activation_timestamp",
    "parse_activation_timestamp",
    "serving_addresses",
]
