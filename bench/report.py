"""The common table of `make bench`: every benchmark appends its figures here, one JSON line
per figure, to the file named by ``PIXELMILL_BENCH_REPORT`` (nothing is written when it is
unset, so each benchmark still runs alone and prints its own output).

A figure is what pixelmill measured, the reference measured in the same run, the ratio
between them and the goal the ratio is held to (or none: the figure is only reported).

    .venv/bin/python bench/report.py FILE     # print the table and one line per figure
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = "PIXELMILL_BENCH_REPORT"


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: ``ratio`` compared with ``goal`` by ``sense`` ("<=", ">=" or "" for none)."""

    bench: str
    figure: str
    pixelmill: str
    reference: str
    ratio: float | None
    sense: str = ""
    goal: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.ratio is None or self.goal is None or not self.sense:
            return None
        return self.ratio <= self.goal if self.sense == "<=" else self.ratio >= self.goal

    @property
    def goal_text(self) -> str:
        return f"{self.sense} {self.goal:g}" if self.sense and self.goal is not None else "-"

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "reported"}[self.met]


def record(row: Row) -> None:
    """Print the figure's final line and append it to the report file, if one is named."""
    print(final_line(row), flush=True)
    path = os.environ.get(ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


def skipped(bench: str, figure: str, reason: str) -> None:
    """A figure that could not be measured: it shows in the table with the reason."""
    record(Row(bench, figure, "not measured", reason, None, note="skipped"))


def read(path: Path) -> list[Row]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Row(**json.loads(line)) for line in lines if line.strip()]


def ratio_text(row: Row) -> str:
    return "-" if row.ratio is None else f"{row.ratio:.2f}x"


def final_line(row: Row) -> str:
    if row.ratio is None:
        return f"{row.figure}: not measured ({row.reference})"
    goal = f"goal {row.goal_text}: {row.verdict}" if row.met is not None else "no goal"
    return f"{row.figure}: {ratio_text(row)} ({goal})"


def table(rows: list[Row]) -> str:
    """A Markdown table, as docs/performance.md shows it."""
    lines = [
        "| bench | figure | pixelmill | reference | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        goal = row.goal_text if row.met is None else f"{row.goal_text} ({row.verdict})"
        cells = [row.bench, row.figure, row.pixelmill, row.reference, ratio_text(row), goal]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    rows = read(Path(sys.argv[1]))
    print(table(rows))
    print()
    for row in rows:
        print(final_line(row))
    missed = [row for row in rows if row.met is False]
    print(f"\n{len(rows)} figures; {len(missed)} goal(s) not met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
