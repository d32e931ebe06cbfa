"""The embedded mode's inbox: a durable copy of each accepted upload, `<data dir>/inbox/<id>`,
kept until its job is stored or failed, so that a job accepted before a restart is queued
again after it. With Redis the queue itself is durable and there is no inbox (`None`).
"""

from __future__ import annotations

from pathlib import Path

from pixelmill.storage.files import write_atomically


def keep(inbox_dir: Path | None, id: str, upload: bytes) -> None:
    """Keep the upload of job `id` until `forget`."""
    if inbox_dir is not None:
        write_atomically(inbox_dir / id, upload)


def forget(inbox_dir: Path | None, id: str) -> None:
    """Job `id` is stored, failed or refused: its upload is not needed again."""
    if inbox_dir is not None:
        (inbox_dir / id).unlink(missing_ok=True)
