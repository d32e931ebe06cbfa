"""Remote sources (`url/…`) fetched without SSRF: only from the hosts the operator listed,
only at addresses those hosts may have, within a time and a byte limit, and the pixel limit
checked from the image's header while its body is still coming.

    fetch(url, settings)  -> Fetched: bytes, media type, validator, final URL (blocking)
    parse_hosts(text)     -> Hosts: PIXELMILL_SOURCE_HOSTS read; ValueError naming a bad entry

The rules, applied to the URL and again to every redirect hop, cheapest first:

1. `http` or `https`, with no user name or password.
2. Its host and port are on the list. An entry `host` allows the scheme's default port (80,
   443), `host:port` that port only. Names compare in lower case without a trailing dot.
   A URL off the list is never contacted, nor looked up.
3. The host is resolved (within the time limit; an IP literal is its own address), and every
   address it resolves to must be allowed: a public address (globally routable unicast)
   always; any other (loopback, private, link-local with 169.254.169.254 the cloud metadata
   service, shared 100.64/10, multicast, reserved, unspecified; an IPv6 address embedding
   an IPv4 one is judged by both) only when the list names that address itself with the
   port, or without one for the default port: `127.0.0.1:8080`, `10.0.0.5`. So
   `minio.internal:9000` resolving to 10.0.0.5 needs `10.0.0.5:9000` listed beside it.
4. The connection goes to the address checked, never to the name again (a DNS answer that
   changes between check and connect cannot move it): the name travels in the Host header
   and as TLS SNI, and the certificate is verified against the name. Proxy variables
   (HTTP_PROXY ...) are ignored; SSL_CERT_FILE and SSL_CERT_DIR are honoured.
5. Redirects (301, 302, 303, 307, 308) are followed here, at most MAX_REDIRECTS, each hop
   checked from rule 1.

Answers: a URL breaking rules 1-3 is a 403 (the client asked for what the operator did not
allow); a redirect breaking them is a 502 (the upstream sent us there). Upstream 404 and 410
are 404 (the source does not exist); any other status but 200, a broken connection, a TLS
failure, a compressed body (`Accept-Encoding: identity` is sent; a compressed image body
could expand past the byte limit between two checks) or too many redirects are 502; the time
limit (`source_timeout_seconds`, name lookup to last byte) is 504. A body over
`source_max_bytes` (announced by Content-Length, or counted as it streams) and an image
whose header states more than `max_pixels` are 413, as for an upload: the image is too big
for this server, which is no upstream failure and will not pass on a retry.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from pixelmill.errors import (
    BadGateway,
    Forbidden,
    GatewayTimeout,
    NotFound,
    PixelmillError,
    TooLarge,
)
from pixelmill.imaging import codec

if TYPE_CHECKING:
    import ssl

    from pixelmill.config import Settings

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
# The header is sniffed once this much has arrived, then at every doubling until it parses:
# 4 KiB hold the header of most PNG, GIF and WebP files; a JPEG's size comes after its EXIF
# and ICC segments, which can run to hundreds of KiB.
FIRST_SNIFF = 4 * 1024

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port): port None allows the default port of the URL's scheme
Hosts = frozenset[tuple[str, int | None]]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A remote image: its bytes, the media type upstream gave, a validator (upstream ETag,
    else Last-Modified, else None) and the URL it finally came from (after redirects)."""

    data: bytes
    content_type: str | None
    validator: str | None
    url: str


@dataclass(frozen=True, slots=True)
class _Target:
    """One hop, checked: where to connect and what to say the host is."""

    url: httpx.URL
    addresses: tuple[IpAddress, ...]  # tried in turn while a connection is refused


def fetch(url: str, settings: Settings) -> Fetched:
    """GET `url` under the rules of this module's docstring; blocking (run it off the event
    loop). Raises Forbidden, NotFound, TooLarge, BadGateway or GatewayTimeout."""
    deadline = time.monotonic() + settings.source_timeout_seconds
    hosts = parse_hosts(settings.source_hosts)
    shown = _shown(url)
    with httpx.Client(trust_env=False, verify=_tls_context(), follow_redirects=False) as client:
        hop = url
        for redirects in range(MAX_REDIRECTS + 1):
            refused = Forbidden if redirects == 0 else BadGateway
            target = _check(hop, hosts, deadline, refused, shown)
            response = _send(client, target, deadline, shown)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    hop = urljoin(str(target.url), location)
                    continue
                return _read(response, target.url, settings, deadline, shown)
            finally:
                response.close()
    raise BadGateway(f"{shown}: more than {MAX_REDIRECTS} redirects")


def parse_hosts(text: str) -> Hosts:
    """PIXELMILL_SOURCE_HOSTS as (host, port) pairs; ValueError naming an entry that is not
    `host` or `host:port` (IPv6 in brackets: `[::1]:8080`)."""
    hosts: set[tuple[str, int | None]] = set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            parts = urlsplit(f"//{entry}")
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or not parts.hostname or parts.path or parts.username or "?" in entry:
            raise ValueError(f"{entry!r} is not a host or host:port")
        hosts.add((_host_name(parts.hostname), port))
    return frozenset(hosts)


def is_public(address: IpAddress) -> bool:
    """A globally routable unicast address, and so is any IPv4 address it embeds."""
    return all(one.is_global and not one.is_multicast for one in (address, *_embedded(address)))


