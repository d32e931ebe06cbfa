"""The `pixelmill` command: serve (port and config precedence) and collage from files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np

from tests.images import encode, expected_cell, expected_collage, photo
from tests.server import free_port, running_server


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelmill", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_collage_command_writes_the_collage(tmp_path: Path) -> None:
    images = [photo(120, 90, seed=1), photo(100, 90, seed=2), photo(80, 60, seed=3)]
    paths = []
    for i, image in enumerate(images):
        path = tmp_path / f"in{i}.png"
        path.write_bytes(encode(image))
        paths.append(str(path))
    result = run(
        "collage", *paths, "-o", "out/c.png", "--kernel-size", "3", "--segment-size", "20",
        "--threshold", "110", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote out/c.png" in result.stdout
    made = cv2.imread(str(tmp_path / "out" / "c.png"), cv2.IMREAD_COLOR)
    cells = [expected_cell(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), 3, 20, 110) for i in images]
    assert np.array_equal(made, expected_collage(cells))


def test_collage_command_explains_bad_options(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(encode(photo(10, 10)))
    result = run("collage", str(path), str(path), "--kernel-size", "4", cwd=tmp_path)
    assert result.returncode == 2
    assert "kernel_size must be odd" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run("collage", str(path), "nope.png", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.png" in missing.stderr
    text = tmp_path / "text.jpg"
    text.write_text("not an image")
    refused = run("collage", str(path), str(text), cwd=tmp_path)
    assert refused.returncode == 2 and "is not an image" in refused.stderr


def test_serve_port_flag_beats_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {"PIXELMILL_PORT": "1", "PORT": "2"}
    with running_server(tmp_path, ["--port", str(port)], env=env, port=port) as url:
        assert httpx.get(url + "/health").json()["status"] == "ok"


def test_serve_reads_port_and_dirs_from_yaml_and_plain_port(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "pixelmill.yaml"
    config.write_text(f"results_dir: {tmp_path / 'from-yaml'}\nprocess_workers: 1\n")
    with running_server(
        tmp_path, ["--config", str(config)], env={"PORT": str(port)}, port=port
    ) as url:
        files = {
            "image1": ("a.png", encode(photo(20, 20))),
            "image2": ("b.png", encode(photo(20, 20))),
        }
        assert httpx.post(url + "/process", files=files).status_code == 200
        assert httpx.get(url + "/health").json()["components"]["workers"]["processes"] == 1
    # environment wins over YAML: PIXELMILL_RESULTS_DIR was set by running_server
    assert (tmp_path / "results" / "final_collage.png").is_file()
    assert (tmp_path / "data" / "logs" / "pixelmill.log").read_text().count("POST /process") == 1


def test_run_command_processes_a_batch_and_reports_failures(tmp_path: Path) -> None:
    inputs = []
    for i in range(6):
        path = tmp_path / f"img{i}.jpg"
        path.write_bytes(encode(photo(100, 80, seed=i), ".jpg"))
        inputs.append(str(path))
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    result = run(
        "run", *inputs, str(broken), "--ops", "resize=0.5,grayscale,blur=5", "--out", "out",
        "--jobs", "2", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "6 of 7 images done, 6 files written" in result.stdout
    assert "1 failed" in result.stdout
    assert "broken.jpg" in result.stderr and "not an image" in result.stderr
    for i in range(6):
        made = cv2.imread(str(tmp_path / "out" / f"img{i}.jpg"), cv2.IMREAD_UNCHANGED)
        assert made.shape == (40, 50)


def test_run_command_format_and_fan_out(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(encode(photo(40, 20)))
    result = run("run", str(path), "--ops", "split", "--out", "o", "--format", "webp", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [f"a_{i}.webp" for i in range(4)]
    bad = run("run", str(path), "--ops", "resize=0", "--out", "o", cwd=tmp_path)
    assert bad.returncode == 2 and "resize" in bad.stderr and "Traceback" not in bad.stderr
