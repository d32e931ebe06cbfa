"""Straightforward collage server: the reference that bench/collage.py compares pixelmill with.

This is the collage service written the plain way the original task describes it, with no
optimisation and no tricks to slow it down:

* every ``POST /process`` request creates a new ``ProcessPoolExecutor`` with one process per
  image;
* each process decodes its image with Pillow (honouring EXIF orientation), converts it to
  grayscale with Pillow, blurs it with ``cv2.GaussianBlur``, splits it into square segments
  from the top-left, computes each segment's mean brightness in a new ``ThreadPoolExecutor``
  with one thread per segment, and frames every segment brighter than the threshold with a
  2 px pure red rectangle drawn by Pillow on the RGB version of the blurred image;
* the parent lays the results out in a grid of ``ceil(sqrt(n))`` columns (cells as large as
  the largest image, black background), saves it as PNG with Pillow's default settings to
  ``RESULTS/final_collage.png`` and returns the same PNG bytes.

Run::

    python bench/straightforward.py --port 8001 --results /tmp/results
"""

from __future__ import annotations

import argparse
import io
import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import uvicorn
from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import Response
from PIL import Image, ImageDraw, ImageOps

RED = (255, 0, 0)
FRAME_WIDTH = 2

app = FastAPI(title="straightforward collage")
app.state.results_dir = Path("results")


def segment_mean(blurred: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean brightness of one segment, ``box`` being (left, top, right, bottom), exclusive."""
    left, top, right, bottom = box
    return float(blurred[top:bottom, left:right].mean())


def process_image(data: bytes, kernel_size: int, segment_size: int, threshold: float) -> np.ndarray:
    """Blur one image and frame its bright segments; runs in a worker process."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        gray = image.convert("L")
    blurred = cv2.GaussianBlur(np.asarray(gray), (kernel_size, kernel_size), 0)
    height, width = blurred.shape

    boxes = [
        (left, top, min(left + segment_size, width), min(top + segment_size, height))
        for top in range(0, height, segment_size)
        for left in range(0, width, segment_size)
    ]
    with ThreadPoolExecutor(max_workers=len(boxes)) as threads:
        means = list(threads.map(lambda box: segment_mean(blurred, box), boxes))

    result = Image.fromarray(blurred).convert("RGB")
    draw = ImageDraw.Draw(result)
    for (left, top, right, bottom), mean in zip(boxes, means, strict=True):
        if mean > threshold:
            draw.rectangle((left, top, right - 1, bottom - 1), outline=RED, width=FRAME_WIDTH)
    return np.asarray(result)


def make_collage(images: list[np.ndarray]) -> Image.Image:
    """Grid of ceil(sqrt(n)) columns, each image at its cell's top-left, black elsewhere."""
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    cell_width = max(image.shape[1] for image in images)
    cell_height = max(image.shape[0] for image in images)
    collage = Image.new("RGB", (columns * cell_width, rows * cell_height), (0, 0, 0))
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        collage.paste(Image.fromarray(image), (column * cell_width, row * cell_height))
    return collage


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/process")
def process(
    image1: UploadFile = File(...),
    image2: UploadFile = File(...),
    kernel_size: int = Form(5),
    segment_size: int = Form(50),
    brightness_threshold: float = Form(100),
) -> Response:
    uploads = [image1.file.read(), image2.file.read()]
    with ProcessPoolExecutor(max_workers=len(uploads)) as processes:
        futures = [
            processes.submit(process_image, data, kernel_size, segment_size, brightness_threshold)
            for data in uploads
        ]
        images = [future.result() for future in futures]

    buffer = io.BytesIO()
    make_collage(images).save(buffer, format="PNG")
    png = buffer.getvalue()
    results_dir: Path = app.state.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "final_collage.png").write_bytes(png)
    return Response(content=png, media_type="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    app.state.results_dir = args.results
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
