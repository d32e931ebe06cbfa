"""Blob stores: the same behaviour from a local folder and from S3 (moto's server, over HTTP)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixelmill.errors import NotFound, Unavailable
from pixelmill.storage.blobs import (
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    make_blob_store,
)
from tests.server import free_port
from tests.storage.race import race

REGION = "us-east-1"
BINARY = bytes(range(256)) * 64 + b"\x00\xff\r\n\x1a"  # every byte value, CR LF, ^Z
BIG = 4 * 1024 * 1024  # large enough for two writers of one key to overlap


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """An empty store, once of each kind."""
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket: str = request.getfixturevalue("s3_bucket")
    s3 = S3BlobStore(
        bucket, prefix=f"test-{uuid.uuid4().hex[:8]}", endpoint_url=endpoint, region=REGION
    )
    yield s3
    s3.close()


def test_stores_follow_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)
    assert store.kind in ("local", "s3")
    assert store.ping()


def test_binary_data_round_trips(store: BlobStore) -> None:
    store.put("captions/3f0c9d2e.jpg", BINARY, "image/jpeg")
    assert store.get("captions/3f0c9d2e.jpg") == BINARY


def test_an_empty_object_round_trips(store: BlobStore) -> None:
    store.put("faces/empty.png", b"", "image/png")
    assert store.exists("faces/empty.png")
    assert store.get("faces/empty.png") == b""


def test_overwriting_a_key_keeps_the_last_bytes(store: BlobStore) -> None:
    store.put("faces/9b2f.png", b"first version", "image/png")
    store.put("faces/9b2f.png", b"second", "image/png")
    assert store.get("faces/9b2f.png") == b"second"
    store.put("faces/9b2f.png", b"second", "image/png")  # a redelivered message stores again
    assert store.get("faces/9b2f.png") == b"second"


def test_keys_are_apart(store: BlobStore) -> None:
    store.put("captions/a.jpg", b"a", "image/jpeg")
    store.put("faces/a.jpg", b"b", "image/jpeg")
    assert store.get("captions/a.jpg") == b"a"
    assert store.get("faces/a.jpg") == b"b"


def test_exists_and_delete(store: BlobStore) -> None:
    assert not store.exists("captions/x.jpg")
    store.put("captions/x.jpg", b"x", "image/jpeg")
    assert store.exists("captions/x.jpg")
    assert not store.exists("captions/x")  # a prefix of a key is no key
    store.delete("captions/x.jpg")
    assert not store.exists("captions/x.jpg")
    with pytest.raises(NotFound):
        store.get("captions/x.jpg")
    store.delete("captions/x.jpg")  # missing is fine
    store.delete("never/was/here.jpg")


def test_a_missing_key_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("captions/missing.jpg")
    assert caught.value.status_code == 404
    assert "captions/missing.jpg" in caught.value.detail


def test_a_folder_is_not_an_object(store: BlobStore) -> None:
    store.put("captions/deep/a.jpg", b"a", "image/jpeg")
    assert not store.exists("captions/deep")
    with pytest.raises(NotFound):
        store.get("captions/deep")
    with pytest.raises(NotFound):
        store.get("captions/deep/a.jpg/below")
    store.delete("captions/deep")
    store.delete("captions/deep/a.jpg/below")
    assert store.get("captions/deep/a.jpg") == b"a"


BAD_KEYS = [
    "",
    "/etc/passwd",
    "..",
    "../outside.jpg",
    "captions/../../outside.jpg",
    "captions/./a.jpg",
    ".",
    "captions//a.jpg",
    "captions/",
    "captions\\a.jpg",
    "..\\outside.jpg",
    "captions/a\0.jpg",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(store: BlobStore, key: str, tmp_path: Path) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.put(key, b"x", "image/jpeg"),
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.local_path(key),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert not (tmp_path / "outside.jpg").exists()


def race_on_one_key(store: BlobStore, key: str, versions: list[bytes]) -> list[bytes]:
    """Writers of each version and one reader, released together; what the reader saw."""
    roles = ["write"] * len(versions) + ["read"]
    pending = list(versions)
    seen: list[bytes] = []

    def act() -> None:
        if roles.pop() == "read":
            seen.extend(store.get(key) for _ in range(10))
        else:
            store.put(key, pending.pop(), "image/jpeg")

    race(len(roles), act)
    return seen


def test_racing_writers_leave_a_whole_object_and_readers_never_see_half(
    store: BlobStore,
) -> None:
    key = "captions/raced.jpg"
    old = b"o" * BIG
    for round in range(3):
        store.put(key, old, "image/jpeg")
        versions = [bytes([65 + 2 * round]) * BIG, bytes([66 + 2 * round]) * (BIG // 2)]
        seen = race_on_one_key(store, key, versions)
        assert store.get(key) in versions
        assert len(seen) == 10
        for data in seen:
            assert data == old or data in versions


def test_local_path_is_the_stored_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("faces/9b2f.png", BINARY, "image/png")
    path = store.local_path("faces/9b2f.png")
    assert path == tmp_path / "blobs" / "faces" / "9b2f.png"
    assert path.is_file()
    assert path.read_bytes() == BINARY
    assert [p.name for p in path.parent.iterdir()] == ["9b2f.png"]  # no temporary left behind


def test_local_path_names_a_file_yet_to_be_stored(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    path = store.local_path("faces/later.png")
    assert path == tmp_path / "blobs" / "faces" / "later.png"
    assert not path.exists()


def test_a_local_store_pings_before_its_first_image(tmp_path: Path) -> None:
    assert LocalBlobStore(tmp_path / "not" / "yet").ping()
    (tmp_path / "a-file").write_bytes(b"")
    assert not LocalBlobStore(tmp_path / "a-file" / "below").ping()


def test_s3_has_no_local_path(s3_bucket: str, s3_endpoint: str) -> None:
    store = S3BlobStore(s3_bucket, endpoint_url=s3_endpoint, region=REGION)
    store.put("faces/9b2f.png", b"png", "image/png")
    assert store.local_path("faces/9b2f.png") is None
    store.close()


def test_s3_stores_the_content_type_under_the_prefix(
    s3_bucket: str, s3_endpoint: str, s3_client: Any
) -> None:
    store = S3BlobStore(s3_bucket, prefix="/team/a/", endpoint_url=s3_endpoint, region=REGION)
    store.put("faces/9b2f.png", BINARY, "image/png")
    store.put("captions/3f0c.jpg", b"jpeg", "image/jpeg")
    head = s3_client.head_object(Bucket=s3_bucket, Key="team/a/faces/9b2f.png")
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == len(BINARY)
    head = s3_client.head_object(Bucket=s3_bucket, Key="team/a/captions/3f0c.jpg")
    assert head["ContentType"] == "image/jpeg"
    store.close()


def test_s3_without_its_bucket_is_unavailable(s3_endpoint: str) -> None:
    store = S3BlobStore("pixelmill-no-such-bucket", endpoint_url=s3_endpoint, region=REGION)
    assert not store.ping()
    with pytest.raises(Unavailable, match="storage unavailable"):
        store.put("faces/a.png", b"png", "image/png")
    with pytest.raises(Unavailable):
        store.get("faces/a.png")
    store.close()


def test_s3_outage_is_a_quick_unavailable_without_secrets() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    secret = "very-secret-key-do-not-print"
    store = S3BlobStore(
        "pixelmill-outage",
        endpoint_url=endpoint,
        region=REGION,
        access_key="AKIAOUTAGE",
        secret_key=secret,
    )
    errors: list[Unavailable] = []
    for call in (
        lambda: store.put("faces/a.png", b"png", "image/png"),
        lambda: store.get("faces/a.png"),
        lambda: store.exists("faces/a.png"),
        lambda: store.delete("faces/a.png"),
    ):
        with pytest.raises(Unavailable) as caught:
            call()
        errors.append(caught.value)
    assert not store.ping()
    for error in errors:
        assert error.status_code == 503
        assert error.detail.startswith("storage unavailable: ")
        assert "faces/a.png" in error.detail
        for leak in (secret, "AKIAOUTAGE", endpoint):
            assert leak not in error.detail
    assert secret not in repr(store)
    store.close()


def test_s3_that_never_answers_is_unavailable_after_the_read_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        store = S3BlobStore(
            "pixelmill-silent",
            endpoint_url=endpoint,
            region=REGION,
            read_timeout=0.3,
            # its own, so that it does not lean on s3_endpoint's environment (run alone)
            access_key="pixelmill-test",
            secret_key="pixelmill-test-secret",
        )
        with pytest.raises(Unavailable, match="did not answer in time"):
            store.get("faces/a.png")
        assert not store.ping()
        store.close()


def test_half_the_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        S3BlobStore("b", endpoint_url="http://127.0.0.1:9", access_key="AKIA")


@pytest.mark.parametrize("url", [None, "", "  "])
def test_no_url_is_the_local_storage_dir(url: str | None, tmp_path: Path) -> None:
    store = make_blob_store(url, tmp_path / "images", endpoint_url=None, region=None)
    assert isinstance(store, LocalBlobStore)
    assert store.kind == "local"
    assert store.root == tmp_path / "images"


def test_a_file_url_is_a_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "shared images"
    store = make_blob_store(folder.as_uri(), tmp_path / "unused", endpoint_url="http://x")
    assert isinstance(store, LocalBlobStore)
    assert store.root == folder
    store.put("captions/a.jpg", b"a", "image/jpeg")
    assert (folder / "captions" / "a.jpg").read_bytes() == b"a"


def test_an_s3_url_is_a_bucket_and_a_prefix(tmp_path: Path) -> None:
    store = make_blob_store(
        "s3://pixelmill-images/prod/eu",
        tmp_path,
        endpoint_url="http://127.0.0.1:9",
        region="eu-west-1",
        access_key=None,
        secret_key=None,
    )
    assert isinstance(store, S3BlobStore)
    assert store.kind == "s3"
    assert (store.bucket, store.prefix) == ("pixelmill-images", "prod/eu/")
    assert (store.endpoint_url, store.region) == ("http://127.0.0.1:9", "eu-west-1")
    store.close()
    bare = make_blob_store("s3://pixelmill-images", tmp_path)
    assert isinstance(bare, S3BlobStore)
    assert bare.prefix == ""
    bare.close()


@pytest.mark.parametrize(
    "url",
    [
        "/abs/path",
        "relative/path",
        "file://relative/path",
        "file:relative",
        "ftp://host/path",
        "s3://",
        "s3:///prefix-only",
        "s3://user:pass@bucket/x",
        "s3://bucket/a/../b",
        "s3://bucket/a?versioning=1",
    ],
)
def test_bad_storage_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_blob_store(url, tmp_path)


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [("pixelmill.storage.s3", "pixelmill.storage.blobs"), ("pixelmill.storage.blobs", "boto3")],
)
def test_the_stores_import_apart(module: str, not_loaded: str) -> None:
    """No cycle: s3.py needs only the key rules; blobs.py loads boto3 only for an S3 store."""
    code = f"import sys, {module}; assert {not_loaded!r} not in sys.modules, sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
