"""The disk cache: bounded in bytes, least recently used out first, tolerant of a second
process evicting the same files."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.delivery.cache import DiskCache, Entry
from pixelmill.delivery.results import cache_key
from tests.delivery.conftest import PHOTO, delivery_settings, signed
from tests.images import encode


def cached_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_the_cache_stays_under_its_bound(tmp_path: Path) -> None:
    bound = 60_000
    settings = delivery_settings(tmp_path, cache_bytes=bound)
    settings.files_root_path.mkdir(parents=True)
    (settings.files_root_path / "a.png").write_bytes(encode(PHOTO))
    with TestClient(create_app(settings)) as client:
        for i in range(30):
            response = client.get(signed(f"resize={0.3 + i / 100:.2f}", "local/a.png"))
            assert response.status_code == 200
            assert cached_bytes(settings.cache_path) <= bound
        metrics = client.get("/metrics").text
    assert cached_bytes(settings.cache_path) > bound / 4  # it does cache
    evictions = next(
        line
        for line in metrics.splitlines()
        if line.startswith("pixelmill_delivery_cache_evictions")
    )
    assert float(evictions.split()[-1]) > 0


def test_least_recently_used_goes_first(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=3500)
    keys = [cache_key(str(i)) for i in range(4)]
    for age, key in enumerate(keys[:3]):
        cache.put(key, Entry("image/png", b"x" * 1000))
        path = tmp_path / key[:2] / key
        os.utime(path, (1_000_000 + age, 1_000_000 + age))  # written long ago, 0 oldest
    assert cache.get(keys[0]) is not None  # read now: the most recently used
    cache.put(keys[3], Entry("image/png", b"y" * 1000))  # over the bound: evict to 80%
    assert cache.get(keys[0]) is not None
    assert cache.get(keys[1]) is None and cache.get(keys[2]) is None
    assert cache.get(keys[3]) == Entry("image/png", b"y" * 1000)
    assert cache.stats.evictions == 2


def test_eviction_tolerates_files_gone_meanwhile(tmp_path: Path) -> None:
    first, second = DiskCache(tmp_path, max_bytes=2500), DiskCache(tmp_path, max_bytes=2500)
    for i in range(2):
        first.put(cache_key("a", str(i)), Entry("image/png", b"x" * 1000))
    second.put(cache_key("b"), Entry("image/png", b"x" * 1000))  # lists 3000: evicts
    for path in list(tmp_path.rglob("*")):
        if path.is_file():
            path.unlink()  # another process's eviction, done first
    first.put(cache_key("c"), Entry("image/png", b"x" * 1000))
    assert cached_bytes(tmp_path) <= 2500
