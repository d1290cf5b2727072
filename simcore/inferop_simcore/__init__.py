"""The compiled event loop of ``inferop simulate`` (``simcore/src/lib.rs``); use it through ``inferop.sim.engine``."""

from inferop_simcore._core import Core, Workload, draw_rate_trace, latency_stats

__all__ = ["Core", "Workload", "draw_rate_trace", "latency_stats"]
