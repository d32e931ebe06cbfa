"""Files written so that a reader never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    Readers see the old file or the new one, never a torn one, however many writers race.
    `durable`: also fsync the file and its folder, so that the file survives a power loss
    once this returns (for results whose message is acknowledged right after).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        if durable:
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_all_durably(files: dict[Path, bytes]) -> None:
    """`write_atomically(..., durable=True)` for every file, done as a batch: every file
    written first, then each one fsynced and each folder once. Writing them one by one
    fsyncs a file and its folder per file (two journal commits each); here the fsyncs after
    the first find their data already on its way. Every file survives a power loss once
    this returns."""
    for path, data in files.items():
        write_atomically(path, data)
    for path in [*files, *{path.parent for path in files}]:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
