"""The captioner and the storer on batches: what lands in the outbox, on disk and in the rows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from pixelmill.config import Settings
from pixelmill.jobs import run_worker
from pixelmill.jobs.queue import Message
from pixelmill.services import captions
from pixelmill.services.registry import CAPTIONER, STORER
from pixelmill.services.runtime import Runtime
from pixelmill.storage.db import Database
from pixelmill.storage.models import Status
from tests.jobs.waiting import wait_until
from tests.server import free_port
from tests.services.accepting import accept_captions

KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def runtime(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    database_url: Callable[[str], str],
) -> Iterator[Runtime]:
    opened = Runtime.open(make_settings(database_url=database_url(request.param)))
    yield opened
    opened.close()


def handlers(runtime: Runtime) -> tuple[captions.Captioner, captions.Storer]:
    captioner, storer = CAPTIONER.handler(runtime), STORER.handler(runtime)
    assert isinstance(captioner, captions.Captioner) and isinstance(storer, captions.Storer)
    runtime.handlers += [captioner, storer]  # closed with the runtime
    return captioner, storer


def take(runtime: Runtime, stream: str, group: str) -> list[Message]:
    return runtime.queue.take(stream, group, "test", count=100, block_ms=0)


def test_a_batch_is_captioned_stored_and_can_be_stored_again(runtime: Runtime) -> None:
    ids = accept_captions(runtime, 5)
    captioner, storer = handlers(runtime)

    captioner.many(take(runtime, captions.INBOX, CAPTIONER.name))
    results = take(runtime, captions.OUTBOX, STORER.name)
    assert [m.fields["id"].decode() for m in results] == ids  # in order, one result each
    storer.many(results)
    storer.many(results)  # redelivered whole: the same files, one row each

    with runtime.database.session() as session:
        rows, total = runtime.repository.list(session, limit=10)
        assert total == 5
        for row in rows:
            assert row.status == Status.STORED.value
            assert row.file_path == f"captions/{row.id}.jpg"
            image = cv2.imread(str(runtime.settings.storage_path / row.file_path))
            assert image.shape[1] == 80 and image.shape[0] == row.height > 60  # a band below
            assert np.all(image[-3:, :3] < 40)  # black at the band's corner
    assert sorted(p.stem for p in (runtime.settings.storage_path / "captions").iterdir()) == ids
    assert captioner.threads == 2  # make_settings: thread_workers=2; the batch used them
    assert {t.name for t in threading.enumerate()} >= {"pixelmill-caption_0", "pixelmill-caption_1"}


def test_a_failure_notice_in_a_batch_marks_its_row_failed_and_the_rest_stored(
    runtime: Runtime,
) -> None:
    ids = accept_captions(runtime, 3)
    inbox = take(runtime, captions.INBOX, CAPTIONER.name)
    captioner, storer = handlers(runtime)
    captioner.many(inbox[::2])
    results = take(runtime, captions.OUTBOX, STORER.name)
    notice = Message(
        "9-0",
        {
            "id": ids[1].encode(),
            "description": "кадр 1".encode(),
            "received_at": datetime.now(UTC).isoformat().encode(),
            "error": b"ValueError('cannot decode')",
        },
        1,
    )

    storer.many([results[0], notice, results[1]])

    with runtime.database.session() as session:
        statuses = [row.status for id in ids if (row := runtime.repository.get(session, id))]
    assert statuses == ["stored", "failed", "stored"]
    assert not (runtime.settings.storage_path / f"captions/{ids[1]}.jpg").exists()


def test_a_database_outage_is_waited_out_not_blamed_on_the_messages(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ids = accept_captions(runtime, 4)
    captioner, storer = handlers(runtime)
    captioner.many(take(runtime, captions.INBOX, CAPTIONER.name))
    working = storer.database
    storer.database = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/down")
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(runtime.queue, captions.OUTBOX, STORER.name, "storer-1", storer),
        kwargs={"stop": stop, "max_deliveries": 2, "block_ms": 20, "max_backoff_seconds": 0.1},
    )
    worker.start()
    try:
        # far more attempts than max_deliveries while the database is down
        wait_until(lambda: caplog.text.count("database unavailable") >= 6, "attempts")
        assert runtime.queue.dead(captions.OUTBOX) == 0
        storer.database = working  # the database is back

        def stored() -> bool:
            with working.session() as session:
                rows = [runtime.repository.get(session, id) for id in ids]
            return all(row is not None and row.status == "stored" for row in rows)

        wait_until(stored, "every caption stored")
    finally:
        stop.set()
        worker.join(10)
    assert runtime.queue.dead(captions.OUTBOX) == 0
    assert runtime.queue.depth(captions.OUTBOX) == 0
