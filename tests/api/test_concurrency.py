"""Twenty requests at once to a real server: all succeed, and final_collage.png is never torn."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np

from tests.images import encode, photo
from tests.server import running_server


def test_twenty_concurrent_requests_and_a_whole_file_at_every_moment(tmp_path: Path) -> None:
    inputs = [
        (encode(photo(320 + 16 * i, 240, seed=i), ".jpg"), encode(photo(320, 200, seed=99)))
        for i in range(20)
    ]
    with running_server(tmp_path) as url:
        target = tmp_path / "results" / "final_collage.png"
        stop = threading.Event()
        reads: list[tuple[int, ...]] = []
        torn: list[int] = []

        def watch() -> None:
            while not stop.is_set():
                try:
                    data = target.read_bytes()
                except FileNotFoundError:
                    continue
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    torn.append(len(data))
                else:
                    reads.append(image.shape)

        def post(pair: tuple[bytes, bytes]) -> httpx.Response:
            files = {"image1": ("a.jpg", pair[0]), "image2": ("b.png", pair[1])}
            return httpx.post(url + "/process", files=files, timeout=120)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(20) as pool:
                responses = list(pool.map(post, inputs))
        finally:
            stop.set()
            watcher.join()

    assert [r.status_code for r in responses] == [200] * 20
    shapes = {
        cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape for r in responses
    }
    assert len(shapes) == 20  # every request got its own collage back
    assert not torn, f"torn reads of final_collage.png: {torn[:5]}"
    # the watcher really read the file while it was being replaced (how often depends on the
    # machine's load: 16 times on a busy 2-CPU run, so a few is the honest floor)
    assert len(reads) >= 5 and set(reads) <= shapes
    assert target.read_bytes() in {r.content for r in responses}
