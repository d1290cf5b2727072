"""inferop: run AI inference services at the lowest cost that still meets their latency SLO."""

__version__ = "0.1.0"
