"""Dead letters people act on: a caption job dies (its font file is broken), is listed without
its image, survives a restart, and once the font is fixed a requeue runs it exactly once to
a stored row and file; in the embedded mode and on Redis.

The failure is a real one, not a handler made to raise: the captioner is configured with a
font file that is not a font (a bad deploy), so every delivery fails until it is replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from pixelmill.config import Settings
from pixelmill.errors import NotFound
from pixelmill.imaging.fonts import default_font_file
from pixelmill.jobs import RedisQueue, run_worker
from pixelmill.redis_client import connect
from pixelmill.services import captions, dead_letters
from pixelmill.services.accept import requeue_unfinished
from pixelmill.services.registry import CAPTIONER, STORER
from pixelmill.services.resources import Resources
from pixelmill.services.runtime import Runtime
from pixelmill.storage.models import Status
from tests.redis_server import SHARED_REDIS_URL
from tests.services.accepting import accept_captions

MAX_DELIVERIES = 2
OpenRuntime = Callable[[], Runtime]
Handled = dict[str, dict[str, int]]


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def open_runtime(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[OpenRuntime]:
    """Factory: a process's runtime (call it again for a restart) whose caption font is the
    file `tmp_path/font.ttf`, broken until a test copies a real font over it."""
    (tmp_path / "font.ttf").write_bytes(b"not a font at all")
    overrides: dict[str, object] = {
        "caption_font": str(tmp_path / "font.ttf"),
        "max_deliveries": MAX_DELIVERIES,
        "claim_idle_ms": 100,
    }
    if request.param == "redis":
        overrides |= {
            "redis_url": SHARED_REDIS_URL,
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
    settings = make_settings(**overrides)
    opened: list[Runtime] = []

    def open_() -> Runtime:
        for runtime in opened:
            runtime.close()
        opened.append(Runtime.open(settings))
        return opened[-1]

    yield open_
    for runtime in opened:
        runtime.close()


def fix_the_font(tmp_path: Path) -> None:
    shutil.copyfile(default_font_file(), tmp_path / "font.ttf")


def work(runtime: Runtime) -> None:
    """The captioner, then the storer, each until its stream is empty."""
    for service in (CAPTIONER, STORER):
        run_worker(
            runtime.queue,
            service.stream,
            service.name,
            f"test:{service.name}",
            service.handler(runtime),
            max_deliveries=MAX_DELIVERIES,
            stats=runtime.job_stats,
            block_ms=50,
            drain=True,
        )
    runtime.job_stats.flush(force=True)


def handled(runtime: Runtime, since: Handled | None = None) -> Handled:
    """Messages each service handled, by outcome (since an earlier reading): on Redis the
    totals are every process's, so a test counts what happened after a point."""
    totals = runtime.job_stats.read((CAPTIONER.name, STORER.name))
    return {
        name: {o: n - (since or {}).get(name, {}).get(o, 0) for o, n in stats.outcomes.items()}
        for name, stats in totals.items()
    }


def status_of(runtime: Runtime, id: str) -> str:
    with runtime.database.session() as session:
        row = runtime.repository.get(session, id)
        assert row is not None
        return str(row.status)


def stored_file(runtime: Runtime, id: str) -> Path:
    return runtime.settings.storage_path / f"captions/{id}.jpg"


