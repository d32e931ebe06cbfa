"""Stored images behind one protocol, so processes on different machines share results.

    BlobStore (protocol)     put / get / exists / delete / local_path / ping / kind
    ├── LocalBlobStore       files under a folder, written atomically   kind "local"
    └── S3BlobStore          objects in an S3 bucket (AWS, MinIO, ...)   kind "s3"

    make_blob_store(url, root, **s3_options)    the store a setting names:
        None or ""               LocalBlobStore(root), the storage dir (<data dir>/images)
        file:///abs/path         LocalBlobStore(/abs/path)
        s3://bucket[/prefix]     S3BlobStore(bucket, prefix=prefix, **s3_options)

A key is relative and `/`-separated (`captions/3f0c….jpg`, `faces/9b2f….png`); anything else is
refused with ValueError (storage/keys.py, which both stores import). A `put` is atomic
(a reader sees the old object or the new one, never part of one) and may repeat: storing is
idempotent. A missing key reads as `NotFound`; a store that cannot be reached or refuses us
raises `Unavailable` with a message that names the key but never the endpoint or credentials.

Settings: `PIXELMILL_STORAGE_URL` (unset: the local storage dir), `PIXELMILL_S3_ENDPOINT_URL`
(unset: AWS; set it for MinIO, Ceph, R2 ...), `PIXELMILL_S3_REGION` (unset: boto3's default).
Credentials are not pixelmill settings: boto3 reads `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`, `AWS_PROFILE`, instance roles ...) itself.

The S3 client is made once per store and shared by every thread (boto3 clients are
thread-safe). Its timeouts are short and it retries once, so an outage becomes a quick 503,
not a hung request or a stuck worker; the job queue redelivers what a worker could not store.
It lives in `storage/s3.py`, imported only when an S3 store is made (or `S3BlobStore` named):
boto3 costs ~9 MiB and ~0.15 s in every process that imports it, for the many deployments
that never use S3.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from pixelmill.errors import NotFound, Unavailable
from pixelmill.storage.files import write_all_durably, write_atomically
from pixelmill.storage.keys import check_key


@runtime_checkable
class BlobStore(Protocol):
    """Where stored images live: a local folder or an S3 bucket."""

    @property
    def kind(self) -> str:
        """`local` or `s3`."""
        ...

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, atomically; storing the same key again replaces it."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key`; NotFound when there are none."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file of `key` to stream (it may not exist), or None when the store is remote."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is fine."""
        ...

    def ping(self) -> bool:
        """Whether the store can be used now (for /health); never raises."""
        ...


class LocalBlobStore:
    """Files under `root`; each written through a temporary file and a rename."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            write_atomically(path, data, durable=True)
        except OSError as exc:
            raise Unavailable(
                f"storage unavailable: cannot write {key} ({_os_reason(exc)})"
            ) from exc

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"{key} is not in storage") from exc
        except OSError as exc:
            raise Unavailable(
                f"storage unavailable: cannot read {key} ({_os_reason(exc)})"
            ) from exc

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except (NotADirectoryError, IsADirectoryError):
            pass  # a folder, or a file above the key: no object by that key
        except OSError as exc:
            raise Unavailable(
                f"storage unavailable: cannot delete {key} ({_os_reason(exc)})"
            ) from exc

    def ping(self) -> bool:
        # the folder appears with the first image; an empty store is a healthy one
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.root, os.W_OK | os.X_OK)


def put_many(blobs: BlobStore, items: dict[str, tuple[bytes, str]]) -> None:
    """`blobs.put` of every item (key: data and content type), each stored for good once
    this returns; in a local folder as one batch (`files.write_all_durably`: a worker storing
    a batch of results paid two fsyncs per file, its largest cost), elsewhere one by one."""
    paths = {key: blobs.local_path(key) for key in items}
    local = {path: items[key][0] for key, path in paths.items() if path is not None}
    if len(items) <= 1 or len(local) < len(items):
        for key, (data, content_type) in items.items():
            blobs.put(key, data, content_type)
        return
    try:
        write_all_durably(local)
    except OSError as exc:
        keys = ", ".join(items)
        raise Unavailable(f"storage unavailable: cannot write {keys} ({_os_reason(exc)})") from exc


def __getattr__(name: str) -> Any:
    """`S3BlobStore`, imported on first use (see the module docstring)."""
    if name == "S3BlobStore":
        from pixelmill.storage.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_blob_store(url: str | None, root: Path, **s3_options: Any) -> BlobStore:
    """The store `url` names (see the module docstring); `s3_options` go to S3BlobStore."""
    if not url or not url.strip():
        return LocalBlobStore(root)
    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise ValueError("a storage URL takes no query or fragment")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(f"a file storage URL needs an absolute path: file:///...; got {url!r}")
        return LocalBlobStore(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc or "@" in parts.netloc:
            raise ValueError("an S3 storage URL is s3://bucket/optional/prefix")
        from pixelmill.storage.s3 import S3BlobStore

        options = {name: value for name, value in s3_options.items() if value is not None}
        return S3BlobStore(parts.netloc, prefix=unquote(parts.path), **options)
    raise ValueError(
        f"unsupported storage URL scheme {parts.scheme!r}: use file:///path or s3://bucket/prefix"
    )


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
