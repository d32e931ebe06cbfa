"""GET /info: the facts of a source through a URL signed over `info/{source}`, cached like
images, with ETag and 304."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixelmill.cli import main
from pixelmill.delivery import signing
from tests.delivery.conftest import KEYS
from tests.images import astronaut, encode


def info_path(source: str, key: str = KEYS[0]) -> str:
    return signing.info_path(key, source)


@pytest.fixture
def face_png(files_root: Path) -> str:
    (files_root / "astronaut.png").write_bytes(encode(astronaut()))
    return "local/astronaut.png"


def test_the_facts_of_a_photo_with_a_face(client: TestClient, face_png: str) -> None:
    response = client.get(info_path(face_png))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-cache"] == "miss"
    facts = response.json()
    assert (facts["width"], facts["height"], facts["format"]) == (512, 512, "png")
    assert facts["has_alpha"] is False and facts["animated"] is False and facts["frames"] == 1
    assert facts["orientation"] == 1
    assert re.fullmatch(r"#[0-9a-f]{6}", facts["dominant_color"])
    assert len(facts["blurhash"]) == 4 + 2 * 4 * 3  # 4x3 components
    # the astronaut's face is about x 170-280, y 90-210
    (face,) = facts["faces"]
    centre = (face["x"] + face["width"] / 2, face["y"] + face["height"] / 2)
    assert 180 < centre[0] < 270 and 100 < centre[1] < 200
    again = client.get(info_path(face_png))
    assert again.headers["x-cache"] == "hit"
    assert again.json() == facts


def test_etag_304_and_a_changed_source(client: TestClient, files_root: Path) -> None:
    path_on_disk = files_root / "info-changing.png"
    path_on_disk.write_bytes(encode(np.full((30, 50, 3), 200, np.uint8)))
    path = info_path("local/info-changing.png")
    first = client.get(path)
    assert first.json()["width"] == 50
    etag = first.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    rgba = np.zeros((70, 40, 4), np.uint8)
    path_on_disk.write_bytes(encode(rgba))
    second = client.get(path)
    assert second.headers["etag"] != etag
    assert (second.json()["width"], second.json()["height"]) == (40, 70)
    assert second.json()["has_alpha"] is True


def test_signatures_and_missing_sources(client: TestClient, face_png: str) -> None:
    # an /img signature of the same source does not open /info
    img_signature = signing.sign(KEYS[0], f"_/{face_png}")
    assert client.get(f"/info/{img_signature}/{face_png}").status_code == 403
    assert client.get(f"/info/unsafe/{face_png}").status_code == 403
    assert client.get(info_path(face_png, key=KEYS[1])).status_code == 200  # rotated key
    assert client.get(info_path("local/nope.png")).status_code == 404
    assert client.get(info_path("local/../x.png")).status_code == 403


def test_info_urls_are_signed_by_the_cli_and_v1_urls(
    client: TestClient,
    face_png: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PIXELMILL_URL_KEYS", ",".join(KEYS))
    assert main(["url", "--info", "_", face_png]) == 0
    assert client.get(capsys.readouterr().out.strip()).json()["width"] == 512
    signed = client.post("/v1/urls", json=[{"source": face_png, "info": True}])
    path = signed.json()[0]["path"]
    assert path.startswith("/info/")
    assert client.get(path).json()["width"] == 512
