"""One output policy: every surface encodes its result in the format and quality that
`output.choose` decides, from the request, the chain's output steps and the input."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.errors import InvalidParameter
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.ops.output import OutputOptions, choose
from tests.images import encode, photo, pil_bytes

COLOUR = photo(64, 48, seed=7)
GRAY = COLOUR[:, :, 1].copy()
MAGIC = {
    "png": b"\x89PNG",
    "jpeg": b"\xff\xd8\xff",
    "webp": b"RIFF",
    "avif": b"ftypavif",
    "gif": b"GIF8",
}


def in_format(ext: str, image: np.ndarray = COLOUR) -> bytes:
    """`image` in the format of `ext`: OpenCV's writers, and pillow-heif's for HEIC."""
    if ext == ".heic":
        return pil_bytes(Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), "HEIF")
    return encode(image, ext)


def info(fmt: str) -> codec.ImageInfo:
    return codec.ImageInfo(fmt, 64, 48)


@pytest.mark.parametrize(
    ("chain", "asked", "input", "expected"),
    [
        (OutputOptions(), None, "JPEG", ("jpeg", 90)),  # the input's format
        (OutputOptions(), None, "WEBP", ("webp", 90)),
        (OutputOptions(), None, "GIF", ("gif", 90)),  # written: GIF
        (OutputOptions(), None, "TIFF", ("png", 90)),
        (OutputOptions(), None, "AVIF", ("avif", 80)),  # AVIF's own default
        (OutputOptions(), None, "HEIF", ("jpeg", 90)),  # read, not written: a photo
        (OutputOptions(), None, "BMP", ("png", 90)),  # read, not written: lossless
        (OutputOptions("avif", 50), None, "JPEG", ("avif", 50)),
        (OutputOptions(None, 60), "AVIF", "HEIF", ("avif", 60)),
        (OutputOptions("webp", 70), None, "JPEG", ("webp", 70)),  # the chain's steps
        (OutputOptions(None, 70), "JPG", "PNG", ("jpeg", 70)),  # the request, any case
        (OutputOptions("jpeg"), "jpg", "PNG", ("jpeg", 90)),  # jpg and jpeg agree
    ],
)
def test_the_policy_table(
    chain: OutputOptions, asked: str | None, input: str, expected: tuple[str, int]
) -> None:
    out = choose(chain, format=asked, input=info(input))
    assert (out.format.name, out.quality) == expected


def test_a_request_and_a_chain_that_disagree_are_a_422() -> None:
    with pytest.raises(InvalidParameter, match="asks for png, but the chain asks for format=webp"):
        choose(OutputOptions("webp"), format="png", asked_by="the request")
    with pytest.raises(InvalidParameter, match="quality 50, but the chain asks for quality=80"):
        choose(OutputOptions(None, 80), quality=50)
    with pytest.raises(InvalidParameter, match="unknown output format 'bmp'"):
        choose(OutputOptions(), format="bmp")


def test_the_format_table_holds_what_each_format_is() -> None:
    for fmt in codec.FORMATS.values():
        assert fmt.media_type.startswith("image/")
        assert codec.format_for_path(Path("a" + fmt.extension.upper())) is fmt
        data = codec.encode(COLOUR, fmt.name, quality=80)
        assert MAGIC[fmt.name] in data[:12]
        assert Image.open(io.BytesIO(data)).format == fmt.reads_as
    assert codec.FORMATS["png"].takes_quality is False
    assert codec.FORMATS["jpeg"].alpha is False and codec.FORMATS["webp"].alpha is True
    avif = codec.FORMATS["avif"]
    assert (avif.media_type, avif.extension, avif.takes_quality, avif.alpha) == (
        "image/avif",
        ".avif",
        True,
        True,
    )


# --- /v1/transform ---------------------------------------------------------------------------


def transform(client: TestClient, data: bytes, ops: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/transform", files={"file": ("a.img", data)}, data={"ops": ops, **form})


@pytest.mark.parametrize(
    ("data", "ops", "form", "media"),
    [
        (encode(COLOUR, ".jpg"), "resize=0.5", {}, "image/jpeg"),
        (encode(COLOUR, ".webp"), "resize=0.5", {}, "image/webp"),
        (encode(COLOUR, ".bmp"), "resize=0.5", {}, "image/png"),
        (encode(COLOUR, ".jpg"), "resize=0.5,format=webp", {}, "image/webp"),
        (encode(COLOUR, ".jpg"), "resize=0.5", {"format": "JPG"}, "image/jpeg"),
        (encode(COLOUR), "resize=0.5", {"format": "WebP"}, "image/webp"),
        (encode(COLOUR), "format=JPG,resize=0.5", {"format": "jpeg"}, "image/jpeg"),
        (encode(COLOUR, ".jpg"), "resize=0.5,format=avif", {}, "image/avif"),
        (encode(COLOUR), "resize=0.5", {"format": "AVIF"}, "image/avif"),
        (in_format(".avif"), "resize=0.5", {}, "image/avif"),
        (in_format(".heic"), "resize=0.5", {}, "image/jpeg"),
        (in_format(".heic"), "resize=0.5", {"format": "avif"}, "image/avif"),
    ],
)
def test_transform_encodes_as_the_policy_says(
    client: TestClient, data: bytes, ops: str, form: dict[str, str], media: str
) -> None:
    response = transform(client, data, ops, **form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media
    image = Image.open(io.BytesIO(response.content))
    assert Image.MIME[image.format or ""] == media
    assert image.size == (32, 24)


def test_transform_refuses_a_format_the_chain_contradicts(client: TestClient) -> None:
    response = transform(client, encode(COLOUR), "format=webp", format="png")
    assert response.status_code == 422
    assert "format=webp" in response.json()["detail"]
    response = transform(client, encode(COLOUR), "quality=80", format="jpeg", quality="40")
    assert response.status_code == 422
    assert "quality=80" in response.json()["detail"]
    response = transform(client, encode(COLOUR), "grayscale", format="bmp")
    assert response.status_code == 422
    assert "unknown output format 'bmp'" in response.json()["detail"]


def test_a_gray_input_stays_one_channel_in_png(client: TestClient) -> None:
    for data in (encode(GRAY), encode(GRAY, ".jpg", quality=100)):
        response = transform(client, data, "resize=0.5,rotate=90", format="png")
        assert response.status_code == 200, response.text
        assert Image.open(io.BytesIO(response.content)).mode == "L"
    # an operation that draws in colour makes a colour image
    framed = transform(client, encode(GRAY), "grid=8", format="png")
    assert framed.status_code == 200, framed.text
    assert Image.open(io.BytesIO(framed.content)).mode == "RGB"
    # the gray pixels are the input's own
    same = transform(client, encode(GRAY), "rotate=0", format="png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(same.content))), GRAY)


# --- format=auto -----------------------------------------------------------------------------

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_15 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
OLD = "image/png,image/*;q=0.8,*/*;q=0.5"


@pytest.mark.parametrize(
    ("accept", "input", "expected"),
    [
        (CHROME, codec.ImageInfo("JPEG", 64, 48), ("avif", True)),
        (SAFARI_15, codec.ImageInfo("JPEG", 64, 48), ("webp", True)),
        (OLD, codec.ImageInfo("JPEG", 64, 48), ("jpeg", True)),
        (OLD, codec.ImageInfo("PNG", 64, 48, alpha=True), ("png", True)),
        (OLD, codec.ImageInfo("GIF", 64, 48, frames=5), ("gif", True)),
        (None, codec.ImageInfo("WEBP", 64, 48), ("jpeg", True)),
        ("*/*", codec.ImageInfo("PNG", 64, 48), ("jpeg", True)),  # names neither
        ("image/avif;q=0, image/webp", codec.ImageInfo("JPEG", 64, 48), ("webp", True)),
        ("IMAGE/AVIF ; q=0.5", codec.ImageInfo("JPEG", 64, 48), ("avif", True)),
    ],
)
def test_format_auto_picks_from_accept(
    accept: str | None, input: codec.ImageInfo, expected: tuple[str, bool]
) -> None:
    for chain, asked in ((OutputOptions("auto"), None), (OutputOptions(), "AUTO")):
        out = choose(chain, format=asked, input=input, accept=accept)
        assert (out.format.name, out.negotiated) == expected
    assert choose(OutputOptions("webp"), accept=CHROME).negotiated is False


def test_format_auto_is_a_step() -> None:
    assert pipeline.output_options(pipeline.parse(["format=Auto"])).format == "auto"
    with pytest.raises(InvalidParameter, match="asks for png, but the chain asks for format=auto"):
        choose(OutputOptions("auto"), format="png")


@pytest.mark.parametrize(
    ("accept", "form", "media"),
    [
        (CHROME, {}, "image/avif"),
        (SAFARI_15, {}, "image/webp"),
        (OLD, {}, "image/jpeg"),
        (SAFARI_15, {"format": "auto"}, "image/webp"),
    ],
)
def test_transform_with_format_auto_varies_on_accept(
    client: TestClient, accept: str, form: dict[str, str], media: str
) -> None:
    ops = "fit=32x24" if form else "fit=32x24,format=auto"
    response = client.post(
        "/v1/transform",
        files={"file": ("a.img", encode(COLOUR))},
        data={"ops": ops, **form},
        headers={"accept": accept},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media
    assert response.headers["vary"] == "Accept"
    assert Image.MIME[Image.open(io.BytesIO(response.content)).format or ""] == media
    plain = transform(client, encode(COLOUR), "fit=32x24", format="webp")
    assert "vary" not in plain.headers


# --- /pipeline -------------------------------------------------------------------------------


def test_pipeline_writes_the_format_of_each_extension(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    root = settings.files_root_path
    root.mkdir(parents=True, exist_ok=True)
    (root / "in.jpg").write_bytes(encode(COLOUR, ".jpg"))
    with TestClient(create_app(settings)) as client:
        items = [
            {"input": "in.jpg", "output": "out/a.PNG"},
            {"input": "in.jpg", "output": "out/b.JPEG"},
            {"input": "in.jpg", "output": "out/c.webp"},
            {"input": "in.jpg", "output": "out/d.AVIF"},
        ]
        response = client.post("/pipeline", json={"images": items, "operations": ["resize=0.5"]})
        assert response.status_code == 200, response.text
        for name, fmt in (
            ("a.PNG", "PNG"),
            ("b.JPEG", "JPEG"),
            ("c.webp", "WEBP"),
            ("d.AVIF", "AVIF"),
        ):
            assert Image.open(root / "out" / name).format == fmt
        clash = client.post(
            "/pipeline",
            json={"images": [items[0]], "operations": ["resize=0.5", "format=webp"]},
        )
        assert clash.status_code == 422
        assert "'a.PNG' asks for png, but the chain asks for format=webp" in clash.json()["detail"]


# --- pixelmill run ---------------------------------------------------------------------------


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelmill", "run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("source", "args", "written", "fmt"),
    [
        ("a.jpg", ["--ops", "resize=0.5,format=webp"], "a.webp", "WEBP"),
        ("a.jpg", ["--ops", "resize=0.5"], "a.jpg", "JPEG"),
        ("a.jpg", ["--ops", "resize=0.5", "--format", "PNG"], "a.png", "PNG"),
        ("a.bmp", ["--ops", "resize=0.5"], "a.png", "PNG"),
        ("a.jpeg", ["--ops", "format=JPG,resize=0.5", "--format", "jpeg"], "a.jpg", "JPEG"),
        ("a.jpg", ["--ops", "resize=0.5,format=avif"], "a.avif", "AVIF"),
        ("a.heic", ["--ops", "resize=0.5", "--format", "AVIF"], "a.avif", "AVIF"),
        ("a.heic", ["--ops", "resize=0.5"], "a.jpg", "JPEG"),
    ],
)
def test_run_writes_the_format_the_policy_chooses(
    tmp_path: Path, source: str, args: list[str], written: str, fmt: str
) -> None:
    (tmp_path / source).write_bytes(in_format(Path(source).suffix))
    result = run(*args, "--out", "out", source, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [written]
    with Image.open(tmp_path / "out" / written) as image:
        assert (image.format, image.size) == (fmt, (32, 24))


def test_run_says_when_format_and_the_chain_disagree(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(encode(COLOUR, ".jpg"))
    result = run("--ops", "format=webp", "--format", "png", "--out", "out", "a.jpg", cwd=tmp_path)
    assert result.returncode == 1
    assert "--format asks for png, but the chain asks for format=webp" in result.stderr
    bad = run("--ops", "grayscale", "--format", "bmp", "--out", "out", "a.jpg", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown output format 'bmp'" in bad.stderr
    assert "Traceback" not in result.stderr + bad.stderr


# --- captions and faces ----------------------------------------------------------------------


def _poll(client: TestClient, url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while (response := client.get(url)).status_code == 409:
        assert time.monotonic() < deadline, f"{url} not done in time"
        time.sleep(0.05)
    return response


@pytest.mark.parametrize(
    ("ext", "faces_media"),
    [
        (".jpg", "image/jpeg"),
        (".png", "image/png"),
        (".webp", "image/webp"),
        (".gif", "image/gif"),
        (".avif", "image/avif"),
        (".heic", "image/jpeg"),  # read, not written: an opaque photo goes to JPEG
    ],
)
def test_captions_store_jpeg_and_faces_keep_the_input_format(
    make_settings: Callable[..., Settings], ext: str, faces_media: str
) -> None:
    pillow_name = {"jpg": "jpeg", "heic": "heif"}.get(ext.lstrip("."), ext.lstrip("."))
    data = pil_bytes(Image.fromarray(COLOUR[:, :, ::-1]), pillow_name)
    with TestClient(create_app(make_settings())) as client:
        caption = client.post(
            "/api/images", files={"image": (f"a{ext}", data)}, data={"description": "hi"}
        )
        assert caption.status_code == 202, caption.text
        served = _poll(client, f"/api/images/{caption.json()['id']}")
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(served.content)).format == "JPEG"

        faces = client.post("/api/v1/images", files={"file": (f"a{ext}", data)})
        assert faces.status_code == 202, faces.text
        boxed = _poll(client, faces.json()["url"])
        assert boxed.status_code == 200
        assert boxed.headers["content-type"] == faces_media
        assert Image.MIME[Image.open(io.BytesIO(boxed.content)).format or ""] == faces_media


def test_background_and_strip_are_output_steps() -> None:
    steps = pipeline.parse(["background=FF0000", "strip=false", "resize=0.5"])
    out = choose(pipeline.output_options(steps))
    assert (out.background, out.strip) == ("#ff0000", False)
    default = choose(OutputOptions())
    assert (default.background, default.strip) == ("#ffffff", True)
    # a format without alpha lays transparent pixels over the background
    clear = np.zeros((8, 8, 4), np.uint8)
    clear[:4, :, 3] = 255  # the top half opaque black, the bottom half transparent
    for fmt, bottom in (("jpeg", (0, 0, 255)), ("png", (0, 0, 0, 0))):
        data = codec.encode(clear, fmt, quality=100, background=out.background)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.abs(decoded[6, 4].astype(int) - bottom).max() <= 2, (fmt, decoded[6, 4])
        assert np.abs(decoded[1, 4, :3].astype(int)).max() <= 2
