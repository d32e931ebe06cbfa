"""The codec under mutated JPEG/PNG/WebP/GIF/HEIC/AVIF bytes and ICC profiles: no crash, only
4xx errors, memory bounded."""

from __future__ import annotations

import json
import subprocess
import sys

EXAMPLES = 3000
MAX_PIXELS = 4_000_000  # the fuzz's pixel limit: one decode holds at most 12 MB of pixels


def test_mutated_images_never_crash_and_memory_stays_bounded() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.imaging.fuzz_codec", str(EXAMPLES), str(MAX_PIXELS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # a native decoder that crashed kills the process: a negative return code
    assert done.returncode == 0, done.stderr[-5000:]
    report = json.loads(done.stdout.splitlines()[-1])
    outcomes = report["outcomes"]
    assert report["examples"] >= EXAMPLES
    # the mutations reach the decoders, not only the header checks
    assert outcomes.get("decoded", 0) > 50, outcomes
    assert outcomes.get("UnsupportedImage", 0) > 500, outcomes
    assert set(outcomes) <= {"decoded", "UnsupportedImage", "TooLarge", "EmptyUpload"}, outcomes
    grown_mb = (report["peak_kb"] - report["baseline_kb"]) / 1024
    assert grown_mb < 150, f"peak memory grew by {grown_mb:.0f} MB over {EXAMPLES} inputs"
