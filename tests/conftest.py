"""Shared fixtures: settings in temporary folders, one running app per module, images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory: settings whose every folder lies under this test's tmp_path."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "results_dir": tmp_path / "results",
            "process_workers": 2,
            "thread_workers": 2,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="module")
def module_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def client(module_dirs: Path) -> Iterator[TestClient]:
    """A running app (pools started) shared by the tests of one module."""
    settings = Settings(
        data_dir=module_dirs / "data",
        results_dir=module_dirs / "results",
        process_workers=2,
        thread_workers=2,
        max_upload_bytes=2 * 1024 * 1024,
        max_request_bytes=8 * 1024 * 1024,
        max_pixels=20_000_000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client
