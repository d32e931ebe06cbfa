"""The API docs pages name no other host, and every file they load is served here, keyless."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings

PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect"]
URL = re.compile(r"""https?://[^\s"'<>`)]+""")
LOADED = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)\"""")
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app with API keys on; none is ever sent here."""
    root = tmp_path_factory.mktemp("keyed")
    settings = Settings(
        data_dir=root / "data",
        results_dir=root / "results",
        process_workers=1,
        thread_workers=1,
        api_keys="a-key-never-sent",
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", PAGES)
def test_a_docs_page_names_no_other_host(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert URL.findall(response.text) == []


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_every_file_a_docs_page_loads_is_served_here_without_a_key(
    keyed: TestClient, path: str
) -> None:
    page = keyed.get(path)
    assert page.status_code == 200
    loaded = LOADED.findall(page.text)
    assert {url.rsplit(".", 1)[-1] for url in loaded} >= {"js"}, loaded
    for url in loaded:
        assert url.startswith("/"), url
        answer = keyed.get(url)
        assert answer.status_code == 200, url
        media_type = MEDIA_TYPES["." + url.rsplit(".", 1)[-1]]
        assert answer.headers["content-type"].startswith(media_type), url
        assert len(answer.content) > 300, url
    assert keyed.get("/openapi.json").status_code == 200  # what the pages then ask for


def test_the_redoc_script_is_cached_by_its_etag(client: TestClient) -> None:
    first = client.get("/docs/static/redoc.standalone.js")
    assert first.status_code == 200
    again = client.get(
        "/docs/static/redoc.standalone.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_the_docs_pages_follow_a_root_path(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings()), root_path="/pixelmill") as client:
        page = client.get("/docs").text
    assert '"/pixelmill/docs/static/swagger-ui-bundle.js"' in page
    assert "'/pixelmill/openapi.json'" in page
