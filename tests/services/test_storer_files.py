"""The storer's files: a batch's captioned images on disk, each durable, before its rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pixelmill.config import Settings
from pixelmill.errors import Unavailable
from pixelmill.jobs.queue import Message
from pixelmill.services import captions
from pixelmill.services.registry import CAPTIONER, STORER
from pixelmill.services.runtime import Runtime
from tests.services.accepting import accept_captions


@pytest.fixture
def runtime(make_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    opened = Runtime.open(make_settings())
    yield opened
    opened.close()


def captioned(runtime: Runtime, count: int) -> tuple[list[str], captions.Storer, list[Message]]:
    ids = accept_captions(runtime, count)
    captioner, storer = CAPTIONER.handler(runtime), STORER.handler(runtime)
    assert isinstance(captioner, captions.Captioner) and isinstance(storer, captions.Storer)
    runtime.handlers += [captioner, storer]  # closed with the runtime
    captioner.many(runtime.queue.take(captions.INBOX, CAPTIONER.name, "t", count=100, block_ms=0))
    results = runtime.queue.take(captions.OUTBOX, STORER.name, "t", count=100, block_ms=0)
    return ids, storer, results


def test_a_batch_s_files_hold_each_image_sent(runtime: Runtime) -> None:
    ids, storer, results = captioned(runtime, 3)
    storer.many(results)
    folder = runtime.settings.storage_path / "captions"
    for message in results:
        id = message.fields["id"].decode()
        assert (folder / f"{id}.jpg").read_bytes() == message.fields["image"]
    assert sorted(path.name for path in folder.iterdir()) == sorted(f"{id}.jpg" for id in ids)


def test_a_folder_that_cannot_be_written_is_an_outage_and_no_row_is_stored(
    runtime: Runtime,
) -> None:
    ids, storer, results = captioned(runtime, 3)
    runtime.settings.storage_path.mkdir(parents=True, exist_ok=True)
    (runtime.settings.storage_path / "captions").write_bytes(b"a file where the folder goes")
    with pytest.raises(Unavailable, match="storage unavailable"):
        storer.many(results)
    with runtime.database.session() as session:
        rows = [runtime.repository.get(session, id) for id in ids]
        assert [row.status if row else None for row in rows] == ["queued"] * 3
