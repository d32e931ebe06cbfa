"""The mixed load on the cluster, and what every client saw.

Clients, all in the `cli` namespace, through the balancer unless said:
    captions   POST /api/images, description "cluster <token>"       (every answer recorded)
    faces      POST /api/v1/images, file "<token>.jpg"                (every answer recorded)
    delivery   GET a signed /img/... of a stored caption              (idempotent: safe to retry)
    transform  POST /v1/transform                                     (nothing kept: safe to retry)
    websocket  /faces on api1 and on api2 directly (two clients each): every frame, the close code
    observer   a subscription straight on Redis's `faces` channel: when each event was published

A token names one attempt; the token's rows and files in the end say what became of it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio
import websockets

from pixelmill.delivery import signing
from tests.images import astronaut, encode, photo

CAPTION_IMAGES = [encode(photo(160 + 8 * i, 120, seed=i), ".jpg") for i in range(4)]
FACE_IMAGE = encode(astronaut()[::2, ::2].copy(), ".jpg", quality=90)
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass
class Attempt:
    kind: str  # captions, faces
    token: str
    started: float
    status: int | None = None  # None: no HTTP answer (error says what)
    error: str | None = None
    id: str | None = None
    phase: str = ""


@dataclass
class Session:
    host: str
    opened: float
    ids: dict[str, float] = field(default_factory=dict)
    closed: float | None = None
    code: int | None = None
    reason: str = ""


@dataclass
class Load:
    url: str
    api_urls: dict[str, str]
    redis_url: str
    url_key: str
    phase: str = "start"
    attempts: list[Attempt] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    published: dict[str, float] = field(default_factory=dict)  # event id -> seen on Redis
    reads: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (phase, kind, outcome)
    stored_ids: list[str] = field(default_factory=list)
    running: bool = True
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def token(self, kind: str) -> str:
        return f"{kind[0]}{next(self._tokens):06d}"

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        async with httpx.AsyncClient(base_url=self.url, timeout=TIMEOUT, limits=limits) as client:
            tasks = [
                self._captions(client, 0),
                self._captions(client, 1),
                self._faces(client),
                self._delivery(client),
                self._transform(client),
                self._observer(),
                *(
                    self._websocket(host, url)
                    for host, url in self.api_urls.items()
                    for _ in range(2)
                ),
            ]
            await asyncio.gather(*tasks)

    async def _post(
        self, client: httpx.AsyncClient, kind: str, path: str, **kwargs: Any
    ) -> Attempt:
        attempt = Attempt(kind, self.token(kind), time.time(), phase=self.phase)
        self.attempts.append(attempt)
        files, data = kwargs["make"](attempt.token)
        try:
            response = await client.post(path, files=files, data=data)
            attempt.status = response.status_code
            if response.status_code in (201, 202):
                attempt.id = str(response.json()["id"])
            elif response.status_code >= 500:
                attempt.error = response.text[:200]
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        return attempt

    async def _captions(self, client: httpx.AsyncClient, n: int) -> None:
        def make(token: str) -> tuple[dict[str, Any], dict[str, str]]:
            image = CAPTION_IMAGES[int(token[1:]) % len(CAPTION_IMAGES)]
            return {"image": (f"{token}.jpg", image, "image/jpeg")}, {
                "description": f"cluster {token}"
            }

        while self.running:
            attempt = await self._post(client, "captions", "/api/images", make=make)
            await asyncio.sleep(0.15 if attempt.status == 202 else 0.5)

    async def _faces(self, client: httpx.AsyncClient) -> None:
        def make(token: str) -> tuple[dict[str, Any], dict[str, str]]:
            return {"file": (f"{token}.jpg", FACE_IMAGE, "image/jpeg")}, {}

        while self.running:
            attempt = await self._post(client, "faces", "/api/v1/images", make=make)
            await asyncio.sleep(0.3 if attempt.status in (201, 202) else 0.5)

    async def _read(self, client: httpx.AsyncClient, kind: str, request: Any) -> None:
        try:
            response = await request
            outcome = str(response.status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        self.reads[(self.phase, kind, outcome)] += 1

    async def _delivery(self, client: httpx.AsyncClient) -> None:
        while self.running:
            stored = [a.id for a in self.attempts[-400:] if a.kind == "captions" and a.id]
            if len(stored) > 20:
                id = random.choice(stored[:-20])  # old enough to be stored
                size = random.choice(["resize=0.5", "fit=64x64:cover", "grayscale"])
                path = signing.image_path(self.url_key, size, f"captions/{id}")
                await self._read(client, "delivery", client.get(path))
            await asyncio.sleep(0.3)

    async def _transform(self, client: httpx.AsyncClient) -> None:
        while self.running:
            files = {"file": ("t.jpg", CAPTION_IMAGES[0], "image/jpeg")}
            await self._read(
                client,
                "transform",
                client.post("/v1/transform", files=files, data={"ops": "resize=0.5,grayscale"}),
            )
            await asyncio.sleep(0.5)

    async def _observer(self) -> None:
        """The published events, as Redis itself hands them out."""
        while self.running:
            client = redis.asyncio.Redis.from_url(self.redis_url, socket_connect_timeout=2)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe("pixelmill:events:faces")
                while self.running:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        id = json.loads(message["data"])["id"]
                        self.published.setdefault(id, time.time())
            except (redis.RedisError, OSError):
                await asyncio.sleep(0.2)
            finally:
                await client.aclose()

    async def _websocket(self, host: str, url: str) -> None:
        while self.running:
            session: Session | None = None
            try:
                async with websockets.connect(
                    url.replace("http", "ws") + "/faces", ping_interval=3, ping_timeout=3,
                    open_timeout=5, close_timeout=3,
                ) as socket:  # fmt: skip
                    session = Session(host, time.time())
                    self.sessions.append(session)
                    while self.running:
                        try:
                            frame = await asyncio.wait_for(socket.recv(), 1.0)
                        except TimeoutError:
                            continue
                        if isinstance(frame, str) and frame.startswith("{"):
                            session.ids.setdefault(json.loads(frame)["id"], time.time())
                    session.code, session.closed = 1000, time.time()
                    await socket.close()
            except websockets.ConnectionClosed as closed:
                if session is not None:
                    received = closed.rcvd
                    session.code = received.code if received is not None else 1006
                    session.reason = received.reason if received is not None else "no close frame"
                    session.closed = time.time()
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidStatus):
                pass
            await asyncio.sleep(0.5)
