"""Shared fixtures: settings in temporary folders, running apps, databases, Redis, OCR engines."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer
from psycopg import sql
from sqlalchemy.engine import make_url

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.imaging.ocr import Engine, engines
from pixelmill.storage.blobs import S3BlobStore
from tests.ocr_pages import require_tesseract
from tests.redis_server import RedisServer, delete_keys, plain_client, require_redis, unique_prefix
from tests.server import free_port


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory: settings whose every folder lies under this test's tmp_path."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "results_dir": tmp_path / "results",
            "process_workers": 2,
            "thread_workers": 2,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="module")
def module_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def client(module_dirs: Path) -> Iterator[TestClient]:
    """A running app (pools started) shared by the tests of one module."""
    settings = Settings(
        data_dir=module_dirs / "data",
        results_dir=module_dirs / "results",
        process_workers=2,
        thread_workers=2,
        max_upload_bytes=2 * 1024 * 1024,
        max_request_bytes=8 * 1024 * 1024,
        max_pixels=20_000_000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# --- databases: SQLite, or a PostgreSQL database of the module's own ----------------------


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


# --- Redis: the shared server under a key prefix of the test's own, or a private server ----


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A plain client of the shared Redis, to look at streams and keys."""
    require_redis()
    client = plain_client()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted after."""
    prefix = unique_prefix()
    yield prefix
    delete_keys(redis_client, prefix)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private, running redis-server that the test may stop and start again."""
    server = RedisServer(tmp_path, free_port())
    server.start()
    yield server
    server.stop()


# --- S3: a real S3-compatible endpoint (moto's server mode) on 127.0.0.1 -------------------

S3_REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP endpoint on 127.0.0.1, with dummy credentials in the env."""
    with pytest.MonkeyPatch.context() as env:
        # boto3 reads these itself; the files are pointed away from a developer's ~/.aws
        env.setenv("AWS_ACCESS_KEY_ID", "pixelmill-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "pixelmill-test-secret")
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            env.delenv(name, raising=False)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="module")
def s3_bucket(s3_endpoint: str) -> str:
    """A bucket for this module's tests; each test works under a prefix of its own."""
    bucket = f"pixelmill-test-{uuid.uuid4().hex[:12]}"
    store = S3BlobStore(bucket, endpoint_url=s3_endpoint, region=S3_REGION)
    store.create_bucket()
    store.create_bucket()  # again: a helper for dev set-ups must not mind
    store.close()
    return bucket


@pytest.fixture
def s3_client(s3_endpoint: str) -> Iterator[Any]:
    """A plain boto3 client, to look at what a store left in the bucket."""
    client = boto3.session.Session().client("s3", endpoint_url=s3_endpoint, region_name=S3_REGION)
    yield client
    client.close()


# --- OCR: each engine in turn ---------------------------------------------------------------


@pytest.fixture(scope="module", params=engines.ENGINES)
def ocr_engine(request: pytest.FixtureRequest) -> Engine:
    """Each OCR engine in turn: test ids end in [tesseract] and [rapidocr].

    RapidOCR is a pip dependency, always there. Tesseract's turn skips without its binary
    and English data, naming the apt-get command (on CI it fails).
    """
    engine: Engine = request.param
    if engine == "tesseract":
        require_tesseract("eng")
    return engine
