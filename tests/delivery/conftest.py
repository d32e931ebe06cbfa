"""Delivery tests: an app with URL keys and files under its files root, and URL helpers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.delivery import signing
from tests.images import encode, photo

KEYS = ("new-key", "old-key")  # the first signs; both verify
PHOTO = photo(160, 120, seed=7)


def signed(options: str, source: str, key: str = KEYS[0]) -> str:
    """The signed /img path of `options` on `source`."""
    return signing.image_path(key, options, source)


def url_source(url: str) -> str:
    return "url/" + base64.urlsafe_b64encode(url.encode()).rstrip(b"=").decode()


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, "not an image"
    return image


def delivery_settings(root: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": root / "data",
        "results_dir": root / "results",
        "process_workers": 1,
        "thread_workers": 1,
        "url_keys": ",".join(KEYS),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("delivery")
    files = root / "data" / "files"
    (files / "photos").mkdir(parents=True)
    (files / "photos" / "cat.png").write_bytes(encode(PHOTO))
    (files / "photos" / "cat.jpg").write_bytes(encode(PHOTO, ".jpg"))
    return root


@pytest.fixture(scope="module")
def client(app_root: Path) -> Iterator[TestClient]:
    """One app for the module: signed URLs only (unsafe off), a disk cache."""
    with TestClient(create_app(delivery_settings(app_root))) as test_client:
        yield test_client


@pytest.fixture
def files_root(app_root: Path) -> Path:
    return app_root / "data" / "files"
