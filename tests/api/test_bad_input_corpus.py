"""The bad-input corpus: hostile and odd requests to every surface of a live `pixelmill serve`,
each with the answer it must get. Refusals are 4xx whose `detail` says what is wrong; odd but
valid images (animated, CMYK, 16-bit, EXIF bombs, HEIC and AVIF, ICC profiles huge or
broken) are handled and give the right pixels.
After the whole corpus the server is healthy, serves again, and every job it accepted is done.

The server has small limits: 2 MiB per file, 8 MiB per request, 20 Mpx per image, 1 s for a
stalled body.
"""

from __future__ import annotations

import io
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.api import badinput as bad
from tests.imaging.test_codec import png_header_only
from tests.server import running_server

pytestmark = pytest.mark.slow

TEXT = b"plain text that calls itself photo.jpg\n" * 20
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"></svg>'
GOOD = bad.GOOD_JPEG
PNG = bad.GOOD_PNG
OVER_FILE_LIMIT = b"\xff\xd8\xff\xe0" + b"\0" * (2 * 1024 * 1024 + 10)
DEFLATE_BOMB = bad.png_deflate_bomb()
IPHONE = Path(__file__).resolve().parent.parent / "corpus" / "heic-iphone-orientation6-gps.heic"
IPHONE_HEIC = IPHONE.read_bytes()
HEIC_BOMB = bad.isobmff_claiming(bad.GOOD_HEIC, 8000, 8000)
AVIF_BOMB = bad.isobmff_claiming(bad.GOOD_AVIF, 8000, 8000)


@dataclass(frozen=True)
class Case:
    id: str
    send: Callable[[httpx.Client], httpx.Response]
    status: int
    words: str = ""  # a pattern the detail must hold (errors), or "" for a success
    check: Callable[[httpx.Response], None] | None = None


def post(path: str, files: Any = None, data: Any = None, **kw: Any) -> Callable[..., Any]:
    return lambda c: c.post(path, files=files, data=data, **kw)


def raw(path: str, body: bytes, headers: dict[str, str] | None = None) -> Callable[..., Any]:
    return lambda c: c.post(path, content=body, headers=headers or bad.MULTIPART)


def get(path: str) -> Callable[..., Any]:
    return lambda c: c.get(path)


def transform(data: bytes, ops: str = "grayscale", **form: str) -> Callable[..., Any]:
    return post("/v1/transform", files={"file": ("x.bin", data)}, data={"ops": ops, **form})


def collage(one: bytes = GOOD, two: bytes = GOOD, **form: str) -> Callable[..., Any]:
    return post("/process", files={"image1": ("a", one), "image2": ("b", two)}, data=form)


def caption(data: bytes = GOOD, description: str = "a caption") -> Callable[..., Any]:
    return post("/api/images", files={"image": ("a.jpg", data)}, data={"description": description})


def faces(data: bytes, field: str = "file", path: str = "/api/v1/images") -> Callable[..., Any]:
    return post(path, files={field: ("a.jpg", data)})


def ocr(data: bytes, **form: str) -> Callable[..., Any]:
    return post("/ocr", files={"file": ("a.jpg", data)}, data=form)


def pipeline(inputs: list[str], operations: list[Any] | None = None) -> Callable[..., Any]:
    images = [{"input": name, "output": f"out/{i}.png"} for i, name in enumerate(inputs)]
    return post("/pipeline", json={"images": images, "operations": operations or ["grayscale"]})


def image_of(response: httpx.Response) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, response.headers
    return image


def first_frame_red(response: httpx.Response) -> None:
    b, g, r = image_of(response)[10, 10].tolist()  # the first frame is red (lossy in WebP)
    assert r > 240 and g < 16 and b < 16, (b, g, r)


def cyan(response: httpx.Response) -> None:
    b, g, r = image_of(response)[10, 10].tolist()
    assert b > 240 and g > 240 and r < 15, (b, g, r)


