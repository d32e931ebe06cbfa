"""Engines and sessions: URLs, SQLite pragmas, commit and rollback, the health ping."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from pixelmill.storage.db import SQLITE_BUSY_TIMEOUT_MS, Database, make_engine, normalize_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/pm", "postgresql+psycopg://u:p@db:5432/pm"),
        ("postgresql://u@db/pm", "postgresql+psycopg://u@db/pm"),
        ("postgresql+psycopg://u@db/pm", "postgresql+psycopg://u@db/pm"),
        ("postgresql://u:p%40ss@db/pm", "postgresql+psycopg://u:p%40ss@db/pm"),
        ("sqlite:///data/pixelmill.db", "sqlite:///data/pixelmill.db"),
    ],
)
def test_postgres_urls_use_psycopg(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_sqlite_engine_makes_its_folder_and_sets_its_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "pixelmill.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
        assert path.is_file()
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_database_for_every_thread() -> None:
    database = Database("sqlite://")
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))

        def read() -> None:
            with database.session() as session:
                seen.append(session.execute(text("SELECT x FROM t")).scalar_one())

        seen: list[int] = []
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
        assert seen == [1]
    finally:
        database.dispose()


def test_session_commits_at_the_end_and_rolls_back_on_error(url: str) -> None:
    database = Database(url)
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        with database.session() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError), database.session() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("the caller failed")
        with database.session() as session:
            assert session.execute(text("SELECT x FROM t")).scalars().all() == [1]
    finally:
        database.dispose()


def test_ping(url: str) -> None:
    database = Database(url)
    try:
        assert database.ping()
    finally:
        database.dispose()


def test_ping_says_false_when_the_database_is_unreachable() -> None:
    database = Database("postgresql://postgres@127.0.0.1:1/nothing")  # nobody listens on 1
    try:
        assert database.ping() is False
    finally:
        database.dispose()
