"""Where the in-process queue keeps its dead letters: in memory, or in a folder.

The embedded default gives MemoryQueue a folder (`<data dir>/dead-letters`), so that dead
letters outlive a restart (the inbox keeps accepted work; a letter is work given up on, and
it must be there when someone comes to look) and `pixelmill dead-letters` can act on them
from another process. One file per letter, `<folder>/<stream, %-quoted>/<id>.letter`:

    {"fields": [["id", 32], ["image", 81234], ...]}\\n     a JSON line: names and sizes
    <the values, one after the other>

written through a temporary file and a rename. A letter is taken (requeued or deleted) by
renaming it first: of two processes taking the same letter, one rename wins.

Ids are `<ms since the epoch>-<n>`, like Redis stream ids, so that they sort by age and stay
unique across restarts.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from pixelmill.jobs.queue import BRIEF_BYTES, HEAD_BYTES, DeadLetter, brief, is_letter_id
from pixelmill.storage.files import write_atomically

SUFFIX = ".letter"


class DeadStore(Protocol):
    """The dead letters of every stream of one queue."""

    def add(self, stream: str, fields: Mapping[str, bytes]) -> str: ...
    def page(self, stream: str, count: int, after: str) -> list[DeadLetter]: ...
    def get(self, stream: str, letter_id: str) -> dict[str, bytes] | None: ...
    def take(self, stream: str, letter_id: str) -> dict[str, bytes] | None: ...
    def count(self, stream: str) -> int: ...


class _Ids:
    """`<ms>-<n>` ids, increasing within a process."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def next(self) -> str:
        return f"{time.time_ns() // 1_000_000}-{next(self._n)}"


def _order(letter_id: str) -> tuple[int, int]:
    ms, _, n = letter_id.partition("-")
    return int(ms), int(n)


class MemoryDeadStore:
    """Dead letters in this process, up to `max_length` per stream (the oldest go first)."""

    def __init__(self, max_length: int) -> None:
        self._max_length = max_length
        self._letters: dict[str, OrderedDict[str, dict[str, bytes]]] = {}
        self._ids = _Ids()
        self._lock = threading.Lock()

    def add(self, stream: str, fields: Mapping[str, bytes]) -> str:
        with self._lock:
            letters = self._letters.setdefault(stream, OrderedDict())
            letter_id = self._ids.next()
            letters[letter_id] = dict(fields)
            while len(letters) > self._max_length:
                letters.popitem(last=False)
            return letter_id

    def page(self, stream: str, count: int, after: str) -> list[DeadLetter]:
        with self._lock:
            letters = list(self._letters.get(stream, OrderedDict()).items())
        start = _order(after) if after else (-1, -1)
        found = [(i, f) for i, f in letters if _order(i) > start][:count]
        return [_named(letter_id, brief(fields)) for letter_id, fields in found]

    def get(self, stream: str, letter_id: str) -> dict[str, bytes] | None:
        with self._lock:
            fields = self._letters.get(stream, OrderedDict()).get(letter_id)
            return None if fields is None else dict(fields)

    def take(self, stream: str, letter_id: str) -> dict[str, bytes] | None:
        with self._lock:
            return self._letters.get(stream, OrderedDict()).pop(letter_id, None)

    def count(self, stream: str) -> int:
        with self._lock:
            return len(self._letters.get(stream, OrderedDict()))


class FolderDeadStore:
    """Dead letters as files under `root`, up to `max_length` per stream."""

    def __init__(self, root: Path, max_length: int) -> None:
        self.root = Path(root)
        self._max_length = max_length
        self._ids = _Ids()

    def add(self, stream: str, fields: Mapping[str, bytes]) -> str:
        letter_id = self._ids.next()
        header = json.dumps({"fields": [[name, len(value)] for name, value in fields.items()]})
        write_atomically(
            self._path(stream, letter_id),
            header.encode() + b"\n" + b"".join(fields.values()),
            durable=True,
        )
        ids = self._ids_of(stream)
        for old in ids[: max(len(ids) - self._max_length, 0)]:
            self._path(stream, old).unlink(missing_ok=True)
        return letter_id

    def page(self, stream: str, count: int, after: str) -> list[DeadLetter]:
        start = _order(after) if after else (-1, -1)
        letters: list[DeadLetter] = []
        for letter_id in self._ids_of(stream):
            if len(letters) >= count:
                break
            if _order(letter_id) <= start:
                continue
            try:
                letters.append(_read_brief(self._path(stream, letter_id), letter_id))
            except FileNotFoundError:
                continue  # taken meanwhile
        return letters

    def get(self, stream: str, letter_id: str) -> dict[str, bytes] | None:
        if not is_letter_id(letter_id):
            return None
        try:
            return _read(self._path(stream, letter_id))
        except FileNotFoundError:
            return None

    def take(self, stream: str, letter_id: str) -> dict[str, bytes] | None:
        if not is_letter_id(letter_id):
            return None
        path = self._path(stream, letter_id)
        taken = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.taken")
        try:
            path.rename(taken)  # of two takers, one wins
        except FileNotFoundError:
            return None
        try:
            return _read(taken)
        finally:
            taken.unlink(missing_ok=True)

    def count(self, stream: str) -> int:
        return len(self._ids_of(stream))

    def _folder(self, stream: str) -> Path:
        return self.root / quote(stream, safe="")

    def _path(self, stream: str, letter_id: str) -> Path:
        return self._folder(stream) / f"{letter_id}{SUFFIX}"

    def _ids_of(self, stream: str) -> list[str]:
        try:
            names = os.listdir(self._folder(stream))
        except FileNotFoundError:
            return []
        ids = [n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX) and not n.startswith(".")]
        return sorted((i for i in ids if is_letter_id(i)), key=_order)


def _named(letter_id: str, letter: DeadLetter) -> DeadLetter:
    return DeadLetter(letter_id, letter.fields, letter.sizes)


def _read(path: Path) -> dict[str, bytes]:
    with path.open("rb") as file:
        sizes = json.loads(file.readline())["fields"]
        return {name: file.read(size) for name, size in sizes}


def _read_brief(path: Path, letter_id: str) -> DeadLetter:
    """The letter's short values, and the head of the long ones, without reading them."""
    fields: dict[str, bytes] = {}
    sizes: dict[str, int] = {}
    with path.open("rb") as file:
        for name, size in json.loads(file.readline())["fields"]:
            sizes[name] = size
            if size <= BRIEF_BYTES:
                fields[name] = file.read(size)
            else:
                fields[name] = file.read(HEAD_BYTES)
                file.seek(size - HEAD_BYTES, os.SEEK_CUR)
    return DeadLetter(letter_id, fields, sizes)
