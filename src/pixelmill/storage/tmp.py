"""Uploads kept for a while in the tmp folder (settings.tmp_path), within a retention limit.

    keep_upload(folder, data, ...)   save_upload, then prune: what /ocr calls for each upload
    save_upload(folder, data, ...)   written atomically under a new unique name that keeps
                                     the upload's extension: 20261123T193211.123456Z-<32 hex>.png
    prune(folder, ...)               removes files older than the age limit, then the oldest
                                     beyond the count limit

Only the extension of the client's file name is used, and only when it is short and
alphanumeric; otherwise the extension comes from the format sniffed from the content. Files
being written are hidden (`.name.xxxx.tmp`, storage/files.py) and do not count towards the
limit; such a file left behind by a crash is removed once it is older than the age limit.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePath

from pixelmill.storage.files import write_atomically

_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")
FORMAT_SUFFIXES = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tiff",
    "HEIF": ".heic",
    "AVIF": ".avif",
}


def keep_upload(
    folder: Path,
    data: bytes,
    filename: str | None,
    fmt: str,
    max_files: int,
    max_age_seconds: float,
) -> Path:
    """Save the upload, then apply the retention limit; the saved file's path."""
    path = save_upload(folder, data, filename, fmt)
    prune(folder, max_files, max_age_seconds)
    return path


def save_upload(folder: Path, data: bytes, filename: str | None, fmt: str) -> Path:
    """Write `data` atomically under a new unique name in `folder`; its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")  # names sort in time order
    path = folder / f"{stamp}-{uuid.uuid4().hex}{suffix_for(filename, fmt)}"
    write_atomically(path, data)
    return path


def suffix_for(filename: str | None, fmt: str) -> str:
    """The client's extension when it is safe (".png", ".jpeg"), else the format's."""
    suffix = PurePath(filename or "").suffix.lower()
    if _SAFE_SUFFIX.fullmatch(suffix):
        return suffix
    return FORMAT_SUFFIXES.get(fmt.upper(), ".bin")


def prune(
    folder: Path, max_files: int, max_age_seconds: float, now: float | None = None
) -> list[Path]:
    """Remove files older than `max_age_seconds`, then the oldest beyond `max_files`.

    Returns the removed paths. Files that vanish meanwhile (another request pruning) are
    skipped; folders and symlinks are never touched.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    kept: list[tuple[float, str, Path]] = []
    for path, mtime in _files(folder):
        if now - mtime > max_age_seconds:
            if _remove(path):
                removed.append(path)
        elif not path.name.startswith("."):
            kept.append((mtime, path.name, path))
    kept.sort(reverse=True)  # newest first; names (which start with the time) break ties
    for _, _, path in kept[max_files:]:
        if _remove(path):
            removed.append(path)
    return removed


def _files(folder: Path) -> list[tuple[Path, float]]:
    found: list[tuple[Path, float]] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return found
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                found.append((Path(entry.path), entry.stat(follow_symlinks=False).st_mtime))
        except FileNotFoundError:
            continue
    return found


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
