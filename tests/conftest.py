"""Fixtures for every tier: state the operator keeps in memory does not leak from one test to the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inferop.reconcile.children import forget_refusals


@pytest.fixture(autouse=True)
def _fresh_refusals() -> Iterator[None]:
    forget_refusals()
    yield
    forget_refusals()
