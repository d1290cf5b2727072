"""``inferop run``: start kopf with the handlers in ``inferop.handlers`` and our settings.

Equivalent to ``kopf run -m inferop.handlers --standalone``: one operator replica (the chart uses a
Deployment with ``Recreate``), so kopf's peering is not needed.
"""

from __future__ import annotations

import asyncio
import logging

import kopf


def run(
    namespaces: list[str], all_namespaces: bool, verbose: bool, liveness: str | None, standalone: bool = True
) -> int:
    import inferop.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    asyncio.run(
        kopf.operator(
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            liveness_endpoint=liveness,
        )
    )
    return 0
