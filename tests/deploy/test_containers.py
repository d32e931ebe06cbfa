"""The container files: the compose file validates, the Dockerfile lints clean, and the
entrypoint works (run here, outside a container: these machines have no Docker engine)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server import free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: `make test` installs it with the dev extra")
    return path


def test_compose_file_is_valid_and_complete() -> None:
    compose = tool("docker-compose")
    subprocess.run([compose, "-f", str(ROOT / "compose.yaml"), "config", "-q"], check=True)
    rendered = subprocess.run(
        [compose, "-f", str(ROOT / "compose.yaml"), "config", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    services = json.loads(rendered.stdout)["services"]
    assert {"api", "captioner", "storer", "faces", "redis", "postgres", "migrate"} <= set(services)
    assert services["api"]["ports"][0]["published"] == "8282"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("redis", "postgres"):
        assert services[name]["healthcheck"]["test"]
    for name in ("captioner", "storer", "faces"):
        assert services[name]["command"] == ["worker", name]
        assert services[name]["environment"]["PIXELMILL_REDIS_URL"] == "redis://redis:6379/0"


def test_dockerfile_lints_clean_and_runs_as_non_root_with_a_health_check() -> None:
    subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(ROOT / "Dockerfile")], check=True
    )
    text = (ROOT / "Dockerfile").read_text()
    assert "\nUSER 10001\n" in text and "/health/ready" in " ".join(health_check())
    assert 'VOLUME ["/app/data", "/app/results"]' in text and "ENV PORT=8000" in text


def health_check() -> list[str]:
    """The Dockerfile's HEALTHCHECK command (its exec form)."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$", text, re.M)
    assert match, "no HEALTHCHECK CMD [...] in the Dockerfile"
    command: list[str] = json.loads(match[1])
    return command


def run_health_check(env: dict[str, str]) -> int:
    """The HEALTHCHECK's exit status here, its `python` this one (the image's is on PATH)."""
    command = health_check()
    assert command[0] == "python"
    done = subprocess.run([sys.executable, *command[1:]], env=env, timeout=30, check=False)
    return done.returncode


def run_entrypoint(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})}
    return subprocess.run(
        [str(ROOT / "docker" / "entrypoint.sh"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_entrypoint_passes_pixelmill_commands_and_others() -> None:
    version = run_entrypoint("--version")
    assert version.returncode == 0 and version.stdout.startswith("pixelmill ")
    other = run_entrypoint("echo", "hello")
    assert other.stdout == "hello\n"
    refused = run_entrypoint("worker", "captioner", env={"PIXELMILL_REDIS_URL": ""})
    assert refused.returncode != 0


def test_entrypoint_serves_on_port_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PORT": str(port),
        "PIXELMILL_DATA_DIR": str(tmp_path / "data"),
        "PIXELMILL_RESULTS_DIR": str(tmp_path / "results"),
    }
    env.pop("PIXELMILL_PORT", None)
    log = tmp_path / "entrypoint.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "docker" / "entrypoint.sh")], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
        assert run_health_check(env) == 0  # the image's check passes on the port it serves
    finally:
        stop(process)
    assert run_health_check(env) != 0
