"""Engines, sessions and migrations, for SQLite (the embedded default) and PostgreSQL.

    make_engine(url)         an Engine set up the way each database wants it
    Database(url)            engine + sessions; `session()` commits, or rolls back on error
    migrate(url)             `alembic upgrade head`; any number of processes may call it at once
    downgrade(url, rev)      `alembic downgrade rev`

Migrations run inside one transaction that first takes a lock: a transaction-scoped advisory
lock on PostgreSQL, the database's write lock (BEGIN IMMEDIATE) on SQLite. The second of two
processes waits, then finds the schema at head and does nothing.

Alembic is imported only when there is migrating to do: `migrate` first compares the
database's `alembic_version` with the newest revision among the shipped migration files
(read as text), and a database already at head, the usual case at every start but the first,
costs one query instead of Alembic's ~11 MiB in each API and worker process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from pixelmill.errors import Unavailable

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 15_000
POSTGRES_CONNECT_TIMEOUT_S = 10
# A host cut off from PostgreSQL mid-transaction must not stall the others. Its session,
# left "idle in transaction" holding row locks, would block every worker that takes its
# messages over (for as long as PostgreSQL takes to notice: hours, with the OS's keepalive);
# the server ends it after this long (our transactions last milliseconds). And on the cut-off
# host, a call waiting on a dead link fails after TCP_USER_TIMEOUT instead of ~15 minutes of
# retransmissions, so the worker backs off and reconnects once the link is back.
POSTGRES_IDLE_IN_TRANSACTION_MS = 15_000
POSTGRES_TCP = {
    "keepalives": 1,
    "keepalives_idle": 15,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}
# pg_advisory_xact_lock key of the migrations: b"pixelmil" read as a big-endian integer
MIGRATION_LOCK_KEY = int.from_bytes(b"pixelmil", "big")

# alembic's `context` and `op` are process-wide proxies: one migration per process at a time
_migrating = threading.Lock()


def normalize_url(url: str) -> str:
    """`url` with PostgreSQL pointed at the psycopg 3 driver (`postgres://` accepted too)."""
    return _url(url).render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An Engine for `url`: SQLite with WAL and a busy timeout, PostgreSQL through psycopg."""
    parsed = _url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    if parsed.get_backend_name() == "postgresql":  # what the URL sets itself wins
        connect_args.update({k: v for k, v in POSTGRES_TCP.items() if k not in parsed.query})
        if "options" not in parsed.query:
            timeout = POSTGRES_IDLE_IN_TRANSACTION_MS
            connect_args["options"] = f"-c idle_in_transaction_session_timeout={timeout}"
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


# The database cannot be reached or cannot take the statement now (connection refused or
# lost, the pool exhausted, SQLite locked past its busy timeout): nothing is wrong with the
# data, and the same work succeeds once the database is back.
_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


class DatabaseDown(Unavailable):
    """The database is unreachable or unavailable for now (a 503; workers retry later)."""


class Database:
    """One engine and its sessions; built once per process and passed down."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        # rows stay readable after the session is gone (routes return them after commit)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back on error.

        An outage of the database raises `DatabaseDown`, so that a worker does not blame
        the message it was storing (and dead-letter it) for what is the database's state."""
        try:
            with self.sessions.begin() as session:
                yield session
        except _DOWN as exc:
            log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
            raise DatabaseDown(f"database unavailable: {type(exc).__name__}") from exc

    def ping(self) -> bool:
        """Whether the database answers a query (for /health); never raises."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("database ping failed: %s: %s", type(exc).__name__, exc)
            return False
        return True

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url` and the migrations shipped in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # the ini parser interpolates %: a URL-encoded password would otherwise break it
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the schema of `url` up to the newest revision (`alembic upgrade head`)."""
    if current_revision(url) == head_revision():
        return
    from alembic import command

    _run_alembic(url, lambda config: command.upgrade(config, "head"))


def downgrade(url: str, revision: str = "base") -> None:
    """Take the schema of `url` down to `revision` (`base`: no tables at all)."""
    from alembic import command

    _run_alembic(url, lambda config: command.downgrade(config, revision))


_REVISION = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(.+?)\s*$", re.MULTILINE)


def head_revision() -> str | None:
    """The newest shipped revision: the one no other revision names as its `down_revision`
    (None if the files do not make exactly one head; `migrate` then leaves it to Alembic)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        fields = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" not in fields:
            continue
        revisions.add(fields["revision"].strip("\"'"))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", fields.get("down_revision", "")))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(url: str) -> str | None:
    """The revision the database of `url` is at; None when it has none (or cannot say)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # no table yet, or no database: Alembic will say what is wrong
        return None
    finally:
        engine.dispose()
    return str(rows[0][0]) if len(rows) == 1 else None


@contextmanager
def migration_connection(url: str) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock; committed at the end."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        _begin_immediate(engine)
    try:
        with _migrating, engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            yield connection
    finally:
        engine.dispose()


def _run_alembic(url: str, action: Callable[[Config], None]) -> None:
    with migration_connection(url) as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        action(config)


def _url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # one shared connection, else every thread would see its own empty database
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # the timeout first: switching to WAL needs a lock another process may hold
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_immediate(engine: Engine) -> None:
    """Make each transaction of `engine` take SQLite's write lock at once, DDL included."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite would otherwise begin transactions itself, and not before DDL
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
