"""The API docs, `/docs` (Swagger UI) and `/redoc`, with every file served by this process.

FastAPI's own pages load Swagger UI, ReDoc, Google Fonts and a favicon from other hosts, so on
a machine without internet they are blank. Here the pages are FastAPI's documented
self-hosting recipe: the JavaScript and CSS come from the fastapi-offline wheel, mounted at
`/docs/static/`, and the favicon is the UI's own. ReDoc's bundle has one address of its own
built in, the Redocly logo under its menu; it is served with that address blanked, so the
logo is left out (ReDoc hides an image that fails) instead of fetched.

    GET /docs                   Swagger UI
    GET /docs/oauth2-redirect   Swagger UI's OAuth2 helper page
    GET /redoc                  ReDoc
    GET /docs/static/<file>     swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/static"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
FAVICON_URL = "/static/favicon.svg"
# validatorUrl: Swagger UI would otherwise send the document to validator.swagger.io
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=1)
def redoc_bundle() -> tuple[bytes, str]:
    """ReDoc's script with its logo's address blanked, and its ETag (read once)."""
    script = (ASSETS_DIR / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b"")
    return script, '"' + hashlib.sha256(script).hexdigest()[:32] + '"'


def install_docs(app: FastAPI) -> None:
    """Add the docs pages and their files to `app`, built with `docs_url=redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        prefix = root(request)
        return get_swagger_ui_html(
            openapi_url=prefix + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=prefix + OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{prefix}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=prefix + FAVICON_URL,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        prefix = root(request)
        return get_redoc_html(
            openapi_url=prefix + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{prefix}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=prefix + FAVICON_URL,
            with_google_fonts=False,
        )

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_script(request: Request) -> Response:
        script, etag = redoc_bundle()
        headers = {"ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(script, media_type="text/javascript", headers=headers)

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-static")