def _check(
    url: str, hosts: Hosts, deadline: float, refused: type[PixelmillError], shown: str
) -> _Target:
    """Rules 1 to 3 for one hop: the address to connect to, or `refused`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise refused(f"{shown}: not a URL") from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise refused(f"{_shown(url)}: only http and https URLs are fetched")
    if parsed.userinfo:
        raise refused(f"{_shown(url)}: a user name or password in a source URL is refused")
    host = _host_name(parsed.raw_host.decode("ascii"))
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    if not _listed(host, port, parsed.scheme, hosts):
        raise refused(
            f"{_shown(url)}: {host}:{port} is not in PIXELMILL_SOURCE_HOSTS"
            + ("" if hosts else " (empty: remote sources are off)")
        )
    addresses = _resolve(host, port, deadline, shown)
    for address in addresses:
        if not is_public(address) and not _listed(
            _host_name(str(address)), port, parsed.scheme, hosts
        ):
            raise refused(
                f"{_shown(url)}: {host} resolves to {address}, an address that is not public "
                "and that PIXELMILL_SOURCE_HOSTS does not name"
            )
    return _Target(parsed, tuple(addresses))


def _send(client: httpx.Client, target: _Target, deadline: float, shown: str) -> httpx.Response:
    """GET the target at one of its checked addresses, the name in Host and SNI (rule 4)."""
    url = target.url
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Accept-Encoding": "identity",
        "Accept": "image/*",
    }
    failure: httpx.HTTPError | None = None
    for address in target.addresses:
        extensions: dict[str, object] = {"timeout": httpx.Timeout(_left(deadline, shown)).as_dict()}
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        request = client.build_request(
            "GET", url.copy_with(host=str(address)), headers=headers, extensions=extensions
        )
        try:
            return client.send(request, stream=True)
        except httpx.TimeoutException:
            raise _timeout(shown) from None
        except httpx.ConnectError as exc:  # refused or unreachable: the next address
            failure = exc
        except httpx.HTTPError as exc:
            failure = exc
            break
    raise BadGateway(f"{shown}: the upstream failed: {_reason(failure)}")


def _read(
    response: httpx.Response, url: httpx.URL, settings: Settings, deadline: float, shown: str
) -> Fetched:
    """The body of a final answer, within the byte and time limits, its header sniffed for
    the pixel limit as soon as it has arrived."""
    status = response.status_code
    if status in (404, 410):
        raise NotFound(f"{shown}: the upstream answered {status} (no such image)")
    if status != 200:
        raise BadGateway(f"{shown}: the upstream answered {status}, not 200")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BadGateway(f"{shown}: the upstream sent a {encoding}-compressed body")
    limit = settings.source_max_bytes
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise TooLarge(f"{shown} is {int(announced):,} bytes; the limit is {limit:,} bytes")
    body = bytearray()
    sniff_at: int | None = FIRST_SNIFF
    try:
        for chunk in response.iter_raw():  # as it arrives: the deadline is checked per read
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"{shown} is over the limit of {limit:,} bytes")
            _left(deadline, shown)
            if sniff_at is not None and len(body) >= sniff_at:
                sniff_at = _sniff(bytes(body), settings.max_pixels, shown, len(body))
    except httpx.TimeoutException:
        raise _timeout(shown) from None
    except httpx.HTTPError as exc:
        raise BadGateway(f"{shown}: the upstream failed mid-body: {_reason(exc)}") from None
    validator = response.headers.get("etag") or response.headers.get("last-modified")
    return Fetched(bytes(body), response.headers.get("content-type"), validator, str(url))


def _sniff(prefix: bytes, max_pixels: int, shown: str, size: int) -> int | None:
    """None once the header has been read and passes; the next size to try while it is not
    all in yet. An image over the pixel limit is refused here (TooLarge)."""
    try:
        codec.sniff(prefix, max_pixels=max_pixels, name=shown)
    except TooLarge:
        raise
    except PixelmillError:  # not all of the header yet, or no image: the caller's sniff says
        return size * 2
    return None


def _resolve(host: str, port: int, deadline: float, shown: str) -> list[IpAddress]:
    """The host's addresses (an IP literal's own), looked up within the deadline: the
    resolver has no timeout of its own, so it runs in a thread that is left behind on time
    out."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    found: list[list[IpAddress] | BaseException] = []

    def lookup() -> None:
        import socket

        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append(list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos)))
        except (OSError, ValueError) as exc:
            found.append(exc)

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(_left(deadline, shown))
    if not found:
        raise _timeout(shown)
    result = found[0]
    if isinstance(result, BaseException) or not result:
        raise BadGateway(f"{shown}: {host} could not be resolved")
    return result


def _listed(host: str, port: int, scheme: str, hosts: Hosts) -> bool:
    return (host, port) in hosts or (port == DEFAULT_PORTS[scheme] and (host, None) in hosts)


def _host_name(host: str) -> str:
    """A host as the list compares it: lower case, no trailing dot, IPv6 without brackets
    and in its short form."""
    name = host.strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _embedded(address: IpAddress) -> Iterable[IpAddress]:
    """The IPv4 addresses an IPv6 one carries: mapped, 6to4, Teredo, NAT64 (64:ff9b::/96)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    found: list[IpAddress] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _left(deadline: float, shown: str) -> float:
    """Seconds left before the deadline; past it, 504."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timeout(shown)
    return left


def _timeout(shown: str) -> GatewayTimeout:
    return GatewayTimeout(f"{shown}: the upstream took longer than the source time limit")


def _reason(exc: httpx.HTTPError | None) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def _shown(url: str) -> str:
    """The URL as messages name it: no longer than 120 characters."""
    return url if len(url) <= 120 else url[:117] + "..."


@cache
def _tls_context() -> ssl.SSLContext:
    # built once: loading the CA bundle takes 50 ms, more than a small fetch
    return httpx.create_ssl_context(trust_env=True)