def ramp_scaled_to_8_bits(response: httpx.Response) -> None:
    row = image_of(response)[0]  # a gray input stays one-channel gray
    assert row.ndim == 1 and row[0] == 0 and row[-1] == 255


def jpeg_of_96x64(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "image/jpeg"
    _shape(response, (64, 96))


def _shape(response: httpx.Response, size: tuple[int, int]) -> None:
    assert image_of(response).shape[:2] == size


def orange(response: httpx.Response) -> None:
    b, g, r = image_of(response)[10, 10].tolist()  # (200, 100, 50), lossy formats: 6 levels
    assert abs(r - 200) <= 6 and abs(g - 100) <= 6 and abs(b - 50) <= 6, (b, g, r)


def portrait_jpeg_of_120x160(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "image/jpeg"  # an opaque phone photo: JPEG
    _shape(response, (160, 120))  # the iPhone photo turned upright, halved


def avif_of_120x160(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "image/avif"
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.size) == ("AVIF", (120, 160))


def accepted(response: httpx.Response) -> None:
    assert response.json()["status"] == "queued"


def parts(*items: tuple[str, str | None, bytes]) -> bytes:
    return bad.multipart(list(items))


CASES = [
    # --- malformed multipart and wrong field names -------------------------------------
    Case(
        "no-boundary",
        raw("/process", b"x", {"content-type": "multipart/form-data"}),
        400,
        "boundary",
    ),
    Case("boundary-mismatch", raw("/process", b"--other\r\n\r\n--other--"), 400, "multipart"),
    Case(
        "unterminated-body",
        raw("/v1/transform", b'--pm-b\r\nContent-Disposition: form-data; name="ops"\r\n\r\ngray'),
        422,
        "file",
    ),
    Case(
        "part-without-disposition",
        raw("/v1/transform", b"--pm-b\r\n\r\nabc\r\n--pm-b--\r\n"),
        400,
        "multipart|Content-Disposition",
    ),
    Case(
        "json-to-a-form-route",
        lambda c: c.post("/process", json={"image1": "a.jpg"}),
        422,
        "image1",
    ),
    Case("form-to-a-json-route", post("/pipeline", data={"images": "a.jpg"}), 422, "body|images"),
    Case(
        "image-as-text-field",
        post("/process", data={"image1": "a.jpg", "image2": "b.jpg"}),
        422,
        "image1",
    ),
    Case(
        "img1-instead-of-image1",
        post("/process", files={"img1": ("a", GOOD), "image2": ("b", GOOD)}),
        422,
        "image1",
    ),
    Case(
        "files-instead-of-file",
        post("/v1/transform", files={"files": ("a", GOOD)}, data={"ops": "grayscale"}),
        422,
        "file",
    ),
    Case("transform-without-ops", post("/v1/transform", files={"file": ("a", GOOD)}), 422, "ops"),
    Case(
        "caption-text-instead-of-description",
        post("/api/images", files={"image": ("a", GOOD)}, data={"text": "hi"}),
        422,
        "description is required",
    ),
    Case("caption-without-image", post("/api/images", data={"description": "hi"}), 422, "image"),
    Case("faces-photo-instead-of-file", faces(GOOD, field="photo"), 422, "file"),
    Case("ocr-without-file", post("/ocr", data={"lang": "eng"}), 422, "file"),
    Case(
        "1500-form-fields",
        raw("/v1/transform", parts(*[(f"f{i}", None, b"v") for i in range(1500)])),
        400,
        "Too many fields",
    ),
    Case(
        "1500-files",
        raw("/process", parts(*[("images", f"{i}.jpg", b"v") for i in range(1500)])),
        400,
        "Too many files",
    ),
    # --- huge fields and bodies ------------------------------------------------------------
    Case("description-of-2-MB", caption(description="a" * 2_000_000), 400, "maximum size"),
    Case("description-of-201-chars", caption(description="д" * 201), 422, "201 characters"),
    Case("ops-of-1.5-MB", transform(GOOD, "grayscale," * 150_000), 400, "maximum size"),
    Case(
        "65-operations",
        transform(GOOD, ",".join(["grayscale"] * 65)),
        422,
        "too many operations: 65",
    ),
    Case("file-over-its-limit", transform(OVER_FILE_LIMIT), 413, "2,097,166 bytes"),
    Case(
        "request-over-its-limit",
        collage(GOOD, GOOD, kernel_size="5" * 9_000_000),
        413,
        "request body",
    ),
    Case(
        "17-collage-images",
        post(
            "/process",
            files=[("image1", ("a", GOOD)), ("image2", ("b", GOOD))]
            + [("images", (f"{i}", GOOD)) for i in range(15)],
        ),
        422,
        "too many images: 17",
    ),
    # --- text that is not what it should be ----------------------------------------------
    Case(
        "description-not-utf8-c1-bytes",
        raw(
            "/api/images",
            parts(("description", None, b"caf\xc3 \x85\x80"), ("image", "a.jpg", GOOD)),
        ),
        422,
        "control character",
    ),
    Case(
        "description-with-nul", caption(description="a\x00b"), 422, r"control character \(U\+0000\)"
    ),
    Case("description-with-escape-codes", caption(description="\x1b[31mred"), 422, r"U\+001B"),
    Case("description-blank", caption(description="   "), 422, "description is required"),
    Case("description-cyrillic-200", caption(description="Ж" * 200), 202, check=accepted),
    Case("lang-shell-injection", ocr(GOOD, lang="eng;rm -rf /"), 422, "installed languages"),
    Case("lang-unknown", ocr(GOOD, lang="xyz"), 422, "installed languages"),
    Case("format-bmp", transform(GOOD, format="bmp"), 422, "format"),
    Case("quality-0", transform(GOOD, quality="0"), 422, "quality"),
    Case("quality-text", transform(GOOD, quality="high"), 422, "quality"),
    Case("ops-broken-json", transform(GOOD, '["grayscale"'), 422, "ops|JSON"),
    Case("ops-unknown", transform(GOOD, "sepia=3"), 422, "sepia"),
    Case("resize-too-small", transform(GOOD, "resize=0.01"), 422, "resize"),
    Case("resize-past-the-output-limit", transform(GOOD, "resize=100,resize=1.5"), 422, "pixel"),
    Case("kernel-even", collage(kernel_size="4"), 422, "kernel_size"),
    Case("threshold-nan", collage(brightness_threshold="nan"), 422, "brightness_threshold"),
    Case("list-limit-0", get("/api/images?limit=0"), 422, "limit"),
    Case("list-limit-1001", get("/api/images?limit=1001"), 422, "limit"),
    Case("list-offset-huge", get("/api/images?offset=" + "9" * 30), 422, "offset"),
    Case("list-status-not-utf8", get("/api/images?status=%ff"), 422, "status"),
    Case("caption-id-unknown", get("/api/images/does-not-exist"), 404, "does-not-exist"),
    Case("caption-id-10k-chars", get("/api/images/" + "a" * 10_000), 404, "no image"),
    Case("faces-id-unknown", get("/api/v1/images/nope"), 404, "nope"),
    Case("faces-meta-unknown", get("/api/v1/images/nope/meta"), 404, "nope"),
    # --- not images, damaged images --------------------------------------------------------
    Case("empty-file", transform(b""), 422, "empty"),
    Case("text-file", transform(TEXT), 415, "not an image"),
    Case("html-file", faces(HTML), 415, "not an image"),
    Case("svg-file", ocr(SVG), 415, "not an image"),
    Case("gif-signature-then-garbage", caption(b"GIF89a" + b"\x07" * 40), 415, "file|image"),
    Case("truncated-jpeg", transform(GOOD[: len(GOOD) // 2]), 415, "truncated|damaged|decoded"),
    Case("truncated-png", collage(PNG[: len(PNG) // 2]), 415, "image1"),
    Case("gif-frame-without-data", transform(bad.gif_claiming(100, 100)), 415, "truncated"),
    Case("webp-size-mismatch", transform(bad.webp_claiming(200, 200)), 415, "damaged|decoded"),
    # --- decompression bombs -------------------------------------------------------------
    Case("png-header-60000x60000", transform(png_header_only(60_000, 60_000)), 413, "pixel limit"),
    Case("png-deflate-bomb-100-Mpx", transform(DEFLATE_BOMB), 413, "100,000,000 pixels"),
    Case("png-bomb-to-collage", collage(DEFLATE_BOMB), 413, "image1"),
    Case("png-bomb-to-captions", caption(DEFLATE_BOMB), 413, "pixel"),
    Case("png-bomb-to-faces", faces(DEFLATE_BOMB), 413, "pixel"),
    Case("png-bomb-to-ocr", ocr(DEFLATE_BOMB), 413, "pixel"),
    Case(
        "jpeg-header-65000x65000", transform(bad.jpeg_claiming(65_000, 65_000)), 413, "pixel limit"
    ),
    # data for 96×64 under a header of 4000×4000: decoded as far as the data goes, as
    # browsers do (libjpeg fills the rest), within the pixel limit
    Case(
        "jpeg-header-4000x4000",
        transform(bad.jpeg_claiming(4000, 4000), "resize=0.1"),
        200,
        check=lambda r: _shape(r, (400, 400)),
    ),
    Case("gif-header-65535x65535", transform(bad.gif_claiming(65_535, 65_535)), 413, "pixel limit"),
    Case(
        "webp-canvas-16383x16383", transform(bad.webp_claiming(16_383, 16_383)), 413, "pixel limit"
    ),
    # --- odd images that are images: handled, right pixels -------------------------------
    Case(
        "animated-gif-first-frame",
        transform(bad.animated_gif(), "format=png"),
        200,
        check=first_frame_red,
    ),
    Case(
        "animated-webp-first-frame",
        transform(bad.animated_webp(), "format=png"),
        200,
        check=first_frame_red,
    ),
    Case("animated-gif-to-captions", caption(bad.animated_gif()), 202, check=accepted),
    Case("cmyk-jpeg", transform(bad.cmyk_jpeg(), "format=png"), 200, check=cyan),
    Case(
        "16-bit-gray-png",
        transform(bad.png_16bit_gray(), "resize=1"),
        200,
        check=ramp_scaled_to_8_bits,
    ),
    Case("16-bit-rgba-png-to-faces", faces(bad.png_16bit_rgba()), 202, check=accepted),
    Case(
        "exif-bomb-24-segments",
        transform(bad.exif_bomb_many_segments(), "resize=1"),
        200,
        check=jpeg_of_96x64,
    ),
    Case("exif-bomb-over-the-file-limit", transform(bad.exif_bomb_many_segments(40)), 413, "bytes"),
    Case(
        "exif-loop-bad-orientation",
        transform(bad.exif_loop(), "resize=1"),
        200,
        check=jpeg_of_96x64,
    ),
    Case("exif-loop-to-collage", collage(bad.exif_loop()), 200),
    # --- HEIC and AVIF: phone photos, lying headers, broken files --------------------------
    Case(
        "heic-iphone-photo",
        transform(IPHONE_HEIC, "resize=0.5"),
        200,
        check=portrait_jpeg_of_120x160,
    ),
    Case(
        "heic-iphone-photo-to-avif",
        transform(IPHONE_HEIC, "resize=0.5", format="avif"),
        200,
        check=avif_of_120x160,
    ),
    Case("heic-iphone-photo-to-captions", caption(IPHONE_HEIC), 202, check=accepted),
    Case("avif-to-faces", faces(bad.GOOD_AVIF), 202, check=accepted),
    Case("heic-and-avif-to-collage", collage(IPHONE_HEIC, bad.GOOD_AVIF), 200),
    Case("heic-to-ocr", ocr(IPHONE_HEIC), 200),
    Case("heic-header-8000x8000", transform(HEIC_BOMB), 413, "64,000,000 pixels"),
    Case("avif-header-8000x8000", transform(AVIF_BOMB), 413, "64,000,000 pixels"),
    Case("heic-bomb-to-captions", caption(HEIC_BOMB), 413, "pixel"),
    Case("heic-bomb-to-collage", collage(HEIC_BOMB), 413, "image1"),
    Case("avif-bomb-to-faces", faces(AVIF_BOMB), 413, "pixel"),
    Case("avif-bomb-to-ocr", ocr(AVIF_BOMB), 413, "pixel"),
    Case(
        "heic-header-65535x65535",
        transform(bad.isobmff_claiming(bad.GOOD_HEIC, 65_535, 65_535)),
        413,
        "pixel limit",
    ),
    # libavif itself refuses a side past 32768 while reading the header
    Case(
        "avif-header-65535x65535",
        transform(bad.isobmff_claiming(bad.GOOD_AVIF, 65_535, 65_535)),
        415,
        "not an image",
    ),
    Case("heic-truncated", transform(bad.truncated(bad.GOOD_HEIC)), 415, "decoded|damaged"),
    Case("avif-truncated", transform(bad.truncated(bad.GOOD_AVIF)), 415, "not an image"),
    Case("heic-pipeline", pipeline(["phone.heic"]), 200),
    # --- ICC profiles: huge, broken, a deflate bomb --------------------------------------
    Case(
        "jpeg-icc-1.5-MB",
        transform(bad.jpeg_with_icc(bad.huge_icc()), "format=png"),
        200,
        check=orange,
    ),
    Case(
        "jpeg-icc-broken",
        transform(bad.jpeg_with_icc(bad.broken_icc()), "format=png"),
        200,
        check=orange,
    ),
    Case(
        "heic-icc-broken",
        transform(bad.heic_with_icc(bad.broken_icc()), "format=png"),
        200,
        check=orange,
    ),
    Case(
        "avif-icc-1.5-MB",
        transform(bad.avif_with_icc(bad.huge_icc()), "format=png"),
        200,
        check=orange,
    ),
    Case(
        "icc-broken-to-captions", caption(bad.jpeg_with_icc(bad.broken_icc())), 202, check=accepted
    ),
    # Pillow inflates an iCCP chunk to 1 MB at most, and refuses the file past it
    Case("png-iccp-inflating-to-50-MB", transform(bad.png_with_icc_bomb()), 415, "too large"),
    # --- paths on the server -------------------------------------------------------------
    Case("path-dotdot", pipeline(["../../etc/passwd"]), 403, "outside|\\.\\."),
    Case("path-absolute", pipeline(["/etc/passwd"]), 403, "absolute"),
    Case("path-climbs-after-a-folder", pipeline(["a/../../x.jpg"]), 403, "outside|\\.\\."),
    Case("path-percent-encoded", pipeline(["%2e%2e/%2e%2e/etc/passwd"]), 403, "encoded"),
    Case("path-backslashes", pipeline(["..\\..\\windows\\win.ini"]), 403, "separator|\\\\"),
    Case("path-nul-byte", pipeline(["a.jpg\x00.png"]), 403, "NUL"),
    Case("path-symlink-out", pipeline(["link_out/canary.jpg"]), 403, "outside"),
    Case("path-symlink-loop", pipeline(["loop"]), 403, "loop|outside|link"),
    Case(
        "path-output-outside",
        post(
            "/pipeline",
            json={
                "images": [{"input": "a.jpg", "output": "../x.png"}],
                "operations": ["grayscale"],
            },
        ),
        403,
        "outside|\\.\\.",
    ),
    Case("path-missing", pipeline(["missing.jpg"]), 404, "missing.jpg"),
    Case("path-to-text-file", pipeline(["notes.txt"]), 415, "notes.txt"),
    Case("pipeline-1001-images", pipeline(["a.jpg"] * 1001), 422, "images"),
    Case(
        "pipeline-body-not-utf8",
        raw("/pipeline", b'{"images": [{"input": "\xff"}]}', {"content-type": "application/json"}),
        400,
        "parsing the body",
    ),
    Case(
        "pipeline-nested-100k-deep",
        raw(
            "/pipeline",
            b'{"images":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            {"content-type": "application/json"},
        ),
        400,
        "parsing the body",
    ),
    Case(
        "pipeline-operations-not-a-list",
        post("/items/", json={"images": [], "operations": "grayscale"}),
        422,
        "operations",
    ),
    # --- HTTP itself ---------------------------------------------------------------------
    Case("method-not-allowed", lambda c: c.delete("/process"), 405, "Method Not Allowed"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("corpus")
    files = tmp / "data" / "files"
    files.mkdir(parents=True)
    (files / "a.jpg").write_bytes(GOOD)
    (files / "phone.heic").write_bytes(IPHONE_HEIC)
    (files / "notes.txt").write_bytes(TEXT)
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "canary.jpg").write_bytes(GOOD)
    (files / "link_out").symlink_to(outside, target_is_directory=True)
    (files / "loop").symlink_to(files / "loop")
    env = {
        "PIXELMILL_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024),
        "PIXELMILL_MAX_REQUEST_BYTES": str(8 * 1024 * 1024),
        "PIXELMILL_MAX_PIXELS": "20000000",
        "PIXELMILL_REQUEST_BODY_TIMEOUT_SECONDS": "1",
        "PIXELMILL_PROCESS_WORKERS": "2",
        "PIXELMILL_THREAD_WORKERS": "1",
    }
    with running_server(tmp, env=env) as url:
        yield url, tmp


@pytest.fixture(scope="module")
def http(server: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as client:
        yield client


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_bad_input_gets_its_answer(http: httpx.Client, case: Case) -> None:
    response = case.send(http)
    assert response.status_code == case.status, response.text[:500]
    assert "Traceback" not in response.text
    if case.status >= 400:
        detail = str(response.json()["detail"])
        assert re.search(case.words, detail), detail
    if case.check is not None:
        case.check(response)


def _raw_exchange(url: str, request: bytes) -> bytes:
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"400",
            id="content-length-not-a-number",
        ),
        pytest.param(
            b"POST /v1/transform HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n--b\r\n",
            b"408",
            id="body-shorter-than-its-length-stalls",
        ),
        pytest.param(b"GARBAGE\r\n\r\n", b"400", id="not-http"),
    ],
)
def test_broken_http_is_refused(
    server: tuple[str, Path], request_bytes: bytes, status: bytes
) -> None:
    answer = _raw_exchange(server[0], request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:300]
    assert b"Traceback" not in answer


def test_after_the_corpus_the_server_is_healthy_and_nothing_accepted_is_lost(
    http: httpx.Client, server: tuple[str, Path]
) -> None:
    assert http.get("/health").json()["status"] == "ok"
    response = http.post("/process", files={"image1": ("a", GOOD), "image2": ("b", PNG)})
    assert response.status_code == 200
    assert image_of(response).shape[:2] == (64, 192)

    # every caption the corpus got accepted is stored, every face image processed
    deadline = time.monotonic() + 60
    while True:
        items = http.get("/api/images", params={"limit": 1000}).json()
        if items and all(item["status"] == "stored" for item in items):
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.2)
    assert {item["description"] for item in items} >= {"Ж" * 200, "a caption"}
    for item in items:
        stored = http.get(f"/api/images/{item['id']}")
        assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
    log = (server[1] / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]
