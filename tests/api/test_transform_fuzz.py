"""POST /v1/transform under mutated JPEG/PNG/WebP/GIF/HEIC/AVIF bytes (ICC profiles and EXIF
included): every answer a 200 with an image or a 4xx that says why; never a 5xx; the service
healthy afterwards."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.imaging.fuzz_codec import SEEDS, mutated

CHAINS = [
    "grayscale",
    "resize=0.5,blur=3",
    "split",
    "rotate=90,format=png",
    "sharpen",
    "resize=0.5,format=avif",
    "strip=false,format=jpeg",  # the input's EXIF, however damaged, carried
    "strip=false,format=png",
]


@settings(
    max_examples=600,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=mutated(), ops=st.sampled_from(CHAINS))
def test_mutated_uploads_get_an_image_or_a_4xx(client: TestClient, data: bytes, ops: str) -> None:
    response = client.post("/v1/transform", files={"file": ("x", data)}, data={"ops": ops})
    assert response.status_code in (200, 413, 415, 422), response.text
    if response.status_code == 200:
        if response.headers["content-type"] == "application/zip":
            assert response.content.startswith(b"PK")
        else:
            with Image.open(io.BytesIO(response.content)) as image:  # AVIF too
                image.load()
                assert image.width > 0 and image.height > 0
    else:
        assert response.json()["detail"]
        assert "Traceback" not in response.text


def test_still_healthy_after_the_fuzzing(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    response = client.post(
        "/v1/transform", files={"file": ("a.png", SEEDS["png"])}, data={"ops": "grayscale"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
