"""The count at the end: what became of every attempt, and what every websocket client saw."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from tests.cluster.load import Load

# close codes that tell a client to reconnect and catch up: going away (a host stopping),
# slow (fell behind), internal error, service restart (the server's event feed had a gap),
# try again later, and 1006: the connection was lost without a close (its host vanished)
TOLD = {1001, 1006, 1008, 1011, 1012, 1013}
TOLD_COVERS_SECONDS = 20.0


@dataclass
class Count:
    accepted: int = 0
    stored: int = 0
    dead: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unconfirmed_stored: int = 0  # no 202 seen (a 5xx, a cut connection), yet stored once
    orphan_files: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # websocket sessions that missed events untold
    sessions: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # faults the cluster did not recover from
    slowest: dict[str, float] = field(default_factory=dict)  # phase -> longest post-to-stored


def rows(database_url: str) -> dict[str, list[tuple[str, str, str | None, str | None]]]:
    """Rows by token: (id, status, file_path, error)."""
    found: dict[str, list[tuple[str, str, str | None, str | None]]] = defaultdict(list)
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        for id, description, status, path, error in connection.execute(
            "SELECT id, description, status, file_path, error FROM captions"
        ):
            found[description.removeprefix("cluster ")].append((id, status, path, error))
        for id, filename, status, path, error in connection.execute(
            "SELECT id, filename, status, file_path, error FROM face_images"
        ):
            found[(filename or "").removesuffix(".jpg")].append((id, status, path, error))
    return found


def dead_letters(redis_url: str) -> dict[str, str]:
    """Job id -> the reason it was dead-lettered, from every dead-letter stream."""
    client = redis.Redis.from_url(redis_url)
    reasons: dict[str, str] = {}
    try:
        for key in client.scan_iter(match="pixelmill:*:dead"):
            for _, fields in client.xrange(key):
                id = fields.get(b"id", b"").decode()
                reasons[id] = fields.get(b"dead_reason", b"?").decode()
    finally:
        client.close()
    return reasons


def backlog(redis_url: str) -> int:
    """Messages still in the work streams (a stream holds only what is not acknowledged)."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [
            k
            for k in client.scan_iter(match="pixelmill:*", _type="stream")
            if not k.endswith(b":dead")
        ]
        return sum(int(client.xlen(k)) for k in keys)
    finally:
        client.close()


def count(load: Load, database_url: str, redis_url: str, storage: Path) -> Count:
    result = Count()
    by_token = rows(database_url)
    stored_at = stored_times(database_url)
    dead = dead_letters(redis_url)
    files = {str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file()}
    referenced: set[str] = set()
    for attempt in load.attempts:
        found = by_token.get(attempt.token, [])
        if len(found) > 1:
            ids = ", ".join(row[0] for row in found)
            result.duplicated.append(
                f"{attempt.kind} {attempt.token} answered {attempt.status or attempt.error} in "
                f"phase {attempt.phase}: {len(found)} rows ({ids})"
            )
        for _, _, path, _ in found:
            if path:
                referenced.add(path)
        accepted = attempt.status in (201, 202)
        if not accepted:
            if any(status == "stored" for _, status, _, _ in found):
                result.unconfirmed_stored += 1
            continue
        result.accepted += 1
        stored = [row for row in found if row[1] == "stored" and row[2] in files]
        failed = [row for row in found if row[1] == "failed" and (row[3] or dead.get(row[0]))]
        if len(found) == 1 and stored:
            result.stored += 1
            waited = stored_at.get(stored[0][0], attempt.started) - attempt.started
            result.slowest[attempt.phase] = max(result.slowest.get(attempt.phase, 0.0), waited)
        elif len(found) == 1 and (failed or attempt.id in dead):
            result.dead += 1
        elif not found or len(found) == 1:
            state = found[0][1] if found else "no row"
            result.lost.append(
                f"{attempt.kind} {attempt.token} id={attempt.id} ({state}, phase {attempt.phase})"
            )
    result.orphan_files = sorted(f for f in files if f not in referenced and not f.startswith("."))
    result.missed = missed_events(load, stored_faces(database_url))
    return result


def stored_times(database_url: str) -> dict[str, float]:
    """Job id -> when its row became stored (seconds since the epoch)."""
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        return {
            id: float(at)
            for table in ("captions", "face_images")
            for id, at in connection.execute(
                f"SELECT id, extract(epoch from updated_at) FROM {table} WHERE status = 'stored'"
            )
        }


def stored_faces(database_url: str) -> dict[str, float]:
    """Face job id -> when its row became stored: its event is published right after."""
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        rows = connection.execute(
            "SELECT id, extract(epoch from updated_at) FROM face_images WHERE status = 'stored'"
        )
        return {id: float(at) for id, at in rows}


def missed_events(
    load: Load, stored: dict[str, float], start_margin: float = 0.5, end_margin: float = 2.0
) -> list[str]:
    """Sessions that ended without a code that tells the client it may have missed events, and
    missed one published while they were connected; each as a line.

    An event is due when its face was stored (its row's time; the worker publishes right
    after), or when Redis handed it to the observer; a published event any client saw counts
    too. One whose PUBLISH failed (Redis unreachable) is due all the same: a client that was
    connected then and was not told to reconnect has missed it."""
    published = dict(load.published)
    for id, at in stored.items():
        published[id] = min(published.get(id, at), at)
    for session in load.sessions:  # an event any client saw was published
        for id, at in session.ids.items():
            published[id] = min(published.get(id, at), at)
    lines = []
    for session in load.sessions:
        code = session.code if session.code is not None else 1000
        end = session.closed or float("inf")
        # a close that tells the client to catch up covers what it missed shortly before:
        # a gap in the feed (Redis down and back: at most ~15 s) or its host going away
        end_margin_here = TOLD_COVERS_SECONDS if code in TOLD else end_margin
        missing = [
            id for id, at in published.items()
            if session.opened + start_margin <= at <= end - end_margin_here
            and id not in session.ids
        ]  # fmt: skip
        if missing:
            times = sorted(published[id] for id in missing)
            lines.append(
                f"websocket on {session.host} open {_clock(session.opened)}-{_clock(end)} "
                f"(code {code}) missed {len(missing)} of the events published meanwhile (from "
                f"{_clock(times[0])} to {_clock(times[-1])}), e.g. {missing[:2]}"
            )
    return lines


def _clock(at: float) -> str:
    return "end" if at == float("inf") else time.strftime("%H:%M:%S", time.localtime(at))
