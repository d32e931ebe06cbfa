"""The table of `make bench` as a chart: one bar per figure, its ratio to the reference
measured in the same run, on a log scale (2x faster and 2x slower are as far from 1), with
the reference (1x) and the goal marked, and the side of the goal that meets it shaded.

Plain SVG written here (no plotting library): a browser, an editor or GitHub shows it, and
docs/performance.md embeds it.

    .venv/bin/python bench/chart.py FIGURES.jsonl chart.svg   # from a report file (report.py)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from html import escape
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.report import Row, ratio_text, read  # noqa: E402

WIDTH = 1200
LABEL_WIDTH = 480  # the figure's name, left of the bars
VERDICT_WIDTH = 230  # the ratio and the verdict, right of the bars
ROW_HEIGHT = 34
TOP = 64  # title and axis labels
BOTTOM = 40  # the key
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200)
COLOURS = {True: "#2e7d32", False: "#c62828", None: "#78909c"}  # met, not met, no goal
MET_ZONE = "#e8f5e9"
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


def svg(rows: list[Row], title: str = "make bench: each figure against its reference") -> str:
    """The chart of the figures with a ratio (those not measured are listed as such)."""
    drawn = [row for row in rows if row.ratio is not None and row.ratio > 0]
    values = [row.ratio for row in drawn if row.ratio] + [
        row.goal for row in drawn if row.goal is not None and row.goal > 0
    ]
    low = min([0.5, *values]) / 1.25
    high = max([2.0, *values]) * 1.25
    left, right = LABEL_WIDTH, WIDTH - VERDICT_WIDTH

    def x(value: float) -> float:
        share = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        return left + share * (right - left)

    missing = [row for row in rows if row not in drawn]
    height = TOP + ROW_HEIGHT * (len(drawn) + len(missing)) + BOTTOM
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' {FONT} font-size='12'>",
        f"<rect width='{WIDTH}' height='{height}' fill='white'/>",
        f"<text x='10' y='22' font-size='16' font-weight='bold'>{escape(title)}</text>",
        f"<text x='10' y='{TOP - 20}' fill='#555'>Each bar: pixelmill's figure as a ratio to "
        "its reference, measured in the same run (log scale). The line at 1x is the reference, "
        "the dashed mark the goal.</text>",
    ]
    bottom = TOP + ROW_HEIGHT * len(drawn)
    for tick in TICKS:
        if low <= tick <= high:
            at = x(tick)
            weight = "#333" if tick == 1 else "#ddd"
            out.append(
                f"<line x1='{at:.1f}' y1='{TOP}' x2='{at:.1f}' y2='{bottom}' stroke='{weight}'/>"
            )
            out.append(
                f"<text x='{at:.1f}' y='{bottom + 14}' text-anchor='middle' fill='#555'>"
                f"{tick:g}x</text>"
            )
    for index, row in enumerate(drawn):
        out += _bar(row, index, x, left, right)
    for index, row in enumerate(missing):
        y = bottom + 24 + index * ROW_HEIGHT
        out.append(
            f"<text x='10' y='{y + 19}' fill='#777'>{escape(_label(row))}: "
            f"{escape(row.pixelmill)} ({escape(row.reference)})</text>"
        )
    key_y = height - 14
    for offset, (met, words) in enumerate(
        [(True, "goal met"), (False, "goal not met"), (None, "no goal (reported)")]
    ):
        at = 10 + offset * 170
        out.append(
            f"<rect x='{at}' y='{key_y - 10}' width='12' height='12' fill='{COLOURS[met]}'/>"
        )
        out.append(f"<text x='{at + 18}' y='{key_y}'>{words}</text>")
    out.append(
        f"<rect x='{10 + 3 * 170}' y='{key_y - 10}' width='24' height='12' fill='{MET_ZONE}'/>"
        f"<text x='{10 + 3 * 170 + 30}' y='{key_y}'>where the goal is met</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _bar(row: Row, index: int, x: Callable[[float], float], left: float, right: float) -> list[str]:
    """One figure: its shaded goal side, its bar from 1x to the ratio, the goal mark."""
    assert row.ratio is not None
    top = TOP + index * ROW_HEIGHT
    middle = top + ROW_HEIGHT / 2
    parts = []
    if index % 2:  # every other row on a faint band, for the eye to follow
        parts.append(
            f"<rect x='0' y='{top}' width='{WIDTH}' height='{ROW_HEIGHT}' fill='#f6f6f6'/>"
        )
    if row.goal is not None and row.sense:
        goal_x = x(row.goal)
        zone = (goal_x, right) if row.sense == ">=" else (left, goal_x)
        parts.append(
            f"<rect x='{zone[0]:.1f}' y='{top + 3}' width='{zone[1] - zone[0]:.1f}' "
            f"height='{ROW_HEIGHT - 6}' fill='{MET_ZONE}'/>"
        )
    one, end = x(1.0), x(row.ratio)
    colour = COLOURS[row.met]
    parts.append(
        f"<rect x='{min(one, end):.1f}' y='{top + 8}' width='{max(abs(end - one), 1.5):.1f}' "
        f"height='{ROW_HEIGHT - 16}' fill='{colour}'><title>{escape(_tooltip(row))}</title></rect>"
    )
    if row.goal is not None and row.sense:
        goal_x = x(row.goal)
        parts.append(
            f"<line x1='{goal_x:.1f}' y1='{top + 2}' x2='{goal_x:.1f}' y2='{top + ROW_HEIGHT - 2}' "
            "stroke='#000' stroke-width='2' stroke-dasharray='4 2'/>"
        )
    lines = _label_lines(row)
    first = middle + 4 - 7 * (len(lines) - 1)
    spans = "".join(
        f"<tspan x='{left - 8}' y='{first + 14 * n:.1f}'>{escape(line)}</tspan>"
        for n, line in enumerate(lines)
    )
    parts.append(f"<text text-anchor='end'>{spans}</text>")
    verdict = f"{ratio_text(row)}" + (
        f" ({row.goal_text}: {row.verdict})" if row.met is not None else ""
    )
    parts.append(
        f"<text x='{right + 8}' y='{middle + 4}' fill='{colour}' font-weight='bold'>"
        f"{escape(verdict)}</text>"
    )
    return parts


def _label(row: Row) -> str:
    return f"{row.bench}: {row.figure}"


def _label_lines(row: Row, limit: int = 70) -> list[str]:
    """The label on one line, or two cut at a space (the second shortened if need be)."""
    text = _label(row)
    if len(text) <= limit:
        return [text]
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut > 0 else limit
    rest = text[cut:].strip()
    return [text[:cut], rest if len(rest) <= limit else rest[: limit - 1] + "…"]


def _tooltip(row: Row) -> str:
    return f"{row.bench}: {row.figure}\npixelmill: {row.pixelmill}\nreference: {row.reference}"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    Path(sys.argv[2]).write_text(svg(read(Path(sys.argv[1]))), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
