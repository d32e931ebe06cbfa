"""PostgreSQL sessions of a host cut off mid-transaction do not hold the others up."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from pixelmill.storage.db import Database

pytestmark = pytest.mark.postgres


def test_a_session_idle_in_a_transaction_is_ended_by_the_server_and_dead_links_time_out(
    database_url: Callable[[str], str],
) -> None:
    database = Database(database_url("postgresql"))
    try:
        with database.engine.connect() as connection:
            shown = connection.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
            libpq = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert shown == "15s"
        assert libpq["tcp_user_timeout"] == "15000"
        assert (libpq["keepalives_idle"], libpq["keepalives_count"]) == ("15", "3")
    finally:
        database.dispose()


def test_what_the_url_sets_wins(database_url: Callable[[str], str]) -> None:
    url = database_url("postgresql")
    separator = "&" if "?" in url else "?"
    database = Database(
        f"{url}{separator}options=-c%20idle_in_transaction_session_timeout%3D2000"
        "&tcp_user_timeout=5000"
    )
    try:
        with database.engine.connect() as connection:
            shown = connection.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
            libpq = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert shown == "2s"
        assert libpq["tcp_user_timeout"] == "5000"
    finally:
        database.dispose()
