"""Storage keys: what every blob store (storage/blobs.py, storage/s3.py) accepts as a name.

A key is relative and `/`-separated (`captions/3f0c….jpg`, `faces/9b2f….png`); an absolute key,
`.` or `..`, a backslash, a NUL or an empty part is refused with ValueError, so no key reaches
outside a local store's folder or an S3 store's prefix.
"""

from __future__ import annotations


def check_key(key: str) -> str:
    """`key` itself when it is a relative `/`-separated key, else ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError("a storage key must be a non-empty string")
    if key.startswith("/"):
        raise ValueError(f"storage key {key!r} is absolute")
    if "\\" in key or "\0" in key:
        raise ValueError(f"storage key {key!r} holds a backslash or a NUL")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"storage key {key!r} has an empty, '.' or '..' part")
    return key
