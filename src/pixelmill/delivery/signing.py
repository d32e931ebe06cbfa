"""Signed delivery URLs: `/img/{signature}/{options}/{source}` and `/info/{signature}/{source}`.

The signature is base64url, without padding, of HMAC-SHA256(key, `{options}/{source}`) (for
`/info`: over `info/{source}`). Any key of `PIXELMILL_URL_KEYS` verifies one, so keys can be
rotated: put the new key first (it signs), keep the old one after it until the URLs it signed
are gone from pages and caches. Comparisons run in constant time, against every key. The word
`unsafe` stands in for a signature only when `PIXELMILL_URL_UNSAFE=true`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from pixelmill.errors import Forbidden

UNSAFE = "unsafe"


def sign(key: str, signed: str) -> str:
    """The signature of the text `signed` (`{options}/{source}`) under `key`."""
    digest = hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(keys: Sequence[str], signature: str, signed: str, *, unsafe: bool = False) -> None:
    """Return when `signature` signs `signed` under one of `keys`; Forbidden otherwise."""
    if signature == UNSAFE:
        if unsafe:
            return
        raise Forbidden(
            "unsigned ('unsafe') URLs are refused; sign the URL (pixelmill url, POST /v1/urls) "
            "or set PIXELMILL_URL_UNSAFE=true in development"
        )
    if not keys:
        raise Forbidden("no URL signing key is configured (PIXELMILL_URL_KEYS)")
    given = signature.encode("ascii", "replace")
    # every key is tried, so the time taken does not tell which one came close
    matches = [hmac.compare_digest(given, sign(key, signed).encode()) for key in keys]
    if not any(matches):
        raise Forbidden("wrong signature for this URL")


def image_path(key: str, options: str, source: str) -> str:
    """The signed path of an image: `/img/{signature}/{options}/{source}`."""
    options = options.strip() or "_"
    return f"/img/{sign(key, f'{options}/{source}')}/{options}/{source}"


def info_path(key: str, source: str) -> str:
    """The signed path of an image's facts: `/info/{signature}/{source}`."""
    return f"/info/{sign(key, f'info/{source}')}/{source}"


# What the web UI's galleries show: a thumbnail in the browser's best format, at 1x and 2x
THUMBNAIL = "fit=320x240:inside"


def gallery(keys: Sequence[str], source: str) -> dict[str, str] | None:
    """Signed paths a gallery shows `source` (`captions/<id>`, `faces/<id>`) with: `src`
    (1x), `srcset` (1x and 2x, `format=auto`) and `full` (the image as stored); None when
    the server has no URL key."""
    if not keys:
        return None
    one = image_path(keys[0], f"{THUMBNAIL},format=auto", source)
    two = image_path(keys[0], f"{THUMBNAIL},dpr=2,format=auto", source)
    return {"src": one, "srcset": f"{one} 1x, {two} 2x", "full": image_path(keys[0], "_", source)}
