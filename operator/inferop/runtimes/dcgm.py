"""dcgm-exporter's series: the GPU metrics every runtime's pods share (NVIDIA's DCGM exporter, scraped
per GPU with the pod and namespace it is assigned to). Pure data.

The HPA's ``targets.gpuUtilizationPercent`` metric (``inferop.render.hpa``) and the cost controller's
GPU-utilization query (``inferop.cost.queries``) both name these series.
"""

from __future__ import annotations

#: Percent of the time a kernel ran on the GPU (0-100), exported by every dcgm-exporter.
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
#: Fraction of the time the graphics engine was active (0-1): finer than GPU_UTIL, a profiling metric.
ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
#: The labels naming the GPU's pod and namespace (``exported_*`` when Prometheus kept the scrape target's).
POD, NAMESPACE = "pod", "namespace"
EXPORTED_POD, EXPORTED_NAMESPACE = "exported_pod", "exported_namespace"