def test_a_dead_letter_is_listed_without_its_image_and_requeued_runs_once_to_stored(
    open_runtime: OpenRuntime, tmp_path: Path
) -> None:
    runtime = open_runtime()
    ids = accept_captions(runtime, 2)
    work(runtime)

    assert [status_of(runtime, id) for id in ids] == [Status.FAILED] * 2
    letters = dead_letters.list_letters(runtime.queue)
    assert sorted(letter["job_id"] for letter in letters) == sorted(ids)  # in the order they died
    [first] = [letter for letter in letters if letter["job_id"] == ids[0]]
    assert first["stream"] == CAPTIONER.stream and first["group"] == CAPTIONER.name
    assert first["deliveries"] == MAX_DELIVERIES
    assert "is not a TrueType or OpenType font" in first["reason"]
    assert first["first_failure"] <= first["last_failure"]
    assert first["fields"]["description"] == "кадр 0"
    image = first["fields"]["image"]
    assert image["kind"] == "jpeg" and image["bytes"] > 500
    listing = json.dumps(letters)
    assert len(listing) < 3000  # two letters, and not an image's bytes among them
    assert not (runtime.settings.data_dir / "inbox" / ids[0]).exists()

    runtime = open_runtime()  # a restart: the letters are still there
    assert {letter["job_id"] for letter in dead_letters.list_letters(runtime.queue)} == set(ids)
    fix_the_font(tmp_path)
    before = handled(runtime)
    dead_letters.requeue(runtime, CAPTIONER.stream, first["id"])
    assert status_of(runtime, ids[0]) == Status.QUEUED
    with pytest.raises(NotFound):  # gone from the letters: a second requeue finds nothing
        dead_letters.requeue(runtime, CAPTIONER.stream, first["id"])
    work(runtime)

    assert status_of(runtime, ids[0]) == Status.STORED
    assert stored_file(runtime, ids[0]).stat().st_size > 500
    assert status_of(runtime, ids[1]) == Status.FAILED  # not requeued: still a letter
    assert [letter["job_id"] for letter in dead_letters.list_letters(runtime.queue)] == ids[1:]
    once = {"done": 1, "retried": 0, "failed": 0}
    assert handled(runtime, since=before) == {CAPTIONER.name: once, STORER.name: once}
    for service in (CAPTIONER, STORER):
        assert runtime.queue.depth(service.stream) == 0
        assert runtime.queue.dead(service.stream) == (1 if service is CAPTIONER else 0)


