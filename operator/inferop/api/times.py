"""The one time format of the API: RFC 3339 in UTC with whole seconds ("2026-12-02T01:04:05Z"), as
Kubernetes writes ``lastTransitionTime`` and Event times. Every status time, condition transition and
Event inferop writes uses it.

``iso_at`` is pure (it formats the time it is given); ``now_iso`` reads the wall clock, for the I/O
layer (pure code takes ``now`` as an argument).
"""

from __future__ import annotations

import time

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso_at(t: float) -> str:
    """``t`` (unix seconds) in the API's time format."""
    return time.strftime(TIME_FORMAT, time.gmtime(t))


def now_iso() -> str:
    """The wall clock now, in the API's time format."""
    return iso_at(time.time())
