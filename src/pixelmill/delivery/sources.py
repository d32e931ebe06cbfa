"""Where a delivery URL's image comes from: `{kind}/{name}` resolved to an identity, a
version and a way to read the bytes.

    local/<path>          a file under the files root, confined as for /pipeline;
                          version: mtime (ns) and size
    captions/<id>         a stored caption (the database row, the blob store); version: the
    faces/<id>            row's last change and file
    s3/<key>              an object of the configured bucket; version: its ETag
    url/<base64url>       an http(s) URL on a host of PIXELMILL_SOURCE_HOSTS, fetched by
                          delivery/remote.py; version: the upstream's ETag or Last-Modified

The version is found without reading the image where the store allows (a stat, a row, a HEAD),
so an `If-None-Match` that still matches is answered before any byte of the image is read.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pixelmill.config import Settings
from pixelmill.errors import InvalidParameter, NotFound
from pixelmill.imaging import codec
from pixelmill.services.resources import Resources
from pixelmill.storage import paths

KINDS = ("local", "captions", "faces", "s3", "url")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Source:
    """A resolved source: who it is, which version of it, and how to read it."""

    identity: str
    version: str
    read: Callable[[], bytes]  # blocking; run it off the event loop

    @property
    def tag(self) -> str:
        """The part of a cache key and ETag that names this source and its version."""
        return f"{self.identity}\n{self.version}"


async def resolve(text: str, resources: Resources, settings: Settings) -> Source:
    """The source `text` names (`kind/name`); 404 when it does not exist, 403 when a local
    path leads outside the files root, 422 for a source that is not well formed."""
    kind, name = check_form(text)
    if kind == "local":
        return await asyncio.to_thread(_local, name, settings)
    if kind in ("captions", "faces"):
        return await asyncio.to_thread(_stored, kind, name, resources)
    if kind == "s3":
        return await asyncio.to_thread(_s3, name, resources)
    return await _remote(name, settings)


def check_form(text: str) -> tuple[str, str]:
    """`text` split into its kind and name; 422 when it names no kind pixelmill knows."""
    kind, slash, name = text.partition("/")
    if not slash or not name or kind not in KINDS:
        raise InvalidParameter(
            f"source {text[:80]!r} should be one of {', '.join(k + '/…' for k in KINDS)}"
        )
    return kind, name


def _local(name: str, settings: Settings) -> Source:
    path = paths.existing_file(settings.files_root_path, name)
    stat = path.stat()
    codec.check_bytes(stat.st_size, settings.max_upload_bytes, f"local/{name}")
    return Source(f"local:{path}", f"{stat.st_mtime_ns}:{stat.st_size}", path.read_bytes)


def _stored(kind: str, id: str, resources: Resources) -> Source:
    repository: Any = resources.repository if kind == "captions" else resources.face_repository
    with resources.database.session() as session:
        row = repository.get(session, id)
        found = None if row is None else (row.status, row.file_path, row.updated_at)
    if found is None:
        raise NotFound(f"no {kind} image with id {id!r}")
    status, key, changed = found
    if status != "stored" or not key:
        raise NotFound(f"{kind} image {id} is {status}, not stored yet")
    blobs = resources.blobs
    return Source(f"{kind}:{id}", f"{changed.isoformat()}:{key}", lambda: blobs.get(key))


def _s3(key: str, resources: Resources) -> Source:
    blobs: Any = resources.blobs
    if blobs.kind != "s3":
        raise NotFound("no S3 bucket is configured (PIXELMILL_STORAGE_URL=s3://...)")
    try:
        etag, size = blobs.head(key)
    except ValueError:
        raise NotFound(f"s3/{key[:80]} is not a valid key") from None
    codec.check_bytes(size, resources.settings.max_upload_bytes, f"s3/{key}")
    return Source(f"s3:{key}", etag, lambda: blobs.get(key))


async def _remote(encoded: str, settings: Settings) -> Source:
    try:
        if not _BASE64URL.fullmatch(encoded):
            raise ValueError(encoded)
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidParameter("url/…: not the base64url of a URL") from None
    from pixelmill.delivery.remote import fetch  # httpx, only for remote sources

    fetched = await asyncio.to_thread(fetch, url, settings)
    data = fetched.data
    # without a validator upstream, the bytes themselves are the version
    version = fetched.validator or "sha256:" + hashlib.sha256(data).hexdigest()
    return Source(f"url:{url}", version, lambda: data)
