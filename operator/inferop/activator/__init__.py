"""The activator: an HTTP proxy that holds requests of a service at zero (or with no ready pod), tells
the operator at once that the service has demand, and forwards every held request to a ready pod as
soon as one exists (``inferop activator``; docs/activator.md).

Modules: ``contract`` (names shared with the operator), ``routing`` (which service, which backend),
``hold`` (the per-service hold queue and its rules), ``discovery`` (what the activator knows: services,
limits, backends), ``metrics``, all without I/O; ``proxy`` (the aiohttp data path), ``kube`` (watches and
the activation patch) and ``server`` (listeners, signals, shutdown) do the I/O.
"""
