"""Settings: defaults, environment, YAML, and which wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from pixelmill import config
from pixelmill.config import (
    OcrEngine,
    Settings,
    SettingsError,
    load_settings,
    settings_table,
    variable,
    with_settings_table,
)


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
    with pytest.raises(ValidationError, match="PIXELMILL_MAX_REQUEST_BYTES"):
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


README = Path(__file__).parents[1] / "README.md"


def test_readme_settings_table_is_up_to_date() -> None:
    readme = README.read_text(encoding="utf-8")
    assert with_settings_table(readme) == readme, (
        "README.md's settings table is stale: run .venv/bin/python docs/gen_settings.py"
    )


def test_every_setting_is_in_the_table_with_a_meaning_and_a_default() -> None:
    table = settings_table()
    for name, info in Settings.model_fields.items():
        assert info.description, f"setting {name} has no description"
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{variable(name)}`")]
        default = row.split(" | ")[1]
        assert default, f"setting {name} shows no default"
        computed = info.default is None or info.default_factory is not None
        extra = info.json_schema_extra
        assert not computed or (isinstance(extra, dict) and extra.get("unset")), (
            f"setting {name} is computed or unset by default: say what that means with "
            'json_schema_extra={"unset": ...}'
        )
    for name in ("OCR_ENGINE", "OCR_LANG", "TMP_DIR", "TMP_MAX_FILES", "TMP_MAX_AGE_SECONDS"):
        assert f"| `PIXELMILL_{name}` |" in table
    assert "| `PIXELMILL_PORT` (else `PORT`) | `8000` | integer, 1 to 65535 |" in table
    assert "| `PIXELMILL_OCR_ENGINE` | `auto` | one of `auto`, `tesseract`, `rapidocr` |" in table
    assert "| `PIXELMILL_MAX_UPLOAD_BYTES` | `26214400` (25 MiB) | integer ≥ 1 |" in table


def test_the_ocr_engine_setting_takes_the_engines_ocr_knows() -> None:
    from pixelmill.imaging.ocr.engines import SETTINGS

    assert get_args(OcrEngine) == SETTINGS


def test_enumerated_settings_take_their_words_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIXELMILL_LOG_LEVEL", "debug")
    monkeypatch.setenv("PIXELMILL_OCR_ENGINE", " Tesseract")
    settings = Settings()
    assert (settings.log_level, settings.ocr_engine) == ("DEBUG", "tesseract")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("ocr_engine", "tesseratc", "'auto', 'tesseract' or 'rapidocr'"),
        ("log_level", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    ],
)
def test_a_misspelt_word_is_refused_naming_the_variable_and_the_words(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str
) -> None:
    with pytest.raises(ValidationError, match=allowed):
        Settings(**{name: value})
    monkeypatch.setenv(variable(name), value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == f"{variable(name)} should be {allowed} (got {value!r})"


def test_settings_errors_name_where_the_value_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "c.yaml"
    config_file.write_text("ocr_engine: easyocr\nno_such_setting: 1\n")
    monkeypatch.setenv("PIXELMILL_PORT", "70000")
    with pytest.raises(SettingsError) as caught:
        load_settings(config=config_file)
    assert str(caught.value) == (
        "PIXELMILL_PORT should be less than or equal to 65535 (got '70000'); "
        f"PIXELMILL_OCR_ENGINE (ocr_engine in {config_file}) should be 'auto', 'tesseract' or "
        f"'rapidocr' (got 'easyocr'); no_such_setting in {config_file} is not a setting"
    )
    monkeypatch.delenv("PIXELMILL_PORT")
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(
        SettingsError, match=r"^PORT should be greater than or equal to 1 \(got '0'\)$"
    ):
        load_settings()
    monkeypatch.delenv("PORT")
    with pytest.raises(SettingsError, match=r"^PIXELMILL_MAX_REQUEST_BYTES \(5\) must be at"):
        load_settings(max_upload_bytes=10, max_request_bytes=5)


@pytest.mark.parametrize(
    ("command", "variable_name", "value"),
    [
        (["serve"], "PIXELMILL_OCR_ENGINE", "tesseratc"),
        (["serve", "--workers", "2"], "PIXELMILL_LOG_LEVEL", "verbose"),
        (["worker", "all"], "PIXELMILL_OCR_ENGINE", "tesseratc"),
        (["worker", "all"], "PIXELMILL_LOG_LEVEL", "verbose"),
    ],
)
def test_the_command_stops_at_start_up_with_one_line_naming_the_setting(
    tmp_path: Path, command: list[str], variable_name: str, value: str
) -> None:
    env = {**os.environ, variable_name: value, "PIXELMILL_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "-m", "pixelmill", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"pixelmill: {variable_name} should be ")
    assert line.endswith(f"(got {value!r})")
    assert ("'tesseract'" if "OCR" in variable_name else "'WARNING'") in line
    assert not (tmp_path / "data").exists()  # refused before anything was opened
