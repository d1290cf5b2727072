"""The I/O layer: every loop that talks to the cluster or Prometheus (STYLE 1: I/O at the edge).

- ``kube``: the Kubernetes client; ``prometheus``: the Prometheus client;
- ``isvc``: the InferenceService reconcile (children, status); ``tenant``: the Tenant reconcile
  (ResourceQuotas, LimitRanges, namespace labels); ``costtick``: the cost controller's loop;
- ``children``: the shared apply-what-drifted executor; ``cache``: the kopf-index cache the loops read;
  ``serial``: one writer per service at a time;
- ``drift`` and ``status``: the pure decisions these loops execute (what drifted, which conditions,
  Events and status patch).
"""
