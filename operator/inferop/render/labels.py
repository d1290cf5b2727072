"""Names and labels shared by every child object of an InferenceService."""

from __future__ import annotations

from inferop.api.inferenceservice import InferenceService

#: The selector label: stable for the object's lifetime (Deployment selectors are immutable).
ISVC_LABEL = "inferop.dev/inferenceservice"
MANAGED_BY = "inferop"
#: The HTTP port the Service exposes (KServe and most serving stacks use 80).
SERVICE_PORT = 80


def selector(isvc: InferenceService) -> dict[str, str]:
    return {ISVC_LABEL: isvc.name}


def labels(isvc: InferenceService) -> dict[str, str]:
    """Recommended app.kubernetes.io labels plus our selector label."""
    out = {
        "app.kubernetes.io/name": isvc.spec.runtime.name,
        "app.kubernetes.io/instance": isvc.name,
        "app.kubernetes.io/component": "inference-server",
        "app.kubernetes.io/part-of": "inferop",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        **selector(isvc),
    }
    if isvc.spec.resources.gpu is not None:
        out["inferop.dev/gpu-class"] = isvc.spec.resources.gpu.class_
    return out


def selector_string(isvc: InferenceService) -> str:
    return ",".join(f"{k}={v}" for k, v in selector(isvc).items())


def service_url(isvc: InferenceService) -> str:
    return f"http://{isvc.name}.{isvc.namespace}.svc.cluster.local"