def test_many_hands_requeue_one_letter_and_it_runs_once(
    open_runtime: OpenRuntime, tmp_path: Path
) -> None:
    runtime = open_runtime()
    [id] = accept_captions(runtime, 1)
    work(runtime)
    [letter] = dead_letters.list_letters(runtime.queue)
    fix_the_font(tmp_path)

    outcomes: list[str] = []
    start = threading.Barrier(8)

    def requeue() -> None:
        start.wait()
        try:
            dead_letters.requeue(runtime, CAPTIONER.stream, letter["id"])
            outcomes.append("requeued")
        except NotFound:
            outcomes.append("not found")

    threads = [threading.Thread(target=requeue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["not found"] * 7 + ["requeued"]
    assert runtime.queue.depth(CAPTIONER.stream) == 1
    before = handled(runtime)
    work(runtime)
    assert status_of(runtime, id) == Status.STORED
    assert handled(runtime, since=before)[STORER.name]["done"] == 1


def test_requeue_all_and_delete(open_runtime: OpenRuntime, tmp_path: Path) -> None:
    runtime = open_runtime()
    ids = accept_captions(runtime, 3)
    work(runtime)
    [doomed, *_] = dead_letters.list_letters(runtime.queue)

    dead_letters.delete(runtime.queue, CAPTIONER.stream, doomed["id"])
    with pytest.raises(NotFound):
        dead_letters.show(runtime.queue, CAPTIONER.stream, doomed["id"])
    fix_the_font(tmp_path)
    assert dead_letters.requeue_all(runtime, CAPTIONER.stream) == 2
    work(runtime)

    assert {id: status_of(runtime, id) for id in ids} == {
        id: Status.FAILED if id == doomed["job_id"] else Status.STORED for id in ids
    }
    assert dead_letters.list_letters(runtime.queue) == []
    assert dead_letters.delete_all(runtime.queue) == 0


def test_unknown_streams_and_ids_are_not_found(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    with pytest.raises(NotFound, match="no stream 'jobs'"):
        dead_letters.list_letters(runtime.queue, "jobs")
    for bad in ("1-0", "not-an-id", "", "0-0-0", "../../etc"):
        with pytest.raises(NotFound):
            dead_letters.requeue(runtime, captions.INBOX, bad)
        with pytest.raises(NotFound):
            dead_letters.delete(runtime.queue, captions.INBOX, bad)


@pytest.mark.redis
def test_the_cli_lists_shows_requeues_and_deletes_on_redis(
    make_settings: Callable[..., Settings], redis_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "font.ttf").write_bytes(b"not a font at all")
    settings = make_settings(
        caption_font=str(tmp_path / "font.ttf"),
        max_deliveries=MAX_DELIVERIES,
        claim_idle_ms=100,
        redis_url=SHARED_REDIS_URL,
        redis_prefix=redis_prefix,
    )
    env = {
        "PIXELMILL_REDIS_URL": SHARED_REDIS_URL,
        "PIXELMILL_REDIS_PREFIX": redis_prefix,
        "PIXELMILL_DATA_DIR": str(settings.data_dir),
    }
    runtime = Runtime.open(settings)
    try:
        ids = accept_captions(runtime, 2)
        work(runtime)

        listed = cli(env, "list")
        letters = {letter["job_id"]: letter for letter in dead_letters.list_letters(runtime.queue)}
        for id in ids:
            assert f"{CAPTIONER.stream}  {letters[id]['id']}  job {id}  2 deliveries" in listed
        assert "captions:in: 2, captions:out: 0, faces:in: 0" in listed
        shown = json.loads(cli(env, "show", CAPTIONER.stream, letters[ids[0]]["id"]))
        assert shown["fields"]["image"]["kind"] == "jpeg"
        assert shown["deliveries"] == MAX_DELIVERIES

        assert cli(env, "delete", CAPTIONER.stream, letters[ids[1]]["id"]).startswith("deleted")
        fix_the_font(tmp_path)
        assert "requeued 1 dead letter(s)" in cli(env, "requeue", "--all")
        work(runtime)
        assert status_of(runtime, ids[0]) == Status.STORED
        assert stored_file(runtime, ids[0]).is_file()
        assert status_of(runtime, ids[1]) == Status.FAILED
        assert runtime.queue.dead(CAPTIONER.stream) == 0

        missing = cli(env, "requeue", CAPTIONER.stream, letters[ids[0]]["id"], code=2)
        assert "no dead letter" in missing and "Traceback" not in missing
    finally:
        runtime.close()


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    """`pixelmill dead-letters ARGS`: its output (stderr too, when CODE says it fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "pixelmill", "dead-letters", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    return done.stdout if code == 0 else done.stderr


def test_embedded_a_requeue_from_another_process_runs_at_the_next_start(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """The CLI beside a running embedded server: the queue is the server's memory, so the
    CLI's requeue makes the job unfinished, and the next start queues it, once."""
    (tmp_path / "font.ttf").write_bytes(b"not a font at all")
    settings = make_settings(caption_font=str(tmp_path / "font.ttf"), max_deliveries=1)
    server = Runtime.open(settings)
    try:
        [id] = accept_captions(server, 1)
        work(server)
        [letter] = dead_letters.list_letters(server.queue)
        cli_side = Resources.open(settings)
        try:
            dead_letters.requeue(cli_side, CAPTIONER.stream, letter["id"], live=False)
        finally:
            cli_side.close()
        assert server.queue.dead(CAPTIONER.stream) == 0  # one folder: the server sees it gone
        assert status_of(server, id) == Status.QUEUED
    finally:
        server.close()

    fix_the_font(tmp_path)
    restarted = Runtime.open(settings)
    try:
        assert requeue_unfinished(restarted, threading.Event()) == 1
        work(restarted)
        assert status_of(restarted, id) == Status.STORED
        assert stored_file(restarted, id).is_file()
        assert requeue_unfinished(restarted, threading.Event()) == 0
    finally:
        restarted.close()


@pytest.mark.redis
def test_letters_dead_before_briefs_were_kept_are_listed_and_requeued(
    redis_prefix: str, redis_client: redis.Redis
) -> None:
    """A letter written straight to `<stream>:dead` (as before briefs): listed from the letter
    itself, with its image cut to its head, and requeued whole."""
    queue = RedisQueue(connect(SHARED_REDIS_URL), redis_prefix, max_length=10, claim_idle_ms=60_000)
    image = b"\xff\xd8\xff" + bytes(5000)
    redis_client.xadd(
        f"{redis_prefix}:captions:in:dead",
        {"id": b"job-1", "image": image, "dead_reason": b"old", "dead_deliveries": b"5"},
    )
    [letter] = queue.list_dead(captions.INBOX)
    assert letter.sizes["image"] == 5003 and letter.fields["image"] == image[:32]
    assert letter.fields["dead_reason"] == b"old"
    assert queue.requeue_dead(captions.INBOX, letter.id)
    [message] = queue.take(captions.INBOX, CAPTIONER.name, "c")
    assert message.fields == {"id": b"job-1", "image": image}
