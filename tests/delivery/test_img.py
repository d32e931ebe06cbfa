"""GET /img: local files (confined), 304 and HEAD, a rewritten source, one computation for
many concurrent requests, errors as 4xx."""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.badinput import jpeg_claiming
from tests.delivery.conftest import PHOTO, decode, signed
from tests.images import encode, photo


def metric(client: TestClient, name: str) -> float:
    """A sample of /metrics (`name` with its labels, as the text shows it)."""
    text = client.get("/metrics").text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def computed(client: TestClient) -> float:
    return metric(client, "pixelmill_delivery_computed_total")


def test_a_local_file_through_a_chain(client: TestClient) -> None:
    response = client.get(signed("resize=0.5,grayscale", "local/photos/cat.png"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["cache-control"] == "public, max-age=31536000"
    image = decode(response.content)
    assert image.shape == (60, 80)
    expected = PHOTO[::2, ::2].mean()
    assert abs(float(image.mean()) - expected) < 6


def test_no_options_and_a_format(client: TestClient) -> None:
    plain = client.get(signed("_", "local/photos/cat.png"))
    assert plain.status_code == 200
    assert np.array_equal(decode(plain.content), PHOTO)  # PNG in, PNG out, every pixel
    webp = client.get(signed("format=webp,quality=80", "local/photos/cat.jpg"))
    assert webp.headers["content-type"] == "image/webp"
    assert webp.content[8:12] == b"WEBP"


def test_second_request_is_a_cache_hit(client: TestClient) -> None:
    path = signed("resize=0.25", "local/photos/cat.png")
    first, second = client.get(path), client.get(path)
    assert first.headers["x-cache"] == "miss"
    assert second.headers["x-cache"] == "hit"
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]


def test_etag_304_and_head(client: TestClient) -> None:
    path = signed("resize=0.75", "local/photos/cat.png")
    response = client.get(path)
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)  # strong
    before = (computed(client), metric(client, 'pixelmill_delivery_cache_total{outcome="hit"}'))
    again = client.get(path, headers={"If-None-Match": f'"other", {etag}'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"].startswith("public")
    # a 304 neither computed nor read the cached image
    after = (computed(client), metric(client, 'pixelmill_delivery_cache_total{outcome="hit"}'))
    assert after == before
    head = client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(response.content))
    assert head.headers["etag"] == etag
    # other options, another ETag
    assert client.get(signed("resize=0.5", "local/photos/cat.png")).headers["etag"] != etag


def test_a_rewritten_source_gives_a_new_result(client: TestClient, files_root: Path) -> None:
    path_on_disk = files_root / "changing.png"
    path_on_disk.write_bytes(encode(np.full((40, 40, 3), 10, np.uint8)))
    path = signed("resize=0.5", "local/changing.png")
    first = client.get(path)
    assert decode(first.content).mean() == pytest.approx(10, abs=1)
    assert client.get(path).headers["x-cache"] == "hit"
    path_on_disk.write_bytes(encode(np.full((40, 40, 3), 200, np.uint8)))
    stat = path_on_disk.stat()
    os.utime(path_on_disk, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = client.get(path)
    assert second.headers["x-cache"] == "miss"
    assert second.headers["etag"] != first.headers["etag"]
    assert decode(second.content).mean() == pytest.approx(200, abs=1)
    # a client holding the old ETag gets the new image, not a 304
    revalidated = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 200
    assert decode(revalidated.content).mean() == pytest.approx(200, abs=1)


def test_16_concurrent_cold_requests_compute_once(client: TestClient, files_root: Path) -> None:
    (files_root / "big.png").write_bytes(encode(photo(1600, 1200, seed=3)))
    path = signed("blur=31,resize=0.5", "local/big.png")
    before = computed(client)
    start = threading.Barrier(16)
    answers: list[tuple[int, str, bytes]] = []

    def one() -> None:
        start.wait()
        response = client.get(path)
        answers.append((response.status_code, response.headers["x-cache"], response.content))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _, _ in answers] == [200] * 16
    assert len({content for _, _, content in answers}) == 1
    assert computed(client) - before == 1  # one decode for all sixteen
    assert metric(client, "pixelmill_delivery_joined_total") >= 1


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ("local/photos/nope.png", 404),
        ("local/photos", 404),  # a folder
        ("local/../outside.png", 403),
        ("local/photos/../../../outside.png", 403),
        ("local/%2e%2e/outside.png", 403),  # percent-encoded dots, sent encoded once more
        ("local//etc/passwd", 403),
        ("local/escape/outside.png", 403),  # a symlink out of the root
        ("captions/nope", 404),
        ("faces/nope", 404),
        ("s3/any.png", 404),  # no bucket configured
        ("ftp/a.png", 422),
    ],
)
def test_sources_that_are_not_served(
    client: TestClient, files_root: Path, source: str, status: int
) -> None:
    outside = files_root.parent.parent / "outside.png"
    outside.write_bytes(encode(PHOTO))
    escape = files_root / "escape"
    if not escape.exists():
        escape.symlink_to(outside.parent, target_is_directory=True)
    path = signed("_", source).replace("%", "%25")
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_dot_segments_sent_percent_encoded_are_403(client: TestClient) -> None:
    # the server sees (and the signature covers) the decoded path: local/../outside.png
    path = signed("_", "local/../outside.png").replace("/../", "/%2e%2e/")
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("options", "name", "data", "status", "named"),
    [
        ("resize=1000", "p.png", None, 422, "resize"),
        ("blur=4", "p.png", None, 422, "blur"),
        ("nosuchop", "p.png", None, 422, "nosuchop"),
        ("split", "p.png", None, 422, "split"),
        ("_", "text.png", b"not an image at all", 415, ""),
        ("_", "huge.jpg", jpeg_claiming(60_000, 60_000), 413, ""),
    ],
)
def test_bad_options_and_inputs(
    client: TestClient,
    files_root: Path,
    options: str,
    name: str,
    data: bytes | None,
    status: int,
    named: str,
) -> None:
    (files_root / name).write_bytes(data if data is not None else encode(PHOTO))
    response = client.get(signed(options, f"local/{name}"))
    assert response.status_code == status, response.text
    assert named in response.json()["detail"]


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "image/avif"),  # Chrome
        ("image/webp,*/*", "image/webp"),
        ("image/avif;q=0,image/webp", "image/webp"),
        ("image/png,image/*;q=0.8,*/*;q=0.5", "image/jpeg"),
        ("", "image/jpeg"),
    ],
)
def test_format_auto_follows_accept(client: TestClient, accept: str, media_type: str) -> None:
    response = client.get(
        signed("fit=64x64,format=auto", "local/photos/cat.png"), headers={"Accept": accept}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["vary"] == "Accept"
    assert Image.open(io.BytesIO(response.content)).size == (64, 64)


def test_format_auto_etags_differ_by_what_accept_picks(client: TestClient) -> None:
    path = signed("resize=0.3,format=auto", "local/photos/cat.png")
    avif = client.get(path, headers={"Accept": "image/avif,image/webp,*/*"})
    also_avif = client.get(path, headers={"Accept": "image/avif"})
    jpeg = client.get(path, headers={"Accept": "*/*"})
    assert avif.headers["etag"] == also_avif.headers["etag"]
    assert also_avif.headers["x-cache"] == "hit"
    assert jpeg.headers["etag"] != avif.headers["etag"]
    assert jpeg.headers["content-type"] == "image/jpeg"
    # without format=auto the answer does not depend on Accept
    fixed = client.get(
        signed("resize=0.3", "local/photos/cat.png"), headers={"Accept": "image/avif"}
    )
    assert "vary" not in fixed.headers


def test_format_auto_keeps_alpha_as_png(client: TestClient, files_root: Path) -> None:
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 10:30] = (0, 0, 255, 255)
    (files_root / "alpha.png").write_bytes(encode(rgba))
    response = client.get(signed("format=auto", "local/alpha.png"), headers={"Accept": "*/*"})
    assert response.headers["content-type"] == "image/png"
    image = decode(response.content)
    assert image.shape == (40, 40, 4)
    assert image[0, 0, 3] == 0 and image[20, 20, 3] == 255


def test_fit_cover_and_dpr(client: TestClient) -> None:
    response = client.get(signed("fit=50x50,dpr=2", "local/photos/cat.jpg"))
    assert response.status_code == 200, response.text
    assert decode(response.content).shape[:2] == (100, 100)
