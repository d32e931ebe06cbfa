"""Path confinement: a corpus of ways out of the files root, as inputs and as outputs.

Every one is refused, the canary file outside the root stays untouched, and its content never
appears in a response.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.images import encode, photo

CANARY = "canary-7f3a: this file lies outside the files root"


@pytest.fixture(scope="module")
def root(client: TestClient, module_dirs: Path) -> Iterator[Path]:
    files = module_dirs / "data" / "files"
    files.mkdir(parents=True, exist_ok=True)
    (files / "ok.png").write_bytes(encode(photo(16, 16)))
    outside = module_dirs / "outside"
    outside.mkdir(exist_ok=True)
    (module_dirs / "canary.txt").write_text(CANARY)
    (outside / "canary.png").write_text(CANARY)
    (files / "link_out").symlink_to(outside, target_is_directory=True)
    (files / "file_out.png").symlink_to(outside / "canary.png")
    (files / "loop").symlink_to(files / "loop")
    (files / "sub").mkdir(exist_ok=True)
    yield files


CORPUS = [
    "../canary.txt",
    "../../canary.txt",
    "sub/../../canary.txt",
    "./../canary.txt",
    "..",
    "/etc/passwd",
    "//etc/passwd",
    "~/canary.txt",
    "%2e%2e/canary.txt",
    "..%2fcanary.txt",
    "%2E%2E%2Fcanary.txt",
    "..\\canary.txt",
    "sub\\..\\..\\canary.txt",
    "C:\\canary.txt",
    "C:/canary.txt",
    "ok.png\x00.jpg",
    "link_out/canary.png",
    "file_out.png",
    "loop",
    "loop/x.png",
    "a" * 5000 + ".png",
    "sub/" + "b" * 300 + ".png",
]


@pytest.mark.parametrize("path", CORPUS, ids=[repr(p[:30]) for p in CORPUS])
@pytest.mark.parametrize("side", ["input", "output"])
def test_ways_out_are_refused(
    client: TestClient, root: Path, module_dirs: Path, path: str, side: str
) -> None:
    canary = module_dirs / "canary.txt"
    before = canary.stat().st_mtime_ns
    item = {"input": "ok.png", "output": "fine.png", side: path}
    response = client.post("/pipeline", json={"images": [item], "operations": ["grayscale"]})
    assert response.status_code == 403, (path, response.text)
    assert response.json()["detail"]
    assert CANARY not in response.text
    assert canary.read_text() == CANARY and canary.stat().st_mtime_ns == before
    assert (module_dirs / "outside" / "canary.png").read_text() == CANARY
    assert sorted(os.listdir(module_dirs / "outside")) == ["canary.png"]
    assert not (root / "fine.png").exists()


def test_double_encoded_names_stay_inside(client: TestClient, root: Path) -> None:
    item = {"input": "%252e%252e/canary.txt", "output": "fine.png"}
    response = client.post("/pipeline", json={"images": [item], "operations": []})
    assert response.status_code in (403, 404)
    assert CANARY not in response.text
