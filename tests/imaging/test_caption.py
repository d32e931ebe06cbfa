"""The caption operation, as a user sees it: the band's size, its pixels, the glyphs, the fonts."""

from __future__ import annotations

import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydantic import ValidationError

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import fonts, pipeline
from pixelmill.imaging.fonts import load_font
from pixelmill.imaging.ops import size_of
from pixelmill.imaging.ops.caption import (
    MAX_TEXT_CHARS,
    CaptionParams,
    caption,
    layout,
    line_width,
)
from tests.images import photo

PAD = 4
CYRILLIC = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
GREEK = "ΔΘΛΞΣΨΩαβγδλπω"  # letters that look like no Cyrillic one
MISSING = "\U0010fffd"  # a private-use character no text font draws: its .notdef box
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])


@pytest.fixture(autouse=True)
def fresh_fonts() -> Iterator[None]:
    """Fonts are cached per process; a test that changes the font folders must not leak."""
    load_font.cache_clear()
    yield
    load_font.cache_clear()


@pytest.fixture
def bare_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No system fonts at all: only what pip installed."""
    monkeypatch.setattr(fonts, "FONT_DIRS", (str(tmp_path / "no-fonts"),))
    load_font.cache_clear()


def captioned(image: np.ndarray, **params: Any) -> np.ndarray:
    """caption() of `image`, checking that the input is left as it was."""
    before = image.copy()
    result = caption(image, CaptionParams(**params))
    assert np.array_equal(image, before), "the input was changed"
    assert result.dtype == np.uint8
    return result


def line_height(size: int = 12, font: str | None = None) -> int:
    ascent, descent = load_font(font, size).getmetrics()
    return ascent + descent


def ink(band: np.ndarray) -> np.ndarray:
    """Boolean mask of the text pixels (anything not black) of a gray or colour band."""
    return band.max(axis=-1) > 0 if band.ndim == 3 else band > 0


def glyph(char: str, font: ImageFont.FreeTypeFont) -> bytes:
    """The bitmap `font` draws for `char`, as bytes to compare."""
    canvas = Image.new("L", (3 * font.size, 2 * font.size), 0)
    ImageDraw.Draw(canvas).text((font.size // 2, 0), char, fill=255, font=font)
    return canvas.tobytes()


# --- the band below the image ---------------------------------------------------------------


def test_text_that_fits_makes_one_line_below_the_kept_image() -> None:
    image = photo(200, 100, seed=1)
    result = captioned(image, text="Hello, world")
    band = result[100:]
    assert result.shape == (100 + 2 * PAD + line_height(), 200, 3)
    assert np.array_equal(result[:100], image)  # the original pixels, exactly
    text = ink(band)
    assert text.any()
    rows, cols = np.nonzero(text)
    assert rows.min() >= PAD - 1 and rows.max() < band.shape[0] - PAD + 1
    assert cols.min() >= PAD - 1 and cols.max() < 100  # "Hello, world" is short


def test_the_band_is_black_with_gray_text() -> None:
    result = captioned(photo(240, 60, seed=2), text="Black band, white text: Привет 123")
    band = result[60:]
    assert np.array_equal(band[..., 0], band[..., 1])
    assert np.array_equal(band[..., 1], band[..., 2])
    assert band.max() >= 250  # the strokes are white at their core
    assert (band == 0).mean() > 0.5  # and the rest is pure black
    assert not band[:, : PAD - 1].any() and not band[:, -PAD:].any()


@pytest.mark.parametrize("lines", [1, 2, 3, 4, 5])
def test_each_wrapped_line_adds_exactly_one_line_height(lines: int) -> None:
    font = load_font(None, 12)
    word = "Mmmm"
    # wide enough for one word, too narrow for two: n words make n lines
    width = 2 * PAD + int(line_width(word, font)) + 3
    assert line_width(f"{word} {word}", font) > width - 2 * PAD
    image = photo(width, 30, seed=lines)
    result = captioned(image, text=" ".join([word] * lines))
    assert result.shape[0] == 30 + 2 * PAD + lines * line_height()
    assert np.array_equal(result[:30], image)
    band = ink(result[30:])
    for index in range(lines):  # every line's row range holds text
        top = PAD + index * line_height()
        assert band[top : top + line_height()].any(), index


def test_words_wrap_whole_to_the_width() -> None:
    text = "The quick brown fox jumps over the lazy dog и съешь ещё этих мягких булок"
    font = load_font(None, 12)
    plan = layout(text, 150, font, PAD)
    assert 2 <= len(plan.lines) <= 6
    assert " ".join(plan.lines) == text  # broken only at spaces, no word cut
    assert all(line_width(line, font) <= 150 - 2 * PAD for line in plan.lines)
    result = captioned(photo(150, 40), text=text)
    assert result.shape[0] == 40 + plan.band_height


def test_a_word_longer_than_a_line_is_broken_and_stays_inside() -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2
    width = 120
    font = load_font(None, 12)
    plan = layout(word, width, font, PAD)
    assert len(plan.lines) >= 3 and "".join(plan.lines) == word
    assert all(line_width(line, font) <= width - 2 * PAD for line in plan.lines)
    result = captioned(photo(width, 20), text=word)
    band = ink(result[20:])
    assert result.shape[0] == 20 + plan.band_height
    assert band.any(axis=1).sum() > len(plan.lines)  # every line is drawn
    assert not band[:, width - PAD :].any()  # nothing in the right padding or beyond


def test_the_rest_of_a_broken_word_is_followed_by_the_next_words() -> None:
    font = load_font(None, 12)
    plan = layout("a" * 40 + " b c", 80, font, PAD)
    assert plan.lines[-1].endswith(" b c")


def test_a_letter_keeps_its_combining_marks_when_a_word_is_broken() -> None:
    word = "й" * 30  # и + combining breve
    plan = layout(word, 60, load_font(None, 12), PAD)
    assert len(plan.lines) > 1
    assert all(not line.startswith("\u0306") for line in plan.lines)


def test_an_image_narrower_than_one_letter_gets_one_letter_per_line() -> None:
    result = captioned(photo(3, 5), text="abc")
    assert result.shape == (5 + 2 * PAD + 3 * line_height(), 3, 3)


def test_line_breaks_and_empty_lines_are_kept() -> None:
    image = photo(200, 30)
    result = captioned(image, text="first\n\nthird\r\nfourth")
    lh = line_height()
    assert result.shape[0] == 30 + 2 * PAD + 4 * lh
    band = ink(result[30:])
    line_has_ink = [band[PAD + i * lh : PAD + (i + 1) * lh].any() for i in range(4)]
    assert line_has_ink == [True, False, True, True]
    assert layout("end\n", 200, load_font(None, 12), PAD).lines == ("end", "")


def test_runs_of_spaces_and_tabs_are_one_space_and_controls_are_dropped() -> None:
    font = load_font(None, 12)
    assert layout("a  \t b\x00c\x07", 200, font, PAD).lines == ("a bc",)
    image = photo(100, 10)
    assert np.array_equal(captioned(image, text="a \x00 b"), captioned(image, text="a b"))


def test_whitespace_only_text_is_one_empty_line() -> None:
    image = photo(50, 10)
    result = captioned(image, text="   ")
    assert result.shape[0] == 10 + 2 * PAD + line_height()
    assert not result[10:].any()


def test_a_bigger_font_makes_a_taller_band() -> None:
    image = photo(400, 50)
    heights = {size: captioned(image, text="Size", size=size).shape[0] - 50 for size in (12, 24)}
    assert heights == {12: 2 * PAD + line_height(12), 24: 2 * PAD + line_height(24)}
    assert heights[24] > heights[12] + 10


def test_padding_surrounds_the_text() -> None:
    result = captioned(photo(120, 10), text="Padded", padding=10)
    band = ink(result[10:])
    assert band.shape[0] == 20 + line_height()
    rows, cols = np.nonzero(band)
    assert rows.min() >= 9 and cols.min() >= 9 and rows.max() < band.shape[0] - 9


def test_a_gray_image_stays_gray() -> None:
    image = photo(80, 20, seed=5)[..., 0].copy()
    result = captioned(image, text="Channels")
    assert result.ndim == 2
    assert np.array_equal(result[:20], image)
    assert ink(result[20:]).any()


@pytest.mark.parametrize("overlay", [False, True])
def test_an_image_with_alpha_is_laid_over_white_and_comes_back_opaque(overlay: bool) -> None:
    image = np.zeros((60, 80, 4), np.uint8)
    image[..., 2] = 255  # red hidden under transparent pixels
    image[10:20, 20:60] = (200, 100, 0, 255)  # an opaque blue block
    image[10:20, 60:70] = (200, 100, 0, 128)  # and a half-transparent one
    result = captioned(image, text="Alpha", overlay=overlay)
    assert result.ndim == 3 and result.shape[2] == 3
    assert (result[:5] == 255).all()  # the transparent part is white, its red not shown
    assert (result[10:12, 20:60] == (200, 100, 0)).all()
    assert (result[10:12, 60:70] == (227, 177, 127)).all()  # 128/255 of it over white
    band = result[60:] if not overlay else result[60 - 2 * PAD - line_height() :]
    assert np.array_equal(band[..., 0], band[..., 2]) and ink(band[..., 0]).any()


# --- overlay --------------------------------------------------------------------------------


def test_overlay_keeps_the_size_and_the_pixels_above_the_band() -> None:
    image = photo(160, 90, seed=6)
    result = captioned(image, text="Laid over the bottom", overlay=True)
    band_height = 2 * PAD + line_height()
    assert result.shape == image.shape
    assert np.array_equal(result[: 90 - band_height], image[: 90 - band_height])
    band = result[90 - band_height :]
    assert ink(band).any()
    assert np.array_equal(band[..., 0], band[..., 2])
    assert np.array_equal(band, captioned(image, text="Laid over the bottom")[90:])


def test_overlay_on_an_image_shorter_than_the_band_shows_its_top() -> None:
    image = photo(60, 12)
    result = captioned(image, text="one two three four", overlay=True)
    full = captioned(image, text="one two three four")[12:]
    assert result.shape == image.shape
    assert np.array_equal(result, full[:12])


# --- glyphs: Cyrillic is drawn, not boxes ---------------------------------------------------


def test_cyrillic_renders_real_glyphs_not_the_missing_glyph_box() -> None:
    font = load_font(None, 24)
    box = glyph(MISSING, font)
    shapes = {char: glyph(char, font) for char in CYRILLIC}
    assert all(shape != box for shape in shapes.values())
    assert len(set(shapes.values())) == len(CYRILLIC)  # each letter its own shape
    image = photo(300, 20)
    word = captioned(image, text="Привет", size=24)
    boxes = captioned(image, text=MISSING * 6, size=24)
    assert ink(word[20:]).any() and not np.array_equal(word, boxes)


def test_the_packaged_font_exists_and_has_cyrillic(bare_machine: None) -> None:
    """What a machine with only pip gets: the fontpkg-noto-sans file, with every letter."""
    path = fonts.packaged_font_file()
    assert path.is_file() and path.is_relative_to(SITE_PACKAGES)
    assert path.suffix == ".ttf" and "fontpkg_noto_sans" in path.parts
    font = ImageFont.truetype(str(path), 24)
    box = glyph(MISSING, font)
    letters = CYRILLIC + GREEK
    shapes = {glyph(char, font) for char in letters}
    assert box not in shapes and len(shapes) == len(letters)


# --- fonts ----------------------------------------------------------------------------------


def test_the_default_font_is_system_dejavu_or_the_packaged_one() -> None:
    path = Path(load_font(None, 12).path)
    assert path.name == "DejaVuSans.ttf" or path.is_relative_to(SITE_PACKAGES)


def test_without_system_fonts_the_default_comes_from_site_packages(bare_machine: None) -> None:
    font = load_font(None, 12)
    assert Path(font.path).is_relative_to(SITE_PACKAGES)
    assert font.getname()[0] == "Noto Sans"
    result = captioned(photo(200, 10), text="Привет, мир")
    assert result.shape[0] == 10 + 2 * PAD + line_height()


def test_load_font_is_cached() -> None:
    assert load_font(None, 12) is load_font(None, 12)
    assert load_font(None, 12) is not load_font(None, 13)


def test_a_family_name_resolves() -> None:
    # Noto Sans always (the package); DejaVu Sans wherever the system has it
    assert load_font("Noto Sans", 12).getname()[0] == "Noto Sans"
    assert load_font("noto-sans", 12).getname()[0] == "Noto Sans"
    if fonts.system_fonts(fonts.FONT_DIRS).get("dejavusans"):
        font = load_font("DejaVu Sans", 12)
        assert font.getname()[0] == "DejaVu Sans" and Path(font.path).name == "DejaVuSans.ttf"
        assert load_font("DejaVu Sans Bold", 12).getname() == ("DejaVu Sans", "Bold")


def test_a_font_path_is_used(tmp_path: Path) -> None:
    path = fonts.packaged_font_file()
    image = photo(120, 10)
    by_path = captioned(image, text="Путь", font=str(path))
    by_name = captioned(image, text="Путь", font="Noto Sans")
    assert np.array_equal(by_path, by_name)


def test_a_system_font_found_by_file_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "fonts" / "truetype" / "acme"
    folder.mkdir(parents=True)
    (folder / "AcmeSans-Regular.ttf").write_bytes(fonts.packaged_font_file().read_bytes())
    monkeypatch.setattr(fonts, "FONT_DIRS", (str(tmp_path / "fonts"),))
    assert Path(load_font("Acme Sans", 12).path).name == "AcmeSans-Regular.ttf"
    assert Path(load_font("acme_sans regular", 12).path).name == "AcmeSans-Regular.ttf"


@pytest.mark.parametrize(
    ("font", "message"),
    [
        ("/no/such/dir/Missing.ttf", "font file '/no/such/dir/Missing.ttf' does not exist"),
        ("Missing.otf", "font file 'Missing.otf' does not exist"),
        ("/etc/hostname", "font '/etc/hostname' is not a font file"),
        ("/dev/zero", "font '/dev/zero' is not a font file"),
        ("~no-such-user/Font.ttf", "font file '~no-such-user/Font.ttf' does not exist"),
        ("/tmp/nul\x00.ttf", "font file '/tmp/nul\\x00.ttf' does not exist"),
        ("No Such Family 42", "font 'No Such Family 42' was not found"),
    ],
)
def test_an_unknown_font_is_refused_by_name(font: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        load_font(font, 12)
    assert caught.value.detail.startswith(message)
    assert caught.value.status_code == 422
    with pytest.raises(InvalidParameter, match="font"):
        caption(photo(10, 10), CaptionParams(text="x", font=font))


def test_a_file_that_is_not_a_font_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font at all")
    with pytest.raises(InvalidParameter, match="is not a TrueType or OpenType font"):
        load_font(str(fake), 12)


# --- parameters and the pipeline ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"text": ""},
        {"text": "x" * (MAX_TEXT_CHARS + 1)},
        {"text": "x", "size": 3},
        {"text": "x", "size": 513},
        {"text": "x", "padding": -1},
        {"text": "x", "colour": "red"},
    ],
)
def test_bad_params_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CaptionParams.model_validate(raw)


def test_params_are_frozen() -> None:
    params = CaptionParams(text="x")
    with pytest.raises(ValidationError):
        params.text = "y"  # type: ignore[misc]
    assert (params.size, params.padding, params.overlay, params.font) == (12, PAD, False, None)


PLANNED = [
    ("caption=Hello world", (50, 30), 3),
    ({"op": "caption", "text": "Привет " * 20, "size": 20}, (64, 20), 3),
    ({"op": "caption", "text": "x" * 200, "size": 512}, (7, 3), 1),
    ({"op": "caption", "text": "over\nthe\nbottom", "overlay": True}, (40, 10), 4),
    ({"op": "caption", "text": "below", "overlay": False}, (40, 10), 4),
    ({"op": "caption", "text": "a\n\nb", "padding": 0, "font": "Noto Sans"}, (30, 8), 3),
]


@pytest.mark.parametrize(("item", "size", "channels"), PLANNED)
def test_plan_predicts_the_size_run_makes(
    item: str | dict[str, Any], size: tuple[int, int], channels: int
) -> None:
    image = photo(*size)
    image = image[..., 0].copy() if channels == 1 else image
    if channels == 4:
        image = np.dstack([image, image[..., 0]])
    before = image.copy()
    steps = pipeline.parse([item, "split"])
    planned = pipeline.plan(steps, size_of(image), max_pixels=10**8)
    results = pipeline.run(steps, [image])
    assert planned == [size_of(result) for result in results]
    assert np.array_equal(image, before)


def test_plan_refuses_an_unknown_font_before_any_pixel() -> None:
    steps = pipeline.parse([{"op": "caption", "text": "x", "font": "Nope Sans"}])
    with pytest.raises(InvalidParameter, match=r"operation 1 \(caption\): font 'Nope Sans'"):
        pipeline.plan(steps, (100, 100), max_pixels=10**6)


def test_plan_refuses_a_band_over_the_pixel_limit() -> None:
    steps = pipeline.parse([{"op": "caption", "text": "x" * 200, "size": 512}])
    with pytest.raises(InvalidParameter, match="the limit is"):
        pipeline.plan(steps, (2, 2), max_pixels=10_000)
