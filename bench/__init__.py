"""The benchmarks (run from the repository root: ``python -m bench.scale.run``, ``python bench/run.py``)."""
