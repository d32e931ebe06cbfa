"""Database fixtures of the storage tests: an empty database of each kind, or a migrated one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pixelmill.storage.db import Database, migrate
from tests.conftest import KINDS


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, database_url: Callable[[str], str]) -> str:
    """An empty database, once of each kind."""
    return database_url(request.param)


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    """The database of `url` at the newest schema."""
    migrate(url)
    database = Database(url)
    yield database
    database.dispose()
