"""Images the browser tests upload, made on the spot: rendered text, a photo, a face."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from playwright.sync_api import FilePayload

from pixelmill.imaging.fonts import load_font
from tests.images import astronaut, encode, photo


def text_png(text: str, size: int = 48, margin: int = 40) -> bytes:
    """TEXT (lines split by newlines) in black on white, in the default caption font at SIZE px."""
    font = load_font(None, size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    box = measure.multiline_textbbox((0, 0), text, font=font, spacing=size // 2)
    left, top, right, bottom = (round(edge) for edge in box)
    image = Image.new("RGB", (right - left + 2 * margin, bottom - top + 2 * margin), "white")
    ImageDraw.Draw(image).multiline_text(
        (margin - left, margin - top), text, font=font, fill="black", spacing=size // 2
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def photo_png(width: int, height: int, seed: int = 0) -> bytes:
    return encode(photo(width, height, seed), ".png")


def astronaut_jpeg() -> bytes:
    """scikit-image's astronaut (one face), 512×512 JPEG."""
    return encode(astronaut(), ".jpg", quality=95)


def upload(name: str, data: bytes, mime: str) -> FilePayload:
    """A file for Page.set_input_files."""
    return {"name": name, "mimeType": mime, "buffer": data}
