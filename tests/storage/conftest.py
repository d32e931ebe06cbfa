"""Database fixtures: a fresh, empty database of either kind, SQLite or PostgreSQL.

`database_url(kind)` is a factory, so it can move to tests/conftest.py as it is. PostgreSQL:
each test module gets its own database (`pixelmill_test_<hex>`), made through the `test`
database and dropped at the end of the module; each test starts on an empty schema. When the
server cannot be reached, PostgreSQL tests skip, or fail when CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

# An autocommit connection here may create and drop databases; the `test` database itself
# is only ever connected to, never changed.
POSTGRES_ADMIN = os.environ.get(
    "PIXELMILL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
POSTGRES_HOW_TO_START = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
    "(or point PIXELMILL_TEST_POSTGRES at a server)"
)
KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL server; skips (fails on CI) otherwise."""
    try:
        with _admin() as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN} ({exc}); {POSTGRES_HOW_TO_START}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_ADMIN


@pytest.fixture(scope="module")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A database of this module's own, dropped afterwards; yields its URL."""
    name = f"pixelmill_test_{secrets.token_hex(6)}"
    with _admin() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin() as connection:
            _terminate(connection, name)
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Factory: the SQLAlchemy URL of an empty database of `kind` (sqlite or postgresql)."""

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / 'db' / 'pixelmill.db'}"
        if kind == "postgresql":
            database: str = request.getfixturevalue("postgres_database")
            _empty(database)
            url = make_url(database).set(drivername="postgresql+psycopg")
            return url.render_as_string(hide_password=False)
        raise ValueError(f"unknown database kind {kind!r}")

    return make


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, database_url: Callable[[str], str]) -> str:
    """An empty database, once of each kind."""
    return database_url(request.param)


def _empty(database: str) -> None:
    """Drop everything a previous test left in the database (a libpq URL)."""
    with _admin() as admin:
        _terminate(admin, str(make_url(database).database))
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def _terminate(admin: psycopg.Connection[tuple[object, ...]], dbname: str) -> None:
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (dbname,),
    )
