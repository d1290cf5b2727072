"""The activator's own metrics (prometheus_client), served on its admin port's /metrics.

The names and labels are a contract (dashboards, the operator's idle check, alerts). Each Activator
owns its registry, so several in one process (tests, the bench) count separately.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SERVICE = ("namespace", "inferenceservice")
#: Hold times from sub-millisecond (a backend already ready) to a large model's cold start.
HOLD_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "inferop_activator_requests_total",
            "Requests the activator received, by service (held or proxied straight to a ready pod)",
            SERVICE,
            registry=r,
        )
        self.held = Gauge(
            "inferop_activator_held_requests", "Requests waiting for a ready backend now", SERVICE, registry=r
        )
        self.hold_seconds = Histogram(
            "inferop_activator_hold_seconds",
            "How long requests waited before they were forwarded or answered, by outcome"
            " (forwarded, timeout, shutdown, gone)",
            [*SERVICE, "outcome"],
            buckets=HOLD_BUCKETS,
            registry=r,
        )
        self.activations = Counter(
            "inferop_activator_activations_total",
            "Activation episodes: a held request of a service that had none waiting (the operator is told at once)",
            SERVICE,
            registry=r,
        )
        self.signals = Counter(
            "inferop_activator_activation_signals_total",
            "Patches of the inferop.dev/activation-requested annotation, by result (ok, error)",
            [*SERVICE, "result"],
            registry=r,
        )
        self.rejections = Counter(
            "inferop_activator_rejections_total",
            "Requests answered by the activator instead of a backend, by reason"
            " (full: 503, timeout: 504, shutdown: 503, deleted: 503, unknown_service: 421, backend_error: 502)",
            [*SERVICE, "reason"],
            registry=r,
        )
        self.backends = Gauge(
            "inferop_activator_ready_backends", "Ready backends the activator knows per service", SERVICE, registry=r
        )
