"""Signatures: good, bad, truncated, rotated keys, `unsafe` off and on; `pixelmill url` and
`POST /v1/urls` make URLs the server takes."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.cli import main
from pixelmill.delivery import signing
from tests.delivery.conftest import KEYS, decode, delivery_settings, signed


def test_a_good_signature_is_served(client: TestClient) -> None:
    response = client.get(signed("resize=0.5", "local/photos/cat.png"))
    assert response.status_code == 200, response.text
    assert decode(response.content).shape[:2] == (60, 80)


def test_the_old_key_still_verifies_after_rotation(client: TestClient) -> None:
    response = client.get(signed("resize=0.5", "local/photos/cat.png", key=KEYS[1]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        signed("resize=0.5", "local/photos/cat.png", key="retired-key"),
        signed("resize=0.5", "local/photos/cat.png")[:20]
        + "/resize=0.5/local/photos/cat.png",  # truncated
        signed("resize=0.5", "local/photos/cat.png").replace("resize=0.5", "resize=0.25"),
        signed("resize=0.5", "local/photos/cat.png").replace("cat.png", "cat.jpg"),
        "/img/unsafe/resize=0.5/local/photos/cat.png",
        "/img/-/resize=0.5/local/photos/cat.png",
    ],
    ids=["unknown-key", "truncated", "other-options", "other-source", "unsafe-off", "missing"],
)
def test_a_wrong_signature_is_403(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 403
    assert response.json()["detail"]


def test_unsafe_is_served_when_allowed(tmp_path: Path) -> None:
    settings = delivery_settings(tmp_path, url_keys="", url_unsafe=True)
    (settings.files_root_path).mkdir(parents=True)
    from tests.delivery.conftest import PHOTO
    from tests.images import encode

    (settings.files_root_path / "a.png").write_bytes(encode(PHOTO))
    with TestClient(create_app(settings)) as client:
        assert client.get("/img/unsafe/_/local/a.png").status_code == 200
        # with no key configured, a signature cannot verify, and nothing is signed
        assert client.get(signed("_", "local/a.png")).status_code == 403
        refused = client.post("/v1/urls", json=[{"source": "local/a.png"}])
        assert refused.status_code == 403
        assert "PIXELMILL_URL_KEYS" in refused.json()["detail"]


def test_signatures_are_base64url_of_hmac_sha256() -> None:
    # RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?")
    assert signing.sign("Jefe", "what do ya want for nothing?") == (
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM"  # the RFC's hex, base64url
    )


def test_pixelmill_url_prints_a_path_the_server_takes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIXELMILL_URL_KEYS", ",".join(KEYS))
    assert main(["url", "resize=0.5,grayscale", "local/photos/cat.png"]) == 0
    path = capsys.readouterr().out.strip()
    response = client.get(path)
    assert response.status_code == 200
    assert decode(response.content).ndim == 2  # gray


def test_pixelmill_url_refuses_a_bad_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIXELMILL_URL_KEYS", "k")
    assert main(["url", "resize=9999", "local/a.png"]) == 2
    assert "resize" in capsys.readouterr().err


def test_v1_urls_signs_a_list(client: TestClient) -> None:
    body = [
        {"options": "resize=0.5", "source": "local/photos/cat.png"},
        {"source": "local/photos/cat.jpg"},
    ]
    response = client.post("/v1/urls", json=body)
    assert response.status_code == 200, response.text
    paths = [item["path"] for item in response.json()]
    assert paths[1].startswith("/img/") and "/_/local/photos/cat.jpg" in paths[1]
    for path in paths:
        assert client.get(path).status_code == 200


def test_v1_urls_refuses_bad_options_and_sources(client: TestClient) -> None:
    bad_option = client.post("/v1/urls", json=[{"options": "nosuchop", "source": "local/a.png"}])
    assert bad_option.status_code == 422
    assert "nosuchop" in bad_option.json()["detail"]
    bad_source = client.post("/v1/urls", json=[{"options": "_", "source": "ftp/a.png"}])
    assert bad_source.status_code == 422


def test_v1_urls_is_behind_api_keys_and_img_is_not(tmp_path: Path) -> None:
    settings = delivery_settings(tmp_path, api_keys="api-key")
    settings.files_root_path.mkdir(parents=True)
    from tests.delivery.conftest import PHOTO
    from tests.images import encode

    (settings.files_root_path / "a.png").write_bytes(encode(PHOTO))
    with TestClient(create_app(settings)) as client:
        body = [{"source": "local/a.png"}]
        assert client.post("/v1/urls", json=body).status_code == 401
        response = client.post("/v1/urls", json=body, headers={"X-API-Key": "api-key"})
        assert response.status_code == 200
        # the signed URL is its own authorization: an <img> sends no key
        assert client.get(response.json()[0]["path"]).status_code == 200
