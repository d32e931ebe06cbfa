"""Alembic environment of pixelmill's schema.

Run programmatically by `pixelmill.storage.db.migrate`, which hands over a locked connection
in `config.attributes["connection"]`; or by the `alembic` command from the repository root
(alembic.ini), which takes the URL from `-x url=...`, else `sqlalchemy.url`, else pixelmill's
settings (PIXELMILL_DATABASE_URL, default SQLite under the data dir).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from pixelmill.storage.db import migration_connection, normalize_url
from pixelmill.storage.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    """Write the SQL to stdout (`alembic upgrade head --sql`)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with migration_connection(_url()) as connection:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, **_options())
    with context.begin_transaction():
        context.run_migrations()


def _options() -> dict[str, Any]:
    return {
        "compare_type": True,
        "compare_server_default": True,
        # SQLite alters a table by copying it; batch mode writes migrations that way
        "render_as_batch": True,
        "render_item": _render_item,
    }


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # autogenerate writes the stored type, so migrations never import pixelmill's models
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        from pixelmill.config import load_settings

        url = load_settings().database
    return normalize_url(url)


# only the alembic command configures logging; migrate() leaves the application's alone
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
