"""``inferop run``: start kopf with the handlers in ``inferop.handlers`` and the settings given.

The settings are read where the operator starts (``Settings.from_env()``, or built from the command
line's flags), then handed to the handlers (``inferop.handlers.configure``) before kopf starts: nothing
is read from the environment at import.

``standalone`` (the default) runs without kopf's peering: one operator replica (the chart runs a
Deployment with ``Recreate``), so two never overlap. ``standalone=False`` lets kopf peer with other
instances of the operator; that needs kopf's peering CRDs (``ClusterKopfPeering``, ``KopfPeering``)
and RBAC for them, which the chart does not install; without the CRDs kopf runs unpeered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import kopf

from inferop.settings import Settings


def run(
    settings: Settings | None = None,
    *,
    namespaces: Sequence[str] = (),
    all_namespaces: bool = False,
    verbose: bool = False,
    liveness: str | None = None,
    standalone: bool = True,
) -> int:
    """Run the operator until it is stopped: every namespace, or only ``namespaces`` (``all_namespaces``
    is the default and says so explicitly). ``settings``: ``Settings.from_env()`` when not given."""
    from inferop import handlers  # registers the handlers (imports kopf and the clients: keep it here)

    handlers.configure(settings if settings is not None else Settings.from_env())
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    asyncio.run(
        kopf.operator(
            standalone=standalone,
            clusterwide=all_namespaces or not namespaces,
            namespaces=list(namespaces),
            liveness_endpoint=liveness,
        )
    )
    return 0
