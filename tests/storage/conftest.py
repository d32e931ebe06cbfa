"""Database fixtures of the storage tests: an empty database of each kind."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import KINDS


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, database_url: Callable[[str], str]) -> str:
    """An empty database, once of each kind."""
    return database_url(request.param)
