"""OCR benchmark: median latency and accuracy on a one-page 300-dpi scan, per engine.

The page is A4 at 300 dpi (2480×3508 px) full of paragraphs of English in the packaged
font at 11 pt (46 px), 1-inch margins, rendered here, saved as PNG and decoded as an upload
would be. Each engine reads it (preprocessing included, as the service runs it) `--runs` times
after one warm-up run (which loads RapidOCR's models); the table gives the median and the
best time, and the character similarity of the text to what was drawn (difflib ratio,
whitespace folded). A second page turned by 3° shows what deskew costs. Tesseract runs with
OMP_THREAD_LIMIT=1 (pixelmill's default) and with one OpenMP thread per CPU, on an idle
machine and beside a process that keeps one CPU busy (as the pool's other worker does under
load); RapidOCR with `--threads` onnxruntime threads (the service gives it the pool's
threads per worker).

    .venv/bin/python bench/ocr.py [--runs 5] [--threads N (default: the CPUs)]
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT))

from bench.report import Row, record  # noqa: E402

from pixelmill.imaging import codec  # noqa: E402
from pixelmill.imaging.fonts import load_font  # noqa: E402
from pixelmill.imaging.ocr import rapid, recognize_upload, tesseract  # noqa: E402

A4_300DPI = (2480, 3508)
MARGIN = 300  # one inch
FONT_PX = 46  # 11 pt at 300 dpi
PARAGRAPHS = [
    "The mill stood at the bend of the river, where the water ran fast over a ledge of "
    "grey stone. For more than a century it ground the wheat of the valley, and the "
    "miller kept a ledger of every sack that came through its doors.",
    "In the spring of that year the river rose higher than anyone could remember. The "
    "lower floor filled with brown water, the great wheel stopped, and the ledger was "
    "carried up the stairs and dried page by page in front of the stove.",
    "When the water went down the families of the valley came with shovels and carts. "
    "They cleared the mud from the millrace, mended the sluice gate and painted the door, "
    "and by midsummer the stones were turning again.",
    "Years later a visitor asked the miller's daughter why nobody had built a new mill on "
    "higher ground. She opened the old ledger, pointed to the names written in it, and "
    "said that a mill is only as good as the people who bring it their grain.",
    "Today the building is a small museum. The wheel still turns on summer afternoons, "
    "children feed handfuls of wheat into the hopper, and the ledger lies open in a glass "
    "case near the door, its pages stiff and wavy from the flood.",
]


def wrap(text: str, width: int, font: object) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and font.getlength(trial) > width:  # type: ignore[attr-defined]
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line]


def page() -> tuple[np.ndarray, str]:
    """The page (gray) and the text drawn on it."""
    font = load_font(None, FONT_PX)
    width, height = A4_300DPI
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    ascent, descent = font.getmetrics()
    step = round((ascent + descent) * 1.25)
    y = MARGIN
    drawn: list[str] = []
    for paragraph in itertools.cycle(PARAGRAPHS):  # as many as the page holds
        lines = wrap(paragraph, width - 2 * MARGIN, font)
        if y + len(lines) * step > height - MARGIN:
            break
        for line in lines:
            draw.text((MARGIN, y), line, font=font, fill=0)
            drawn.append(line)
            y += step
        y += step
    return np.asarray(image), "\n".join(drawn)


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def similarity(expected: str, got: str) -> float:
    fold = " ".join(expected.lower().split()), " ".join(got.lower().split())
    return difflib.SequenceMatcher(None, *fold, autojunk=False).ratio()


def measure(
    engine: str, data: bytes, expected: str, runs: int, threads: int
) -> tuple[float, float, float, int]:
    info = codec.sniff(data, max_pixels=50_000_000)
    lang = ("eng",)
    result = recognize_upload(data, info, engine, lang, threads)  # type: ignore[arg-type]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = recognize_upload(data, info, engine, lang, threads)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    ratio = similarity(expected, result.text)
    return statistics.median(times), min(times), ratio, len(result.lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 runs")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="RapidOCR's onnxruntime threads"
    )
    args = parser.parse_args()
    if args.quick:
        args.runs = 2

    image, expected = page()
    pages = {
        "A4 300 dpi": codec.encode(image, "png"),
        "A4 300 dpi, 3°": codec.encode(turned(image, 3.0), "png"),
    }
    print(
        f"one page {A4_300DPI[0]}×{A4_300DPI[1]} px, {len(expected.splitlines())} lines, "
        f"{len(expected)} characters; median of {args.runs} runs after a warm-up; "
        f"{os.cpu_count()} CPUs"
    )
    print()
    print(
        f"| {'engine':<26} | {'page':<14} | {'CPU':<13} | median s | best s | similarity | lines |"
    )
    print(f"|{'-' * 28}|{'-' * 16}|{'-' * 15}|---------:|-------:|-----------:|------:|")
    cpus = os.cpu_count() or 1
    runs: list[tuple[str, str, int, str, bool]] = []  # label, engine, threads, page, busy
    if tesseract.installed():
        for threads, page_name, busy in [
            (1, "A4 300 dpi", False),
            (1, "A4 300 dpi, 3°", False),
            (cpus, "A4 300 dpi", False),
            (1, "A4 300 dpi", True),
            (cpus, "A4 300 dpi", True),
        ]:
            runs.append(
                (f"{tesseract.version()}, {threads} thr", "tesseract", threads, page_name, busy)
            )
    else:
        print("(Tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-eng)")
    label = f"{rapid.version()}, {args.threads} thr"
    for page_name, busy in [("A4 300 dpi", False), ("A4 300 dpi, 3°", False), ("A4 300 dpi", True)]:
        runs.append((label, "rapidocr", args.threads, page_name, busy))
    medians: dict[tuple[str, str, bool], tuple[float, float]] = {}
    for label, engine, threads, page_name, busy in runs:
        saved = os.environ.pop("OMP_THREAD_LIMIT", None)
        os.environ["OMP_THREAD_LIMIT"] = str(threads)  # Tesseract's OpenMP threads
        neighbour = _busy_process() if busy else None
        try:
            median, best, ratio, lines = measure(
                engine, pages[page_name], expected, args.runs, threads
            )
        finally:
            if neighbour is not None:
                neighbour.terminate()
                neighbour.join()
            os.environ.pop("OMP_THREAD_LIMIT", None)
            if saved is not None:
                os.environ["OMP_THREAD_LIMIT"] = saved
        medians.setdefault((engine, page_name, busy), (median, ratio))
        cpu = "1 busy beside" if busy else "idle"
        print(
            f"| {label:<26} | {page_name:<14} | {cpu:<13} | {median:8.2f} | {best:6.2f} "
            f"| {ratio:10.3f} | {lines:5d} |",
            flush=True,
        )

    straight = ("A4 300 dpi", False)
    if ("tesseract", *straight) in medians:
        (tess, tess_similarity), (rapid_s, rapid_similarity) = (
            medians[("tesseract", *straight)],
            medians[("rapidocr", *straight)],
        )
        record(
            Row(
                "ocr",
                "OCR of an A4 page at 300 dpi, RapidOCR / Tesseract time",
                f"Tesseract {tess:.2f} s (similarity {tess_similarity:.3f})",
                f"RapidOCR {rapid_s:.2f} s (similarity {rapid_similarity:.3f})",
                rapid_s / tess,
            )
        )


def _busy_process() -> multiprocessing.Process:
    """Another process keeping one CPU busy, as the pool's other worker does under load."""
    process = multiprocessing.Process(target=_spin, args=(600.0,), daemon=True)
    process.start()
    return process


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


if __name__ == "__main__":
    main()
