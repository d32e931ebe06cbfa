"""Fonts for captions, found on this machine: nothing is ever downloaded.

`load_font(font, size)` resolves `font` in this order:

    a path (holds a "/" or ends in .ttf .otf .ttc .otc)  that file; missing or unreadable
                                                         -> InvalidParameter naming it
    a family name ("DejaVu Sans", "Noto Sans Bold")       a font file of that name in the
                                                         system font folders, else a family
                                                         installed with fontpkg; neither
                                                         -> InvalidParameter naming it
    None (or blank)                                      DejaVu Sans from the system font
                                                         folders, else Noto Sans from the
                                                         fontpkg-noto-sans package

The last step is why pixelmill depends on fontpkg-noto-sans: a machine with nothing but pip
still draws Latin, Greek and Cyrillic. Family names are matched on file names, ignoring
case, spaces, hyphens and underscores, and a "Regular"/"Book" suffix or a variable font's
"[wght]" axes ("DejaVu Sans" -> DejaVuSans.ttf, "Noto Sans" -> NotoSans-Regular.ttf). The
folders are read once per process, so a font installed later is seen after a restart.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from pixelmill.errors import InvalidParameter, PixelmillError

FONT_SUFFIXES = frozenset({".ttf", ".otf", ".ttc", ".otc"})
FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
)
DEFAULT_FAMILY = "DejaVu Sans"
PACKAGED_FAMILY = "Noto Sans"  # shipped by fontpkg-noto-sans, a dependency
_STYLE_SUFFIX = re.compile(r"(regular|book|roman)$")


@lru_cache(maxsize=64)
def load_font(font: str | None, size: int) -> ImageFont.FreeTypeFont:
    """The font `font` names (a path or a family name; None: the default) at `size` pixels.

    Cached: workers call it for every message. One FreeTypeFont may be shared by threads,
    because Pillow holds the GIL (or, free-threaded, a lock) around each use of its face.
    """
    path = font_file(font)
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        raise InvalidParameter(
            f"font {_quoted(font or str(path))} is not a TrueType or OpenType font Pillow can read"
        ) from None


def font_file(font: str | None) -> Path:
    """The file `load_font` would open for `font`; see the module docstring for the order."""
    if font is None or not font.strip():
        return default_font_file()
    if _is_path(font):
        return _checked_path(font)
    found = find_family(font)
    if found is None:
        raise InvalidParameter(
            f"font {_quoted(font)} was not found: give a font file's path (.ttf, .otf, .ttc, "
            f"or .otc) or the name of an installed family, such as {DEFAULT_FAMILY!r} "
            f"or {PACKAGED_FAMILY!r}"
        )
    return found


def default_font_file() -> Path:
    """DejaVu Sans from the system, else the Noto Sans that pixelmill's dependencies ship."""
    system = system_fonts(_font_dirs()).get(_key(DEFAULT_FAMILY))
    return system if system is not None else packaged_font_file()


def packaged_font_file() -> Path:
    """Noto Sans (regular) from the fontpkg-noto-sans package."""
    found = _fontpkg_family(PACKAGED_FAMILY)
    if found is None:
        raise PixelmillError(
            "no caption font: DejaVu Sans is not installed and neither is the "
            "fontpkg-noto-sans package that pixelmill depends on (reinstall pixelmill)"
        )
    return found


def find_family(name: str) -> Path | None:
    """A font file of the family `name`: the system font folders first, then fontpkg."""
    return system_fonts(_font_dirs()).get(_key(name)) or _fontpkg_family(name)


@lru_cache(maxsize=4)
def system_fonts(dirs: tuple[str, ...]) -> dict[str, Path]:
    """Font files under `dirs`, by family key; the first folder (then path order) wins."""
    found: dict[str, Path] = {}
    plain: dict[str, Path] = {}  # "notosansregular" is also reachable as "notosans"
    for folder in dirs:
        for root, subdirs, files in os.walk(os.path.expanduser(folder)):
            subdirs.sort()
            for name in sorted(files):
                path = Path(root, name)
                if path.suffix.lower() not in FONT_SUFFIXES:
                    continue
                key = _key(path.stem)
                found.setdefault(key, path)
                plain.setdefault(_STYLE_SUFFIX.sub("", key), path)
    return {**plain, **found}


def _font_dirs() -> tuple[str, ...]:
    # read at call time, so tests can point it at an empty folder (a machine without fonts)
    return FONT_DIRS


def _fontpkg_family(name: str) -> Path | None:
    try:
        import fontpkg

        return Path(fontpkg.path(name))
    # not installed, no such family (FamilyNotInstalled is a LookupError), or a broken
    # font package's metadata
    except (ImportError, LookupError, ValueError, OSError):
        return None


def _is_path(font: str) -> bool:
    return "/" in font or os.sep in font or Path(font).suffix.lower() in FONT_SUFFIXES


def _checked_path(font: str) -> Path:
    path = Path(os.path.expanduser(font))  # an unknown ~user is left as it is, not an error
    # Only font files: the parameter can come from a client, and must not open /dev/zero,
    # a FIFO or any other file on its behalf.
    if path.suffix.lower() not in FONT_SUFFIXES:
        raise InvalidParameter(
            f"font {_quoted(font)} is not a font file: the name must end in "
            + ", ".join(sorted(FONT_SUFFIXES))
        )
    if not path.is_file():
        raise InvalidParameter(f"font file {_quoted(font)} does not exist")
    return path


def _key(name: str) -> str:
    """ "DejaVu Sans" and "DejaVuSans" -> "dejavusans"; "NotoSans[wdth,wght]" -> "notosans"."""
    return re.sub(r"[\s_\-]+", "", re.sub(r"\[.*?\]", "", name).casefold())


def _quoted(text: str, limit: int = 120) -> str:
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 1] + "…"
