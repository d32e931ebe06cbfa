"""Confinement of user-given paths to a root folder.

A path from a request is relative to the root. It is refused (403, with the reason) when it
is absolute, uses Windows separators or a drive, holds a NUL byte or percent-encoded dots or
slashes, climbs out with `..`, is longer than the file system allows, or leads out of the
root through a symlink (or a symlink loop). `a/../b.jpg` is fine while it stays inside.
Nothing outside the root is ever opened: the check runs on the fully resolved path.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from pixelmill.errors import Forbidden, InvalidParameter, NotFound

MAX_PATH = 4096
MAX_NAME = 255
_DRIVE = re.compile(r"^[A-Za-z]:")
_ENCODED = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


def confine(root: Path, user_path: str) -> Path:
    """The real path `user_path` names inside `root`, or Forbidden saying why not."""
    shown = repr(user_path[:80])
    if not user_path or not user_path.strip():
        raise Forbidden("empty path")
    if "\x00" in user_path:
        raise Forbidden(f"path {shown} holds a NUL byte")
    if "\\" in user_path or _DRIVE.match(user_path):
        raise Forbidden(f"path {shown} uses Windows separators or a drive; use '/'")
    if _ENCODED.search(user_path):
        raise Forbidden(f"path {shown} holds percent-encoded dots, slashes or NUL")
    if user_path.startswith("/") or user_path.startswith("~"):
        raise Forbidden(f"path {shown} is absolute; paths are relative to the files root")
    if len(user_path.encode()) > MAX_PATH or any(
        len(part.encode()) > MAX_NAME for part in user_path.split("/")
    ):
        raise Forbidden(f"path {shown}... is too long")
    normal = posixpath.normpath(user_path)
    if normal == ".." or normal.startswith("../"):
        raise Forbidden(f"path {shown} leads outside the files root")
    real_root = root.resolve()
    try:
        real = (real_root / normal).resolve()
    except (RuntimeError, OSError):  # a symlink loop
        raise Forbidden(f"path {shown} cannot be resolved (a symlink loop?)") from None
    if real != real_root and real_root not in real.parents:
        raise Forbidden(f"path {shown} leads outside the files root through a symlink")
    return real


def existing_file(root: Path, user_path: str) -> Path:
    """A confined path that must be an existing regular file (404 otherwise)."""
    path = confine(root, user_path)
    if not path.is_file():
        raise NotFound(f"input {user_path!r} does not exist in the files root")
    return path


def writable_file(root: Path, user_path: str) -> Path:
    """A confined path a file can be written to (422 when a folder is in the way or a file
    is where a folder must be)."""
    path = confine(root, user_path)
    shown = repr(user_path[:80])
    if path.is_dir():
        raise InvalidParameter(f"output {shown} is a folder; name a file inside it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                blocker = parent.relative_to(root.resolve()).as_posix()
                raise InvalidParameter(
                    f"output {shown} cannot be written: {blocker!r} is a file, not a folder"
                )
            break
    return path
