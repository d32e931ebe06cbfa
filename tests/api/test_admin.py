"""`/api/admin`: dead letters through HTTP, and the dashboard's data, on a running app whose
services run in it (embedded, and on Redis).

Jobs die for a real reason: the caption font is a file that is not a font (a bad deploy),
until the test copies a real font over it and requeues them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.imaging.fonts import default_font_file
from tests.images import encode, photo
from tests.jobs.waiting import wait_until
from tests.redis_server import SHARED_REDIS_URL

KEY = "admin-key"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def app(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[TestClient]:
    (tmp_path / "font.ttf").write_bytes(b"not a font at all")
    overrides: dict[str, Any] = {
        "caption_font": str(tmp_path / "font.ttf"),
        "max_deliveries": 2,
        # Only a job held this long is taken over by another consumer (one more delivery):
        # long enough that a loaded machine's slow job is not, since the letters' delivery
        # counts are asserted. Embedded retries are immediate; on Redis they wait this long.
        "claim_idle_ms": 5000,
        "api_keys": KEY,
        "process_workers": 1,
        "thread_workers": 1,
    }
    if request.param == "redis":
        overrides |= {
            "redis_url": SHARED_REDIS_URL,
            "redis_prefix": request.getfixturevalue("redis_prefix"),
            "run_workers": True,
            "claim_idle_ms": 500,
        }
    with TestClient(create_app(make_settings(**overrides)), headers=AUTH) as client:
        yield client


def upload(client: TestClient, description: str) -> str:
    image = encode(photo(64, 48, seed=len(description)), ".jpg")
    answer = client.post(
        "/api/images",
        files={"image": ("p.jpg", image, "image/jpeg")},
        data={"description": description},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def item(client: TestClient, id: str) -> dict[str, Any]:
    [found] = [i for i in client.get("/api/images?limit=1000").json() if i["id"] == id]
    return found


def letters(client: TestClient, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/admin/dead-letters", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_dead_letter_is_listed_shown_and_requeued_to_stored(
    app: TestClient, tmp_path: Path
) -> None:
    ids = [upload(app, "first"), upload(app, "second")]
    wait_until(lambda: all(item(app, id)["status"] == "failed" for id in ids), "two failures")
    wait_until(lambda: letters(app)["counts"]["captions:in"] == 2, "two dead letters")

    listing = letters(app, stream="captions:in")
    # oldest first: in the order they died, which retries may make other than the uploads'
    assert sorted(letter["job_id"] for letter in listing["letters"]) == sorted(ids)
    dead_at = [letter["last_failure"] for letter in listing["letters"]]
    assert dead_at == sorted(dead_at)
    [letter] = [letter for letter in listing["letters"] if letter["job_id"] == ids[0]]
    assert letter["fields"]["image"] == {
        "bytes": letter["fields"]["image"]["bytes"],
        "kind": "jpeg",
    }
    assert letter["fields"]["description"] == "first" and letter["deliveries"] == 2
    assert "not a TrueType or OpenType font" in letter["reason"]
    assert letter["first_failure"] <= letter["last_failure"]
    assert len(json.dumps(listing)) < 3000  # no image bytes
    path = f"/api/admin/dead-letters/captions:in/{letter['id']}"
    assert app.get(path).json() == letter

    shutil.copyfile(default_font_file(), tmp_path / "font.ttf")  # the deploy is fixed
    requeued = app.post(path + "/requeue")
    assert requeued.status_code == 200, requeued.text
    assert requeued.json()["id"] == letter["id"] and requeued.json()["message_id"]
    assert app.post(path + "/requeue").status_code == 404  # it runs once
    wait_until(lambda: item(app, ids[0])["status"] == "stored", "the requeued job stored")
    image = app.get(f"/api/images/{ids[0]}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:3] == b"\xff\xd8\xff"
    assert item(app, ids[1])["status"] == "failed"

    other = f"/api/admin/dead-letters/captions:in/{letters(app)['letters'][0]['id']}"
    assert app.delete(other).status_code == 204
    assert app.get(other).status_code == 404
    assert letters(app)["counts"] == {"captions:in": 0, "captions:out": 0, "faces:in": 0}
    assert app.post("/api/admin/dead-letters/requeue").json() == {"count": 0}
    assert app.delete("/api/admin/dead-letters").json() == {"count": 0}


def test_requeue_all_of_a_stream(app: TestClient, tmp_path: Path) -> None:
    ids = [upload(app, f"job {i}") for i in range(3)]
    wait_until(lambda: letters(app)["counts"]["captions:in"] == 3, "three dead letters")
    shutil.copyfile(default_font_file(), tmp_path / "font.ttf")

    answer = app.post("/api/admin/dead-letters/requeue", params={"stream": "captions:in"})
    assert answer.json() == {"count": 3}
    wait_until(lambda: all(item(app, id)["status"] == "stored" for id in ids), "all stored")
    assert letters(app)["letters"] == []


def test_unknown_streams_and_ids_are_404_with_a_detail(app: TestClient) -> None:
    for method, path in [
        ("GET", "/api/admin/dead-letters?stream=jobs"),
        ("GET", "/api/admin/dead-letters/jobs/1-0"),
        ("GET", "/api/admin/dead-letters/captions:in/1-0"),
        ("GET", "/api/admin/dead-letters/captions:in/not-an-id"),
        ("POST", "/api/admin/dead-letters/faces:in/1-0/requeue"),
        ("POST", "/api/admin/dead-letters/requeue?stream=nope"),
        ("DELETE", "/api/admin/dead-letters/captions:out/99999999999999999999-0"),
        ("DELETE", "/api/admin/dead-letters?stream=nope"),
    ]:
        answer = app.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "no dead letter" in answer.json()["detail"] or "no stream" in answer.json()["detail"]
    assert app.get("/api/admin/dead-letters?limit=0").status_code == 422


def test_the_admin_routes_need_the_key(app: TestClient) -> None:
    keyless = app
    del keyless.headers["X-API-Key"]
    for method, path in [
        ("GET", "/api/admin/dead-letters"),
        ("GET", "/api/admin/status"),
        ("POST", "/api/admin/dead-letters/requeue"),
        ("DELETE", "/api/admin/dead-letters"),
    ]:
        assert keyless.request(method, path).status_code == 401
        assert keyless.request(method, path, headers={"X-API-Key": "wrong"}).status_code == 401
    assert keyless.get("/ui/status").status_code == 200  # the page is public; its data is not


def test_status_reports_queues_jobs_latencies_and_workers(app: TestClient, tmp_path: Path) -> None:
    shutil.copyfile(default_font_file(), tmp_path / "font.ttf")
    ids = [upload(app, f"ok {i}") for i in range(3)]
    wait_until(lambda: all(item(app, id)["status"] == "stored" for id in ids), "all stored")

    def counted() -> dict[str, Any] | None:  # on Redis, workers write their totals each second
        status: dict[str, Any] = app.get("/api/admin/status").json()
        done = {s["service"]: s["totals"]["done"] for s in status["services"]}
        return status if done["captioner"] >= 3 and done["storer"] >= 3 else None

    status = wait_until(counted, "the jobs counted")
    assert {q["stream"] for q in status["queues"]} == {"captions:in", "captions:out", "faces:in"}
    assert all(q["depth"] == 0 and q["dead"] == 0 for q in status["queues"])
    services = {s["service"]: s for s in status["services"]}
    assert services["captioner"]["totals"]["done"] >= 3
    assert services["storer"]["totals"]["done"] >= 3
    assert services["captioner"]["workers"], "a captioner alive"
    assert services["captioner"]["workers"][0]["seconds_ago"] >= 0
    routes = {r["route"]: r for r in status["routes"]}
    accepted = routes["POST /api/images"]
    assert accepted["requests"] == 3
    assert 0 < accepted["p50_ms"] <= accepted["p95_ms"] <= accepted["p99_ms"]
    assert status["mode"] in ("embedded", "redis")
    assert set(status["history"]) >= {"t", "depth", "jobs_per_second", "latency_p95_ms"}
