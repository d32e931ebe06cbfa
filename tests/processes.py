"""The machine's processes as /proc shows them, for tests that watch a server's tree."""

from __future__ import annotations

from pathlib import Path


def parents() -> dict[int, int]:
    """Every live process's parent: {pid: ppid}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it has just ended
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found
