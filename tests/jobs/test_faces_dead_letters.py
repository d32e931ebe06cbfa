"""Dead letters of the faces service: a job that dies on a broken detector model is listed,
survives a restart, and once the model is fixed (here: the setting put back to the shipped
Haar cascade) a requeue runs it exactly once to a stored row and boxed file; in the embedded
mode and on Redis. The captions' side is tests/jobs/test_dead_letters.py.

The failure is a real one: `PIXELMILL_FACES_MODEL` names a file that is not an ONNX model (a
bad deploy), so every delivery fails until the setting is fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from pixelmill.config import Settings
from pixelmill.jobs import run_worker
from pixelmill.services import dead_letters
from pixelmill.services.registry import FACES
from pixelmill.services.runtime import Runtime
from pixelmill.storage.models import Status
from tests.redis_server import SHARED_REDIS_URL
from tests.services.accepting import accept_faces

MAX_DELIVERIES = 2
OpenRuntime = Callable[..., Runtime]


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def open_runtime(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[OpenRuntime]:
    """Factory: a process's runtime (call it again for a restart), with a faces model file
    that is not a model unless `fixed`."""
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    overrides: dict[str, object] = {"max_deliveries": MAX_DELIVERIES, "claim_idle_ms": 100}
    if request.param == "redis":
        overrides |= {
            "redis_url": SHARED_REDIS_URL,
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
    opened: list[Runtime] = []

    def open_(fixed: bool = False) -> Runtime:
        for runtime in opened:
            runtime.close()
        model = None if fixed else tmp_path / "model.onnx"
        opened.append(Runtime.open(make_settings(faces_model=model, **overrides)))
        return opened[-1]

    yield open_
    for runtime in opened:
        runtime.close()


def work(runtime: Runtime) -> None:
    """The faces service until its stream is empty."""
    run_worker(
        runtime.queue,
        FACES.stream,
        FACES.name,
        f"test:{FACES.name}",
        FACES.handler(runtime),
        max_deliveries=MAX_DELIVERIES,
        stats=runtime.job_stats,
        block_ms=50,
        drain=True,
    )


def row(runtime: Runtime, id: str) -> object:
    with runtime.database.session() as session:
        found = runtime.face_repository.get(session, id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_faces_dead_letter_requeued_after_the_fix_runs_once_to_stored(
    open_runtime: OpenRuntime,
) -> None:
    runtime = open_runtime()
    ids = accept_faces(runtime, 2)
    work(runtime)

    assert [row(runtime, id).status for id in ids] == [Status.FAILED] * 2  # type: ignore[attr-defined]
    letters = dead_letters.list_letters(runtime.queue)
    assert sorted(letter["job_id"] for letter in letters) == sorted(ids)
    [first] = [letter for letter in letters if letter["job_id"] == ids[0]]
    assert first["stream"] == FACES.stream and first["deliveries"] == MAX_DELIVERIES
    assert first["fields"]["filename"] == "photo 0.jpg"
    assert first["fields"]["image"]["kind"] == "jpeg"
    assert "is not a face detection model OpenCV can read" in first["reason"]

    runtime = open_runtime(fixed=True)  # a restart with the setting fixed: letters stay
    assert {letter["job_id"] for letter in dead_letters.list_letters(runtime.queue)} == set(ids)
    dead_letters.requeue(runtime, FACES.stream, first["id"])
    assert row(runtime, ids[0]).status == Status.QUEUED  # type: ignore[attr-defined]
    work(runtime)

    stored = row(runtime, ids[0])
    assert stored.status == Status.STORED  # type: ignore[attr-defined]
    assert stored.detector == "haar"  # type: ignore[attr-defined]
    boxed = runtime.blobs.get(stored.file_path)  # type: ignore[attr-defined]
    image = cv2.imdecode(np.frombuffer(boxed, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (90, 120)
    assert row(runtime, ids[1]).status == Status.FAILED  # type: ignore[attr-defined]
    assert [letter["job_id"] for letter in dead_letters.list_letters(runtime.queue)] == ids[1:]
    assert runtime.queue.depth(FACES.stream) == 0
    assert runtime.queue.dead(FACES.stream) == 1
