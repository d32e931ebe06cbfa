"""accept.Recorder: the embedded mode's caption uploads accepted together, each whole or not
at all, each request with its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from pixelmill.config import Settings
from pixelmill.errors import Unavailable
from pixelmill.services import captions
from pixelmill.services.accept import Job, Recorder
from pixelmill.services.runtime import Runtime
from tests.images import encode, photo


@pytest.fixture
def runtime(make_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    opened = Runtime.open(make_settings(queue_max_length=4))
    try:
        yield opened
    finally:
        opened.close()


def submit(recorder: Recorder, runtime: Runtime, id: str) -> Future[None]:
    """A caption upload handed to RECORDER as the API hands it over."""
    data, now = encode(photo(40, 30, seed=len(id)), ".jpg"), datetime.now(UTC)
    repository = runtime.repository
    return recorder.submit(
        Job(
            captions.INBOX,
            id,
            data,
            captions.accepted_message(id, data, f"кадр {id}", now),
            lambda s: repository.add(s, id, now, f"кадр {id}", flush=False),
            lambda s: repository.delete(s, id),
        )
    )


def status(runtime: Runtime, id: str) -> str | None:
    with runtime.database.session() as session:
        row = runtime.repository.get(session, id)
        return None if row is None else row.status


def test_jobs_waiting_together_are_each_accepted_whole(runtime: Runtime) -> None:
    recorder = runtime.recorder
    assert recorder is not None  # embedded: no Redis
    ids = [f"{i:032x}" for i in range(4)]
    answers = [submit(recorder, runtime, id) for id in ids]
    for answer in answers:
        answer.result(timeout=30)
    assert runtime.inbox_dir is not None
    for id in ids:
        assert status(runtime, id) == "queued"
        assert (runtime.inbox_dir / id).is_file()
    assert runtime.queue.depth(captions.INBOX) == 4


def holding(recorder: Recorder, gate: threading.Event) -> Future[None]:
    """A job whose row waits for GATE, then is refused: the recorder's thread is busy with
    it while the next jobs come in, and they are recorded together after it."""

    def hold(session: object) -> None:
        gate.wait(30)
        raise RuntimeError("held")

    return recorder.submit(Job(captions.INBOX, "0" * 32, b"", {}, hold, lambda s: None))


def test_a_job_the_queue_refuses_is_undone_and_the_others_stay(runtime: Runtime) -> None:
    """Room for 4 (queue_max_length): the fifth upload of a batch is a 503, nothing of it
    left; the four before it are accepted."""
    recorder = Recorder(runtime)
    try:
        gate = threading.Event()
        held = holding(recorder, gate)
        ids = [f"{i:032x}" for i in range(1, 6)]
        answers = [submit(recorder, runtime, id) for id in ids]
        gate.set()
        with pytest.raises(Unavailable):
            held.result(timeout=30)
        outcomes = []
        for answer in answers:
            try:
                answer.result(timeout=30)
                outcomes.append("accepted")
            except Unavailable:
                outcomes.append("refused")
        assert outcomes == ["accepted"] * 4 + ["refused"]
        assert runtime.inbox_dir is not None
        assert status(runtime, ids[-1]) is None and not (runtime.inbox_dir / ids[-1]).exists()
        assert all(status(runtime, id) == "queued" for id in ids[:-1])
    finally:
        recorder.close()


def test_a_request_gone_before_its_turn_is_not_accepted(runtime: Runtime) -> None:
    recorder = Recorder(runtime)
    try:
        gate = threading.Event()
        held = holding(recorder, gate)
        gone = submit(recorder, runtime, "f" * 32)
        assert gone.cancel()  # the client went away while the recorder was busy
        gate.set()
        with pytest.raises(Unavailable):
            held.result(timeout=30)
        recorder.close()
        assert status(runtime, "f" * 32) is None
        assert runtime.queue.depth(captions.INBOX) == 0
    finally:
        recorder.close()


def test_a_closed_recorder_refuses_with_a_503(runtime: Runtime) -> None:
    recorder = Recorder(runtime)
    recorder.close()
    with pytest.raises(Unavailable):
        submit(recorder, runtime, "e" * 32)
