"""The operator at scale (``python -m bench.scale.run``)."""
