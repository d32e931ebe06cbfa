"""The web UI's pages: `GET /` (OCR) and `/ui/<surface>`; left out of the OpenAPI schema.

Each page is a form that posts to its API route as it is, so it works without JavaScript;
its script (web/static/<page>.js) sends the same form with the API key, shows progress and
renders the answer in place.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pixelmill.api.deps import SettingsDep
from pixelmill.imaging.registry import OPERATIONS
from pixelmill.web import templates

router = APIRouter(include_in_schema=False)

# The pages load nothing from elsewhere; the policy makes the browser hold them to it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

OCR_LANGUAGES = [("eng", "English"), ("rus", "Russian"), ("eng+rus", "English + Russian")]

# The Transform page's operation chips: the step a click adds to the chain, and what it does.
TRANSFORM_CHIPS = [
    ("resize=0.5", "half the width and the height"),
    ("fit=300x200:cover:face", "fill a 300×200 box, keeping the faces in it"),
    ("fit=300x200:contain", "fit inside 300×200, the rest letterboxed"),
    ("crop=200x100+10+20", "cut out 200×100 from x 10, y 20"),
    ("rotate=90", "a quarter turn clockwise"),
    ("flip=horizontal", "mirror left to right"),
    ("grayscale", "shades of gray"),
    ("blur=5", "Gaussian blur over 5 pixels"),
    ("sharpen=1", "crisper edges (unsharp mask)"),
    ("brightness=40", "40 levels brighter"),
    ("contrast=1.5", "half as much contrast again"),
    ("threshold=128", "black and white at mid-gray"),
    ("split", "four quadrants, answered as a ZIP"),
    ("format=webp", "answer as WebP"),
    ("quality=80", "JPEG, WebP or AVIF quality 80"),
]


def _page(
    request: Request, settings: SettingsDep, template: str, page: str, status_code: int = 200
) -> HTMLResponse:
    response = templates().TemplateResponse(
        request,
        template,
        {
            "page": page,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_upload_mib": settings.max_upload_bytes / (1024 * 1024),
            "max_description_chars": settings.max_description_chars,
            "max_collage_images": settings.max_collage_images,
            "languages": OCR_LANGUAGES,
            "operations": sorted(OPERATIONS),
            "chips": TRANSFORM_CHIPS,
        },
        status_code=status_code,
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/", response_class=HTMLResponse)
async def ocr_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Read text from an image: the upload form of `POST /ocr`."""
    return _page(request, settings, "ocr.html", "ocr")


@router.get("/ui/collage", response_class=HTMLResponse)
async def collage_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Two or more images to a collage with `POST /process`."""
    return _page(request, settings, "collage.html", "collage")


@router.get("/ui/captions", response_class=HTMLResponse)
async def captions_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Upload with a description to `POST /api/images`; the gallery of `GET /api/images`."""
    return _page(request, settings, "captions.html", "captions")


@router.get("/ui/faces", response_class=HTMLResponse)
async def faces_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Upload to `POST /api/v1/images`; the live feed of the websocket `/faces`."""
    return _page(request, settings, "faces.html", "faces")


@router.get("/ui/transform", response_class=HTMLResponse)
async def transform_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """One image through a chain of operations with `POST /v1/transform`."""
    return _page(request, settings, "transform.html", "transform")


@router.get("/ui/status", response_class=HTMLResponse)
async def status_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The operations dashboard: `GET /api/admin/status` live, and the dead letters to act on."""
    return _page(request, settings, "status.html", "status")


# Keep this route the last of the module: it answers every /ui/ path no route above took.
@router.get("/ui/{rest:path}", response_class=HTMLResponse)
async def not_found_page(request: Request, settings: SettingsDep, rest: str) -> HTMLResponse:
    """An unknown UI page: a page that says so and leads back (status 404), not raw JSON."""
    return _page(request, settings, "not_found.html", "", status_code=404)
