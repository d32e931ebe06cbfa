"""The result cache of `/img` and `/info`: finished answers by the hash of what made them.

    ResultCache (protocol)     get / put
    ├── DiskCache              files under PIXELMILL_CACHE_DIR, at most PIXELMILL_CACHE_BYTES,
    │                          least recently used out first
    └── BlobCache              objects under `cache/` in the S3 bucket, shared by every host
                               (bound them with a lifecycle rule on that prefix)

A key is the hex SHA-256 of the source's identity and version, the normalized options and the
negotiated format, so a source that changes gets new keys and is never served stale; nothing
is ever invalidated, old entries just age out. An entry is its media type on one line, then
the bytes: a hit reads one file and decodes nothing.

DiskCache is safe across processes: every entry is written to a temporary file and renamed
into place (a reader sees all of an entry or none), a hit touches the file's mtime (the LRU
clock: atime is often off), and eviction lists the folder, removes the oldest files until the
total is under 80% of the bound, and takes a file that another process removed first as gone.
Each process counts the bytes it wrote since its last listing; the folder is listed again when
that count could take the total past the bound, so the total stays under the bound up to what
other processes wrote since their own last listing.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pixelmill.errors import NotFound
from pixelmill.storage.blobs import BlobStore
from pixelmill.storage.files import write_atomically

LOW_WATER = 0.8  # eviction goes down to this share of the bound, so it does not run each put
PREFIX = "cache/"


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached answer."""

    media_type: str
    data: bytes

    def pack(self) -> bytes:
        return self.media_type.encode() + b"\n" + self.data

    @classmethod
    def unpack(cls, raw: bytes) -> Entry | None:
        media_type, newline, data = raw.partition(b"\n")
        if not newline or len(media_type) > 100:
            return None  # not one of ours
        return cls(media_type.decode("ascii", "replace"), data)


@dataclass
class CacheStats:
    """What the cache did, for /metrics."""

    evictions: int = 0
    evicted_bytes: int = 0
    stored_bytes: int = 0  # bytes held, as of the last listing plus this process's writes


class ResultCache(Protocol):
    stats: CacheStats

    @property
    def kind(self) -> str: ...

    def get(self, key: str) -> Entry | None:
        """The entry of `key`, or None."""
        ...

    def put(self, key: str, entry: Entry) -> None:
        """Store `entry` under `key` (atomically; the same key again replaces it)."""
        ...


class DiskCache:
    """Entries as files `<root>/<key[:2]>/<key>`, bounded in bytes, LRU by mtime."""

    kind = "disk"

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._written = 0  # bytes this process wrote since its last listing
        self._listed: int | None = None  # the total at the last listing

    def _path(self, key: str) -> Path:
        if len(key) < 8 or not key.isalnum():
            raise ValueError(f"bad cache key {key!r}")
        return self.root / key[:2] / key

    def get(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            raw = path.read_bytes()
            os.utime(path)  # the LRU clock
        except (FileNotFoundError, NotADirectoryError):
            return None  # never written, or evicted meanwhile
        return Entry.unpack(raw)

    def put(self, key: str, entry: Entry) -> None:
        raw = entry.pack()
        if len(raw) > self.max_bytes * LOW_WATER:
            return  # it would push out everything else
        write_atomically(self._path(key), raw)
        with self._lock:
            self._written += len(raw)
            if self._listed is None or self._listed + self._written > self.max_bytes:
                self._evict()
            self.stats.stored_bytes = (self._listed or 0) + self._written

    def _evict(self) -> None:
        """List every entry; remove the least recently used until under LOW_WATER × bound."""
        entries: list[tuple[float, int, str]] = []
        total = 0
        for shard in _scandir(self.root):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for item in _scandir(Path(shard.path)):
                try:
                    stat = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed by another process meanwhile
                if item.name.startswith(".") and time.time() - stat.st_mtime < 3600:
                    total += stat.st_size  # a write in progress: counted, left alone
                    continue
                entries.append((stat.st_mtime, stat.st_size, item.path))
                total += stat.st_size
        if total > self.max_bytes:
            entries.sort()
            target = self.max_bytes * LOW_WATER
            for _, size, path in entries:
                if total <= target:
                    break
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass  # another process evicted it first: gone all the same
                else:
                    self.stats.evictions += 1
                    self.stats.evicted_bytes += size
                total -= size
        self._listed, self._written = total, 0


class BlobCache:
    """Entries as objects `cache/<key>` in the blob store (the S3 bucket): every host shares
    them; the bucket bounds them (a lifecycle rule on the prefix), not pixelmill."""

    kind = "s3"

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.stats = CacheStats()

    def get(self, key: str) -> Entry | None:
        try:
            return Entry.unpack(self.blobs.get(PREFIX + key))
        except NotFound:
            return None

    def put(self, key: str, entry: Entry) -> None:
        raw = entry.pack()
        self.blobs.put(PREFIX + key, raw, "application/octet-stream")
        self.stats.stored_bytes += len(raw)


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as items:
            return list(items)
    except (FileNotFoundError, NotADirectoryError):
        return []
