"""captions/<id>, faces/<id> and s3/<key> sources; with S3 the results go to the bucket."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.storage.blobs import S3BlobStore
from tests.conftest import S3_REGION
from tests.delivery.conftest import PHOTO, decode, delivery_settings, signed
from tests.images import astronaut, encode


def _wait_stored(client: TestClient, path: str) -> bytes:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(path)
        if response.status_code == 200:
            return response.content
        assert response.status_code == 409, response.text
        time.sleep(0.1)
    raise AssertionError(f"{path} was not stored in time")


def test_a_stored_caption(client: TestClient) -> None:
    files = {"image": ("p.png", encode(PHOTO))}
    accepted = client.post("/api/images", files=files, data={"description": "hello"})
    id = accepted.json()["id"]
    stored = decode(_wait_stored(client, f"/api/images/{id}"))
    response = client.get(signed("resize=0.5", f"captions/{id}"))
    assert response.status_code == 200, response.text
    image = decode(response.content)
    assert image.shape[1] == 80  # the captioned JPEG, band and all, halved
    assert image.shape[0] == round(stored.shape[0] / 2)
    assert np.abs(image[:50].astype(int) - stored[:100:2, ::2].astype(int)).mean() < 12


def test_a_stored_faces_image(client: TestClient) -> None:
    accepted = client.post("/api/v1/images", files={"file": ("a.png", encode(astronaut()))})
    id = accepted.json()["id"]
    boxed = decode(_wait_stored(client, f"/api/v1/images/{id}"))
    response = client.get(signed("resize=0.5", f"faces/{id}"))
    assert response.status_code == 200, response.text
    assert decode(response.content).shape[:2] == (boxed.shape[0] // 2, boxed.shape[1] // 2)


def test_s3_sources_and_the_cache_in_the_bucket(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_client: Any
) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    store = S3BlobStore(s3_bucket, prefix=prefix, endpoint_url=s3_endpoint, region=S3_REGION)
    store.put("photos/cat.png", encode(PHOTO), "image/png")
    settings = delivery_settings(
        tmp_path,
        storage_url=f"s3://{s3_bucket}/{prefix}",
        s3_endpoint_url=s3_endpoint,
        s3_region=S3_REGION,
    )
    with TestClient(create_app(settings)) as client:
        path = signed("resize=0.5", "s3/photos/cat.png")
        first = client.get(path)
        assert first.status_code == 200, first.text
        assert first.headers["x-cache"] == "miss"
        assert decode(first.content).shape[:2] == (60, 80)
        listed = s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=f"{prefix}/cache/")
        assert listed["KeyCount"] == 1  # the result, shared by every host
        assert client.get(path).headers["x-cache"] == "hit"
        assert client.get(signed("_", "s3/photos/nope.png")).status_code == 404
        # a new object under the same key: a new ETag, a new result
        store.put("photos/cat.png", encode(np.full((40, 40, 3), 99, np.uint8)), "image/png")
        second = client.get(path)
        assert second.headers["etag"] != first.headers["etag"]
        assert decode(second.content).shape[:2] == (20, 20)
    store.close()
