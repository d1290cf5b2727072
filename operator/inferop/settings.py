"""Operator-wide settings from the environment (the chart sets them; flags override)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Where a pod's ServiceAccount namespace is mounted.
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
#: The namespace the README and the chart install the operator into.
DEFAULT_OPERATOR_NAMESPACE = "inferop-system"


def _operator_namespace() -> str:
    """POD_NAMESPACE (the chart sets it from the downward API), else the mounted ServiceAccount's
    namespace, else ``inferop-system`` (an operator run outside a pod, e.g. ``inferop run`` on a laptop,
    still keeps Tenants out of the namespace it is normally installed in)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or DEFAULT_OPERATOR_NAMESPACE
    except OSError:
        return DEFAULT_OPERATOR_NAMESPACE


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"error: environment variable {name}={raw!r} must be an integer") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"error: environment variable {name}={raw!r} must be true or false")


@dataclass(frozen=True)
class Settings:
    #: Seconds between drift checks of each InferenceService's children.
    drift_interval: int = 60
    #: Threads for sync handlers (the kubernetes client blocks).
    workers: int = 16
    #: Operator-wide Prometheus (a CostPolicy's spec.prometheus.url overrides it); None: no cost control.
    prometheus_url: str | None = None
    #: Port of the operator's own /metrics (0 disables).
    metrics_port: int = 8080
    #: The rate()/avg_over_time window of the cost controller's queries (None: from the policy interval).
    rate_window: str | None = None
    #: Seconds before a body the API server refused is sent again unchanged (a changed body goes at once).
    refused_retry: int = 300
    #: The operator's own namespace (``_operator_namespace``): no Tenant may list it.
    operator_namespace: str | None = None
    #: Rebuild the planner's learned state (capacity points, load history) from Prometheus range queries
    #: on start and for a service not seen before (``reconcile.rebuild``); off: start empty.
    rebuild_state: bool = True
    #: The activator's Service as ``<namespace>/<name>`` (``INFEROP_ACTIVATOR_SERVICE``): where scale-to-zero
    #: services' endpoints point while at zero. None: no activator, no service is taken to zero.
    activator_service: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            drift_interval=_int("INFEROP_DRIFT_INTERVAL", cls.drift_interval),
            workers=_int("INFEROP_WORKERS", cls.workers),
            prometheus_url=os.environ.get("INFEROP_PROMETHEUS_URL") or None,
            metrics_port=_int("INFEROP_METRICS_PORT", cls.metrics_port),
            rate_window=os.environ.get("INFEROP_RATE_WINDOW") or None,
            refused_retry=_int("INFEROP_REFUSED_RETRY_SECONDS", cls.refused_retry),
            operator_namespace=_operator_namespace(),
            rebuild_state=_bool("INFEROP_REBUILD_STATE", cls.rebuild_state),
            activator_service=os.environ.get("INFEROP_ACTIVATOR_SERVICE") or None,
        )
