"""Remote sources without SSRF, against HTTP servers these tests start on 127.0.0.1: what is
contacted (each server counts its connections), what is refused, and how fast a slow or huge
upstream is cut off."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from pixelmill.config import Settings
from pixelmill.delivery import remote
from pixelmill.delivery.remote import fetch, is_public, parse_hosts
from pixelmill.errors import BadGateway, Forbidden, GatewayTimeout, NotFound, TooLarge
from tests.images import encode, photo
from tests.server import free_port

PNG = encode(photo(64, 48, seed=3), ".png")
MiB = 1024 * 1024


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR stating width×height, then the start of an IDAT chunk
    (whose bytes never end, as the servers below send them)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 2**31 - 1)
        + b"IDAT"
    )


Route = Callable[["Handler"], None]


class Upstream(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that counts connections and bytes sent, answering by path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.connections = 0
        self.sent = 0
        self.hosts: list[str] = []  # the Host header of each request
        self.stop = threading.Event()  # set at teardown: slow routes end
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def get_request(self) -> Any:
        request = super().get_request()
        with self.lock:
            self.connections += 1
        return request

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a huge or slow answer is what these tests want


class Handler(BaseHTTPRequestHandler):
    server: Upstream

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))
        route = self.server.routes.get(self.path.split("?")[0])
        if route is None:
            self.answer(404, b"no such path")
        else:
            route(self)

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.write(body)

    def write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        with self.server.lock:
            self.server.sent += len(data)

    def stream(self, first: bytes = b"", **headers: str) -> None:
        """200, `first`, then zeros 64 KiB at a time until the client hangs up (or 1 GiB)."""
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.write(first)
        for _ in range(16 * 1024):
            self.write(bytes(64 * 1024))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Callable[[], Upstream]]:
    """Factory: a running Upstream; all are stopped at teardown."""
    started: list[tuple[Upstream, threading.Thread]] = []

    def start() -> Upstream:
        server = Upstream()
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(*hosts: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "source_hosts": ",".join(hosts),
            "source_timeout_seconds": 5.0,
        }
        return Settings(**{**values, **overrides})

    return make


def serve_png(handler: Handler) -> None:
    handler.answer(200, PNG, Content_Type="image/png", ETag='"v1"')


# --- what is fetched ---------------------------------------------------------------------


def test_a_listed_host_gives_the_image_its_type_and_etag(upstream: Any, settings: Any) -> None:
    server = upstream()
    server.routes["/photo.png"] = serve_png
    got = fetch(server.url("/photo.png"), settings(f"127.0.0.1:{server.port}"))
    assert got.data == PNG
    assert got.content_type == "image/png"
    assert got.validator == '"v1"'
    assert got.url == server.url("/photo.png")
    assert server.connections == 1


def test_without_an_etag_last_modified_is_the_validator(upstream: Any, settings: Any) -> None:
    server = upstream()
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    server.routes["/p"] = lambda h: h.answer(200, PNG, Last_Modified=stamp)
    assert fetch(server.url("/p"), settings(f"127.0.0.1:{server.port}")).validator == stamp
    server.routes["/q"] = lambda h: h.answer(200, PNG)
    assert fetch(server.url("/q"), settings(f"127.0.0.1:{server.port}")).validator is None


def test_a_name_is_connected_at_its_checked_address_and_sent_as_host(
    upstream: Any, settings: Any
) -> None:
    server = upstream()
    server.routes["/photo.png"] = serve_png
    allowed = settings(
        f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}"
    )
    got = fetch(server.url("/photo.png", host="localhost"), allowed)
    assert got.data == PNG
    assert server.hosts == [f"localhost:{server.port}"]


# --- what is never contacted -------------------------------------------------------------


def test_a_host_off_the_list_is_never_contacted(upstream: Any, settings: Any) -> None:
    server = upstream()
    server.routes["/photo.png"] = serve_png
    for listed in ((f"127.0.0.1:{free_port()}",), ("127.0.0.1",), ()):
        with pytest.raises(Forbidden, match="not in PIXELMILL_SOURCE_HOSTS"):
            fetch(server.url("/photo.png"), settings(*listed))
    assert server.connections == 0


def test_a_name_resolving_to_an_address_the_list_does_not_name_is_refused(
    upstream: Any, settings: Any
) -> None:
    server = upstream()
    server.routes["/photo.png"] = serve_png
    with pytest.raises(Forbidden, match=r"localhost resolves to (127\.0\.0\.1|::1)"):
        fetch(server.url("/photo.png", host="localhost"), settings(f"localhost:{server.port}"))
    assert server.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/photo.png",
        "file:///etc/passwd",
        "http://user:secret@127.0.0.1:{port}/photo.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{port}/photo.png",
        "not a url",
    ],
)
def test_other_schemes_credentials_and_unlisted_addresses_are_refused(
    upstream: Any, settings: Any, url: str
) -> None:
    server = upstream()
    with pytest.raises(Forbidden):
        fetch(url.format(port=server.port), settings(f"127.0.0.1:{server.port}"))
    assert server.connections == 0


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # the cloud metadata service
        ("fe80::1", False),
        ("fd00::1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("ff02::1", False),
        ("::ffff:169.254.169.254", False),  # IPv4-mapped
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_the_list_reads_hosts_and_ports() -> None:
    assert parse_hosts(" Images.Example.com. , 127.0.0.1:8080,[::1]:9000,,") == {
        ("images.example.com", None),
        ("127.0.0.1", 8080),
        ("::1", 9000),
    }
    for bad in ("example.com/images", "example.com:99999", "user@example.com", "a.com:x"):
        with pytest.raises(ValueError, match="not a host or host:port"):
            parse_hosts(bad)


# --- redirects ---------------------------------------------------------------------------


def test_a_redirect_off_the_list_is_refused_and_never_contacted(
    upstream: Any, settings: Any
) -> None:
    listed, other = upstream(), upstream()
    other.routes["/photo.png"] = serve_png
    listed.routes["/go"] = lambda h: h.answer(302, Location=other.url("/photo.png"))
    with pytest.raises(BadGateway, match="not in PIXELMILL_SOURCE_HOSTS"):
        fetch(listed.url("/go"), settings(f"127.0.0.1:{listed.port}"))
    assert (listed.connections, other.connections) == (1, 0)


def test_a_redirect_to_a_listed_name_at_an_unlisted_address_is_refused(
    upstream: Any, settings: Any
) -> None:
    listed, other = upstream(), upstream()
    other.routes["/photo.png"] = serve_png
    listed.routes["/go"] = lambda h: h.answer(
        301, Location=other.url("/photo.png", host="localhost")
    )
    with pytest.raises(BadGateway, match="resolves to"):
        fetch(listed.url("/go"), settings(f"127.0.0.1:{listed.port}", f"localhost:{other.port}"))
    assert other.connections == 0


def test_redirects_within_the_list_are_followed(upstream: Any, settings: Any) -> None:
    first, second = upstream(), upstream()
    second.routes["/photo.png"] = serve_png
    first.routes["/go"] = lambda h: h.answer(307, Location="/again")
    first.routes["/again"] = lambda h: h.answer(308, Location=second.url("/photo.png"))
    got = fetch(first.url("/go"), settings(f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"))
    assert got.data == PNG
    assert got.url == second.url("/photo.png")


def test_more_than_five_redirects_are_a_502(upstream: Any, settings: Any) -> None:
    server = upstream()
    server.routes["/loop"] = lambda h: h.answer(302, Location="/loop")
    with pytest.raises(BadGateway, match="more than 5 redirects"):
        fetch(server.url("/loop"), settings(f"127.0.0.1:{server.port}"))
    assert server.connections == 6


# --- upstream failures -------------------------------------------------------------------


def test_upstream_statuses(upstream: Any, settings: Any) -> None:
    server = upstream()
    server.routes["/gone"] = lambda h: h.answer(410)
    server.routes["/broken"] = lambda h: h.answer(500, b"oops")
    server.routes["/gzip"] = lambda h: h.answer(200, zlib.compress(PNG), Content_Encoding="gzip")
    allowed = settings(f"127.0.0.1:{server.port}")
    with pytest.raises(NotFound, match="answered 404"):
        fetch(server.url("/missing.png"), allowed)
    with pytest.raises(NotFound, match="answered 410"):
        fetch(server.url("/gone"), allowed)
    with pytest.raises(BadGateway, match="answered 500"):
        fetch(server.url("/broken"), allowed)
    with pytest.raises(BadGateway, match="compressed"):
        fetch(server.url("/gzip"), allowed)


def test_nothing_listening_is_a_502(settings: Any) -> None:
    port = free_port()
    with pytest.raises(BadGateway, match="ConnectError"):
        fetch(f"http://127.0.0.1:{port}/photo.png", settings(f"127.0.0.1:{port}"))


def test_an_upstream_that_never_answers_is_cut_off_at_the_time_limit(
    upstream: Any, settings: Any
) -> None:
    server = upstream()
    server.routes["/slow"] = lambda h: (server.stop.wait(30), serve_png(h))
    started = time.monotonic()
    with pytest.raises(GatewayTimeout):
        fetch(server.url("/slow"), settings(f"127.0.0.1:{server.port}", source_timeout_seconds=0.5))
    assert 0.4 < time.monotonic() - started < 3  # of the 30 s the upstream would take


def test_an_upstream_that_trickles_is_cut_off_at_the_total_time_limit(
    upstream: Any, settings: Any
) -> None:
    def trickle(handler: Handler) -> None:
        handler.send_response(200)
        handler.end_headers()
        handler.write(PNG[:100])
        while not server.stop.wait(0.05):  # a byte every 50 ms: no read ever times out
            handler.write(b"\0")

    server = upstream()
    server.routes["/trickle"] = trickle
    started = time.monotonic()
    with pytest.raises(GatewayTimeout):
        fetch(
            server.url("/trickle"), settings(f"127.0.0.1:{server.port}", source_timeout_seconds=0.5)
        )
    assert 0.4 < time.monotonic() - started < 3  # of the 30 s the upstream would take
    assert server.sent > 100  # it was sending all along


def test_a_body_over_the_byte_limit_is_cut_off(upstream: Any, settings: Any) -> None:
    server = upstream()
    server.routes["/endless"] = lambda h: h.stream(PNG)
    with pytest.raises(TooLarge, match=f"over the limit of {MiB:,} bytes"):
        fetch(server.url("/endless"), settings(f"127.0.0.1:{server.port}", source_max_bytes=MiB))
    assert _settled(server) < 16 * MiB  # of 1 GiB: what socket buffers took at most


def test_a_length_over_the_byte_limit_is_refused_before_the_body(
    upstream: Any, settings: Any
) -> None:
    server = upstream()
    server.routes["/big"] = lambda h: h.stream(PNG, Content_Length=str(2**30))
    with pytest.raises(TooLarge, match=f"{2**30:,} bytes; the limit is {MiB:,} bytes"):
        fetch(server.url("/big"), settings(f"127.0.0.1:{server.port}", source_max_bytes=MiB))
    assert _settled(server) < 16 * MiB


@pytest.mark.parametrize(("width", "height"), [(60_000, 60_000), (4000, 4000)])
def test_a_header_stating_too_many_pixels_is_refused_before_the_body(
    upstream: Any, settings: Any, width: int, height: int
) -> None:
    server = upstream()
    server.routes["/bomb.png"] = lambda h: h.stream(png_header(width, height))
    allowed = settings(f"127.0.0.1:{server.port}", max_pixels=1_000_000, source_max_bytes=2**30)
    with pytest.raises(TooLarge, match="pixel"):
        fetch(server.url("/bomb.png"), allowed)
    assert _settled(server) < 16 * MiB  # of the 1 GiB the body would be


def test_a_jpeg_too_large_in_pixels_is_refused_from_its_header(
    upstream: Any, settings: Any
) -> None:
    big = encode(photo(1200, 1000, seed=5), ".jpg")
    server = upstream()
    server.routes["/big.jpg"] = lambda h: h.answer(200, big)
    with pytest.raises(TooLarge, match="1200×1000"):
        fetch(server.url("/big.jpg"), settings(f"127.0.0.1:{server.port}", max_pixels=1_000_000))
    small = settings(f"127.0.0.1:{server.port}", max_pixels=2_000_000)
    assert np.array_equal(
        cv2.imdecode(np.frombuffer(fetch(server.url("/big.jpg"), small).data, np.uint8), 1),
        cv2.imdecode(np.frombuffer(big, np.uint8), 1),
    )


def test_https_is_verified_against_the_name_while_connecting_to_the_checked_address(
    upstream: Any, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, server_context = _tls_for_localhost(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # how an operator trusts an internal CA
    remote._tls_context.cache_clear()
    server = upstream()
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    server.routes["/photo.png"] = serve_png
    allowed = settings(
        f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}"
    )
    try:
        got = fetch(f"https://localhost:{server.port}/photo.png", allowed)
        assert got.data == PNG
        assert server.hosts == [f"localhost:{server.port}"]
        # the certificate names localhost, not the address: verification is on
        with pytest.raises(BadGateway, match="certificate"):
            fetch(f"https://127.0.0.1:{server.port}/photo.png", allowed)
    finally:
        remote._tls_context.cache_clear()


def _tls_for_localhost(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA file, and a server context whose certificate (signed by that CA) names localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    valid = {"not_valid_before": now, "not_valid_after": now + datetime.timedelta(days=1)}
    ca = (
        x509.CertificateBuilder(name("test CA"), name("test CA"), ca_key.public_key(), 1, **valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder(name("test CA"), name("localhost"), key.public_key(), 2, **valid)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


def _settled(server: Upstream) -> int:
    """The bytes the server sent, once it has stopped sending (the client hung up)."""
    last = -1
    while server.sent != last:
        last = server.sent
        time.sleep(0.2)
    return last
