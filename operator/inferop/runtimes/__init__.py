"""Built-in runtime profiles: what each model server needs and what it exposes.

A profile is data: default image, ports, probes, how the model URI and quantization reach the
server, and the Prometheus series it exposes for latency, queue depth and request rate. Builders
(`inferop.render`) and the cost controller read profiles; profiles never import them.
Sources for every value are in ``profiles.py`` and ``docs/runtimes.md``.
"""

from inferop.runtimes.profile import (
    Histogram,
    MeanLatency,
    MetricSeries,
    ModelArgs,
    Probe,
    RuntimeProfile,
    UnsupportedByRuntime,
)
from inferop.runtimes.profiles import PROFILES, get_profile

__all__ = [
    "PROFILES",
    "Histogram",
    "MeanLatency",
    "MetricSeries",
    "ModelArgs",
    "Probe",
    "RuntimeProfile",
    "UnsupportedByRuntime",
    "get_profile",
]
