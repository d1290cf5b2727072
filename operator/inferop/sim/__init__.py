"""``inferop simulate``: replay a request trace through the operator's decide() and the baselines.

Pure computation plus file output: no Kubernetes client, no kopf, no Prometheus client, no clock.

- ``trace``: the two shared trace formats (per-request and rate windows), seeded, cut and scaled.
- ``profile``: per-replica capacity of a model on a GPU (``profiles/*.yaml``, sourced).
- ``engine``: the service model (continuous batching, cold starts, round-robin Service, GPU-hours).
- ``prom``: scrapes and PromQL (rate with extrapolation, histogram_quantile, avg_over_time).
- ``hpa``, ``kpa``: the Kubernetes HPA and Knative KPA algorithms with their defaults.
- ``policies``: ours (the real ``inferop.cost.decide.decide`` + the HPA it renders) and the baselines.
- ``run``: the event loop; ``oracle``: the clairvoyant lower bound; ``compare``: the tuning sweeps.
- ``report``: summary.json, summary.md, sweep.json, plots; ``cli``: the ``simulate`` subcommand.

See docs/simulate.md.
"""
