"""POST /pipeline and /items/: the py-image-server request shapes, checked on the files written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.images import encode, photo

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def root(client: TestClient, module_dirs: Path) -> Iterator[Path]:
    """The files root with cyclo1-4: two JPEGs, two PNGs, 64x48 and 80x60."""
    files = module_dirs / "data" / "files"
    files.mkdir(parents=True, exist_ok=True)
    for i in range(1, 5):
        image = photo(64 if i % 2 else 80, 48 if i % 2 else 60, seed=i)
        ext = ".jpg" if i <= 2 else ".png"
        (files / f"cyclo{i}{ext}").write_bytes(encode(image, ext, quality=95))
    yield files


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def run(
    client: TestClient, operations: list[object], images: list[dict[str, str]], alias: bool = False
):  # type: ignore[no-untyped-def]
    return client.post(
        "/items/" if alias else "/pipeline", json={"images": images, "operations": operations}
    )


FOUR = [
    {"input": "cyclo1.jpg", "output": "out/cyclo1_processed.jpg"},
    {"input": "cyclo2.jpg", "output": "out/cyclo2_processed.PNG"},
    {"input": "cyclo3.png", "output": "out/cyclo3_processed.jpg"},
    {"input": "cyclo4.png", "output": "out/cyclo4_processed.PNG"},
]
SIZES = {
    "cyclo1.jpg": (64, 48),
    "cyclo2.jpg": (80, 60),
    "cyclo3.png": (64, 48),
    "cyclo4.png": (80, 60),
}


@pytest.mark.parametrize("alias", [False, True])
def test_split_writes_four_numbered_quadrants(client: TestClient, root: Path, alias: bool) -> None:
    response = run(client, ["split=True"], FOUR, alias=alias)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["operations"] == [{"op": "split"}]
    for item, request in zip(body["images"], FOUR, strict=True):
        stem, ext = request["output"].rsplit(".", 1)
        assert item["input"] == request["input"]
        assert item["outputs"] == [f"{stem}_{i}.{ext}" for i in range(4)]
        w, h = SIZES[request["input"]]
        for output in item["outputs"]:
            data = (root / output).read_bytes()
            assert data.startswith(JPEG_MAGIC if ext == "jpg" else PNG_MAGIC)
            assert read(root / output).shape == (h // 2, w // 2, 3)
    original = read(root / "cyclo4.png")  # PNG in, PNG out: the quadrants are exact
    quadrants = [read(root / f"out/cyclo4_processed_{i}.PNG") for i in range(4)]
    assert np.array_equal(quadrants[0], original[:30, :40])
    assert np.array_equal(quadrants[1], original[:30, 40:])
    assert np.array_equal(quadrants[2], original[30:, :40])
    assert np.array_equal(quadrants[3], original[30:, 40:])


def test_blur_zero_derives_the_kernel_and_changes_pixels(client: TestClient, root: Path) -> None:
    response = run(client, ["blur=0"], [{"input": "cyclo3.png", "output": "b0/c3.png"}])
    assert response.status_code == 200, response.text
    assert response.json()["images"][0]["outputs"] == ["b0/c3.png"]
    original, blurred = read(root / "cyclo3.png"), read(root / "b0/c3.png")
    assert blurred.shape == original.shape
    assert np.array_equal(blurred, cv2.GaussianBlur(original, (0, 0), 1.0))
    assert not np.array_equal(blurred, original)


def test_resize_half(client: TestClient, root: Path) -> None:
    response = run(client, ["resize=0.5"], FOUR)
    assert response.status_code == 200, response.text
    for item in response.json()["images"]:
        w, h = SIZES[item["input"]]
        (output,) = item["outputs"]
        assert read(root / output).shape == (h // 2, w // 2, 3)


def test_split_resize_blur(client: TestClient, root: Path) -> None:
    response = run(client, ["splitQuadrants=True", "resize=1.5", "blur=25"], FOUR[:2])
    assert response.status_code == 200, response.text
    for item in response.json()["images"]:
        w, h = SIZES[item["input"]]
        assert len(item["outputs"]) == 4
        for output in item["outputs"]:
            assert read(root / output).shape == (round(h // 2 * 1.5), round(w // 2 * 1.5), 3)


def test_split_resize_split_resize_gives_sixteen_of_the_original_size(
    client: TestClient, root: Path
) -> None:
    ops = ["splitQuadrants=True", "resize=2", "splitQuadrants=True", "resize=2"]
    response = run(client, ops, [{"input": "cyclo3.png", "output": "s16/c3.png"}])
    assert response.status_code == 200, response.text
    outputs = response.json()["images"][0]["outputs"]
    assert outputs == [f"s16/c3_{i}.png" for i in range(16)]
    original = read(root / "cyclo3.png")
    for i, output in enumerate(outputs):
        piece = read(root / output)
        assert piece.shape == original.shape
        q1, q2 = divmod(i, 4)  # i = 4*q1 + q2: quadrant q2 of quadrant q1
        y = (q1 // 2) * 24 + (q2 // 2) * 12
        x = (q1 % 2) * 32 + (q2 % 2) * 16
        region = cv2.resize(
            original[y : y + 12, x : x + 16], (64, 48), interpolation=cv2.INTER_LINEAR
        )
        assert np.abs(piece.astype(int) - region.astype(int)).mean() < 12


@pytest.mark.parametrize(
    ("operations", "words"),
    [
        (["resize=101"], "resize"),
        (["resize=0.05"], "resize"),
        (["blur=-1"], "blur"),
        (["blur=4"], "odd"),
        (["rotate=abc"], "rotate"),
        (["nonsense=1"], "unknown operation 'nonsense'"),
        (["resize=100", "resize=100"], "pixels; the limit is"),
    ],
)
def test_out_of_range_values_are_refused_with_the_reason(
    client: TestClient, root: Path, operations: list[str], words: str
) -> None:
    target = root / "never" / "x.png"
    response = run(client, operations, [{"input": "cyclo4.png", "output": "never/x.png"}])
    assert response.status_code == 422, response.text
    assert words in str(response.json()["detail"])
    assert not target.exists()


def test_output_folder_that_does_not_exist_yet(client: TestClient, root: Path) -> None:
    response = run(client, ["grayscale"], [{"input": "cyclo1.jpg", "output": "new/deeper/g.webp"}])
    assert response.status_code == 200, response.text
    data = (root / "new/deeper/g.webp").read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    gray = read(root / "new/deeper/g.webp")
    assert np.abs(gray[..., 0].astype(int) - gray[..., 2].astype(int)).max() <= 2


def test_missing_input_is_404_and_nothing_is_written(client: TestClient, root: Path) -> None:
    images = [
        {"input": "cyclo1.jpg", "output": "m/a.png"},
        {"input": "nope.jpg", "output": "m/b.png"},
    ]
    response = run(client, ["grayscale"], images)
    assert response.status_code == 404
    assert "nope.jpg" in response.json()["detail"]
    assert not (root / "m").exists()


def test_not_an_image_is_415(client: TestClient, root: Path) -> None:
    (root / "notes.jpg").write_text("shopping list")
    response = run(client, ["grayscale"], [{"input": "notes.jpg", "output": "n.png"}])
    assert response.status_code == 415
    assert "notes.jpg" in response.json()["detail"]


def test_normalized_paths_inside_the_root_are_fine(client: TestClient, root: Path) -> None:
    response = run(client, [], [{"input": "out/../cyclo1.jpg", "output": "x/./y/../z.png"}])
    assert response.status_code == 200, response.text
    assert response.json()["images"][0]["outputs"] == ["x/z.png"]
    assert (root / "x" / "z.png").read_bytes().startswith(PNG_MAGIC)


def test_unknown_output_extension_is_422(client: TestClient, root: Path) -> None:
    response = run(client, [], [{"input": "cyclo1.jpg", "output": "x.bmp"}])
    assert response.status_code == 422
    assert ".bmp" in response.json()["detail"]


def test_empty_request_is_fine(client: TestClient) -> None:
    response = client.post("/pipeline", json={"images": [], "operations": ["grayscale"]})
    assert response.status_code == 200
    assert response.json() == {"images": [], "operations": [{"op": "grayscale"}]}


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ("a-folder.png", "'a-folder.png' is a folder"),
        ("cyclo3.png/x.png", "'cyclo3.png' is a file, not a folder"),
        ("cyclo3.png/deeper/x.png", "'cyclo3.png' is a file, not a folder"),
    ],
)
def test_an_output_that_cannot_be_written_is_422_and_nothing_is_written(
    client: TestClient, root: Path, output: str, words: str
) -> None:
    (root / "a-folder.png").mkdir(exist_ok=True)
    images = [
        {"input": "cyclo1.jpg", "output": "w/first.png"},
        {"input": "cyclo2.jpg", "output": output},
    ]
    response = run(client, ["grayscale"], images)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert not (root / "w").exists()
    assert (root / "cyclo3.png").is_file()


def test_two_items_with_one_output_are_422(client: TestClient, root: Path) -> None:
    images = [
        {"input": "cyclo1.jpg", "output": "twice/a.png"},
        {"input": "cyclo2.jpg", "output": "twice/./a.png"},
    ]
    response = run(client, ["grayscale"], images)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "outputs 'twice/a.png' and 'twice/./a.png' are the same file; "
        "each image needs its own output"
    )
    assert not (root / "twice").exists()


def test_an_output_its_format_cannot_hold_is_422_and_nothing_is_written(
    client: TestClient, root: Path
) -> None:
    (root / "tall.png").write_bytes(encode(np.zeros((20_000, 1, 3), np.uint8), ".png"))
    images = [
        {"input": "cyclo1.jpg", "output": "held/a.webp"},
        {"input": "tall.png", "output": "held/b.webp"},
    ]
    response = run(client, ["grayscale"], images)
    assert response.status_code == 422, response.text
    assert "tall.png: the chain makes a 1×20000 image" in response.json()["detail"]
    assert not (root / "held").exists()
