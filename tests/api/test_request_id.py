"""`X-Request-ID`: echoed when sane, made when not, and in the log lines of the request."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings


@pytest.fixture
def logged(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings()
    app = create_app(settings)

    @app.get("/test-logs")
    def test_logs() -> dict[str, str]:
        logging.getLogger("pixelmill.test").warning("inside the request")
        return {}

    @app.get("/test-bug")
    def test_bug() -> dict[str, str]:
        raise RuntimeError("a bug in a route")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, settings


def test_a_sane_id_is_echoed(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123.X_y"})
    assert response.headers["x-request-id"] == "abc-123.X_y"


@pytest.mark.parametrize("given", [None, "has space", "a" * 129, "semi;colon", ""])
def test_an_id_is_made_when_none_or_not_sane(client: TestClient, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/health", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_errors_carry_an_id_too(client: TestClient) -> None:
    response = client.get("/no/such/page", headers={"X-Request-ID": "lost-1"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "lost-1"


def test_the_log_lines_of_a_request_hold_its_id(logged: tuple[TestClient, Settings]) -> None:
    client, settings = logged
    response = client.get("/test-logs", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 200
    logging.getLogger("pixelmill.test").warning("outside any request")
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = settings.log_path.read_text().splitlines()
    assert any("[trace-42]" in line and "inside the request" in line for line in lines)
    assert any("[-]" in line and "outside any request" in line for line in lines)


def test_a_bug_answers_500_with_the_id_of_the_log_line_that_holds_its_traceback(
    logged: tuple[TestClient, Settings],
) -> None:
    client, settings = logged
    response = client.get("/test-bug", headers={"X-Request-ID": "bug-7"})

    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; it has been logged"}
    assert response.headers["x-request-id"] == "bug-7"
    assert "Traceback" not in response.text and "a bug in a route" not in response.text
    for handler in logging.getLogger().handlers:
        handler.flush()
    log = settings.log_path.read_text()
    [line] = [line for line in log.splitlines() if "unhandled error in GET /test-bug" in line]
    assert "[bug-7]" in line
    assert "RuntimeError: a bug in a route" in log
