"""`make bench`: run every benchmark in bench/, then print one table of every figure with its
reference and ratio, and one final line per figure.

Each benchmark runs in its own process with ``PIXELMILL_BENCH_REPORT`` naming a file that it
appends its figures to (see bench/report.py); a benchmark that fails is reported and the
others still run. With ``--quick`` each one runs its short version (fewer runs, shorter rounds).

    .venv/bin/python bench/run.py [--quick] [--only collage,thumbor_peer] [--table FILE]

The table is written to bench/results/table.md (or FILE) and drawn beside it as chart.svg
(bench/chart.py): each figure's ratio to its reference, with its goal marked.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.chart import svg  # noqa: E402
from bench.report import ENV, final_line, read, table  # noqa: E402

# Order: the ones most sensitive to a busy machine first.
BENCHMARKS = [
    "collage",
    "thumbor_peer",
    "execution",
    "coldstart",
    "memory",
    "delivery",
    "pipeline",
    "formats",
    "animation",
    "smartcrop",
    "captions",
    "faces_embedded",
    "faces_ws",
    "ocr",
]


def machine() -> str:
    """CPUs, CPU model, memory and Python: the line docs/performance.md quotes."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    cpus = len(os.sched_getaffinity(0))
    python = platform.python_version()
    return f"{cpus} CPUs ({model}), {memory}, Linux {platform.release()}, Python {python}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark's short version")
    parser.add_argument("--only", help="comma-separated names (default: all)")
    parser.add_argument(
        "--table",
        type=Path,
        default=BENCH_DIR / "results" / "table.md",
        help="write the Markdown table to FILE, and its chart beside it as chart.svg "
        "(default bench/results/table.md)",
    )
    args = parser.parse_args()
    names = args.only.split(",") if args.only else BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    failed: list[str] = []
    durations: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-report-") as tmp:
        report = Path(tmp) / "figures.jsonl"
        env = {**os.environ, ENV: str(report)}
        for name in names:
            command = [sys.executable, str(BENCH_DIR / f"{name}.py")]
            if args.quick:
                command.append("--quick")
            print(f"\n=== bench/{name}.py {'--quick' if args.quick else ''}".rstrip(), flush=True)
            began = time.monotonic()
            code = subprocess.run(command, env=env, check=False).returncode
            if code != 0:
                # Other work on a shared machine can take a server's port or process away;
                # one retry, said out loud, keeps one such accident from losing the figures.
                print(f"=== bench/{name}.py failed with exit code {code}; once more", flush=True)
                code = subprocess.run(command, env=env, check=False).returncode
            durations[name] = time.monotonic() - began
            if code != 0:
                failed.append(f"{name} (exit {code})")
                print(f"=== bench/{name}.py failed with exit code {code}", flush=True)
        rows = read(report)

    print("\n=== all figures, each against its reference measured in the same run")
    print(f"machine: {machine()}")
    print("times: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items()))
    print()
    text = table(rows)
    print(text)
    print()
    for row in rows:
        print(final_line(row))
    args.table.parent.mkdir(parents=True, exist_ok=True)
    ran = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.table.write_text(f"Run: {ran}. Machine: {machine()}\n\n{text}\n")
    chart = args.table.with_name("chart.svg")
    chart.write_text(svg(rows, f"make bench, {ran}: each figure against its reference"))
    print(f"\ntable: {args.table}, chart: {chart}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
