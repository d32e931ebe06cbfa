"""Settings: defaults, environment, YAML, and which wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pixelmill import config
from pixelmill.config import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "PIXELMILL_PORT", "PIXELMILL_CONFIG", "PIXELMILL_RESULTS_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_in_container", lambda: False)
    settings = Settings()
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.results_dir == Path("results")
    assert settings.files_root_path == Path("data/files")
    assert settings.log_path == Path("data/logs/pixelmill.log")
    assert settings.max_upload_bytes == 25 * 1024 * 1024
    assert settings.max_request_bytes == 100 * 1024 * 1024
    assert settings.max_pixels == 50_000_000


def test_host_inside_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_in_container", lambda: True)
    assert Settings().host == "0.0.0.0"
    assert Settings(host="127.0.0.2").host == "127.0.0.2"


def test_port_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    assert Settings().port == 9001
    monkeypatch.setenv("PIXELMILL_PORT", "9002")
    assert Settings().port == 9002
    assert load_settings(port=9003).port == 9003


def test_yaml_file_with_environment_winning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("results_dir: /srv/out\nmax_pixels: 1000\nport: 7000\n")
    monkeypatch.setenv("PIXELMILL_CONFIG", str(config))
    monkeypatch.setenv("PIXELMILL_MAX_PIXELS", "2000")
    settings = Settings()
    assert settings.results_dir == Path("/srv/out")
    assert settings.max_pixels == 2000
    assert settings.port == 7000


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="max_request_bytes"):
        Settings(max_upload_bytes=10, max_request_bytes=5)
    config = tmp_path / "c.yaml"
    config.write_text("no_such_setting: 1\n")
    with pytest.raises(ValidationError, match="no_such_setting"):
        Settings(config=config)
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        Settings(config=tmp_path / "missing.yaml")


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELMILL_REDIS_URL", "")
    monkeypatch.setenv("PIXELMILL_DATABASE_URL", " ")
    monkeypatch.setenv("PIXELMILL_PROCESS_WORKERS", "")
    settings = Settings()
    assert settings.redis_url is None and settings.database_url is None
    assert settings.process_workers is None
    assert settings.database.startswith("sqlite:///")
