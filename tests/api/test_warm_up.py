"""The router's warm-up at start-up (api/warm.py) leaves no trace a user would see: no request
in the metrics, no line in the log, and the service answers as before."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.images import encode, photo


def test_warm_up_is_not_a_request(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    app = create_app(settings)
    with TestClient(app) as client:
        metrics = client.get("/metrics").text
        response = client.post(
            "/v1/transform",
            files={"file": ("a.png", encode(photo(40, 30)))},
            data={"ops": "resize=0.5"},
        )
    assert response.status_code == 200
    assert "warm-up" not in metrics
    assert 'status="404"' not in metrics
    log = (settings.data_dir / "logs" / "pixelmill.log").read_text()
    assert "pools ready" in log  # the log of this start
    assert "warm-up" not in log and "404" not in log
