"""Faults in the embedded default (`pixelmill serve`, no Redis), where the services run inside
the API process and their pixel work on its pools: the whole server killed with jobs in hand,
and its worker processes killed under the pixel work. Every job answered 202 is stored once."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from pixelmill.storage.models import Caption, FaceImage
from tests.images import encode
from tests.imaging.test_faces import astronaut
from tests.integration.deployment import Deployment

pytestmark = [pytest.mark.slow, pytest.mark.long]

FACE = encode(astronaut(), ".jpg")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    # the default execution design, whose pixel work runs in worker processes
    deployment = Deployment(tmp_path, {"PIXELMILL_EXECUTION": "processes"})
    yield deployment
    deployment.stop_all()


def children() -> dict[int, list[int]]:
    """Each process's children, from the parent ids in /proc."""
    found: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            found.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: the pools' forkserver, its worker processes and helpers."""
    tree, found, todo = children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def pool_workers(pid: int) -> list[int]:
    """The pools' worker processes: the children of the API process's children (its
    forkserver's)."""
    tree = children()
    return [worker for child in tree.get(pid, []) for worker in tree.get(child, [])]


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.kill(pid, signum)


def post_face(client: httpx.Client, url: str, i: int) -> httpx.Response:
    return client.post(url + "/api/v1/images", files={"file": (f"{i}.jpg", FACE, "image/jpeg")})


def poster(
    deployment: Deployment, count: int, accepted: dict[str, list[str]]
) -> Callable[[], None]:
    """Uploads captions and faces, alternately, until COUNT or the server is gone."""

    def run() -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(count):
                try:
                    if i % 3 == 2:
                        response = post_face(client, deployment.url, i)
                        kind = "faces"
                    else:
                        response = deployment.post(client, i)
                        kind = "captions"
                except httpx.HTTPError:
                    return  # killed: what was answered 202 is in `accepted`
                assert response.status_code in (201, 202), response.text
                accepted[kind].append(response.json()["id"])

    return run


def counts(url: str, model: type[Caption] | type[FaceImage]) -> tuple[int, int]:
    """(rows, rows stored) of a job table."""
    engine = create_engine(url)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(model)).scalar_one()
        stored = connection.execute(
            select(func.count()).select_from(model).where(model.status == "stored")
        ).scalar_one()
    engine.dispose()
    return total, stored


def wait_faces(client: httpx.Client, url: str, ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for id in ids:
        while (meta := client.get(f"{url}/api/v1/images/{id}/meta")).status_code != 200:
            assert meta.status_code == 409, meta.text  # still being processed
            assert time.monotonic() < deadline, f"face image {id} not stored"
            time.sleep(0.2)


def assert_stored_once(deployment: Deployment, accepted: dict[str, list[str]]) -> None:
    """Every job answered 202 stored, with one row and one file; no file without a row."""
    database = f"sqlite:///{deployment.tmp / 'data' / 'pixelmill.db'}"
    with httpx.Client(timeout=30) as client:
        items = deployment.wait_for(client, accepted["captions"])
        wait_faces(client, deployment.url, accepted["faces"])
    assert all(items[id]["status"] == "stored" for id in accepted["captions"])
    for folder, model, ids in (
        ("captions", Caption, accepted["captions"]),
        ("faces", FaceImage, accepted["faces"]),
    ):
        files = [path.stem for path in (deployment.storage / folder).iterdir()]
        assert len(files) == len(set(files))  # one file per job
        assert set(ids) <= set(files)
        # a job whose 202 the kill cut off may be stored too, but never twice
        assert counts(database, model)[1] == len(files), folder


def test_a_server_killed_with_jobs_in_hand_does_them_after_a_restart(
    deployment: Deployment,
) -> None:
    deployment.start_api()
    assert deployment.api is not None
    accepted: dict[str, list[str]] = {"captions": [], "faces": []}
    uploads = threading.Thread(target=poster(deployment, 400, accepted))
    uploads.start()
    while len(accepted["captions"]) + len(accepted["faces"]) < 20:
        time.sleep(0.01)
    # the pixel work stops (its worker processes frozen) while uploads are still accepted,
    # so that the kill finds jobs queued, in the captioner's hands and waiting to be stored
    pool = descendants(deployment.api.pid)
    signal_all(pool, signal.SIGSTOP)
    held = len(accepted["captions"]) + len(accepted["faces"])
    while len(accepted["captions"]) + len(accepted["faces"]) < held + 30:
        time.sleep(0.01)
    signal_all([deployment.api.pid, *pool], signal.SIGKILL)
    deployment.api.wait()
    uploads.join()
    database = f"sqlite:///{deployment.tmp / 'data' / 'pixelmill.db'}"
    total, stored = counts(database, Caption)
    assert stored < total  # the kill left captions undone

    deployment.start_api()  # the same data dir: its database and inbox
    assert_stored_once(deployment, accepted)


def test_worker_processes_killed_under_the_pixel_work_lose_nothing(
    deployment: Deployment,
) -> None:
    deployment.start_api()
    assert deployment.api is not None
    accepted: dict[str, list[str]] = {"captions": [], "faces": []}
    uploads = threading.Thread(target=poster(deployment, 90, accepted))
    uploads.start()
    try:
        for mark in (20, 50):  # while uploads flow: kill -9 every worker process of the pools
            while len(accepted["captions"]) + len(accepted["faces"]) < mark:
                assert uploads.is_alive()
                time.sleep(0.01)
            workers = pool_workers(deployment.api.pid)
            assert workers
            signal_all(workers, signal.SIGKILL)
    finally:
        uploads.join()
    assert len(accepted["captions"]) + len(accepted["faces"]) == 90  # the server kept serving
    assert_stored_once(deployment, accepted)
