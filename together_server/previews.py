"""Link previews: fetch a page server-side and read its OpenGraph / Twitter meta tags (issue 12).

Shape. **LinkPreview** = ``{url, title, description, image, site_name}`` (the Together
reference's fields), each but ``url`` nullable.

How a fetch goes (:func:`fetch`, a plain function run in a worker thread, never on the
event loop):

1. Only ``http`` and ``https`` URLs, with a host, no user info.
2. The host is resolved (``getaddrinfo``) and **every** address must be public
   (``ipaddress`` ``is_global``, not multicast; IPv4-mapped IPv6 judged as IPv4), unless
   ``[link_previews] allow_private``. The connection goes to the checked address itself
   (the request's ``Host`` and the TLS SNI / certificate check keep the name), so a DNS
   answer cannot change between the check and the connect.
3. A redirect (301, 302, 303, 307, 308) starts again at 1 for its target, at most
   ``max_redirects`` times.
4. At most ``max_bytes`` of the body are read; the whole fetch, redirects included, has
   ``timeout_seconds``. An ``image/*`` answer previews as itself.

Errors (:class:`PreviewError`): ``url_not_allowed`` (400: scheme, user info or a refused
address, also after a redirect) and ``preview_unavailable`` (502: DNS failure, refused
connection, timeout, a status other than 200, too many redirects, not HTML). Without a
network every fetch fails at DNS or connect at once.
:class:`PreviewCache` keeps results (and, for a tenth of the time, failures) by URL.
"""

from __future__ import annotations

import collections
import ipaddress
import socket
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "together-server link preview (+https://github.com/together-server)"
MAX_TITLE, MAX_DESCRIPTION, MAX_URL = 300, 1000, 2048


class PreviewError(Exception):
    """A refused or failed fetch: ``code`` is ``url_not_allowed`` or ``preview_unavailable``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """True for a globally routable unicast address: not loopback, private, link-local
    (169.254.169.254 metadata included), shared (100.64/10), reserved, unspecified or multicast."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def _check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an acceptable URL; PreviewError url_not_allowed otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise PreviewError("url_not_allowed", "not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PreviewError("url_not_allowed", "only http and https URLs are previewed")
    if not parts.hostname:
        raise PreviewError("url_not_allowed", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise PreviewError("url_not_allowed", "URLs with user info are not previewed")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


class _MetaParser(HTMLParser):
    """Collects ``<meta property|name=... content=...>``, the first ``<title>`` and ``<meta charset>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = {k.lower(): (v or "") for k, v in attrs}
            key = (a.get("property") or a.get("name") or "").strip().lower()
            if key and "content" in a and key not in self.meta:
                self.meta[key] = a["content"].strip()
        elif tag == "title" and self.title is None:
            self._in_title = True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = "".join(self._title_parts).strip()


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text[:limit] if text else None


def parse_page(url: str, final_url: str, body: bytes, charset: str | None) -> dict[str, Any]:
    """LinkPreview from an HTML ``body`` fetched from ``final_url`` (``url`` is the one asked for)."""
    text = body.decode(charset or "utf-8", errors="replace") if _known_charset(charset) else body.decode(
        "utf-8", errors="replace")
    parser = _MetaParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; whatever it got so far is kept
        pass
    m = parser.meta
    image = m.get("og:image") or m.get("og:image:url") or m.get("twitter:image") or m.get("twitter:image:src")
    if image:
        image = urljoin(final_url, image)
        if not image.lower().startswith(("http://", "https://")) or len(image) > MAX_URL:
            image = None
    site = m.get("og:site_name") or urlsplit(final_url).hostname
    return {
        "url": url,
        "title": _clip(m.get("og:title") or m.get("twitter:title") or parser.title, MAX_TITLE),
        "description": _clip(m.get("og:description") or m.get("twitter:description") or m.get("description"),
                             MAX_DESCRIPTION),
        "image": image or None,
        "site_name": _clip(site, MAX_TITLE),
    }


def _known_charset(charset: str | None) -> bool:
    if not charset:
        return False
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True


def fetch(
    url: str, *, allow_private: bool, timeout: float, max_bytes: int, max_redirects: int,
    resolver: Resolver = resolve,
) -> dict[str, Any]:
    """Blocking: the LinkPreview of ``url`` by the steps in the module docstring.

    Raises PreviewError. Run it in a worker thread (``trio.to_thread``)."""
    deadline = time.monotonic() + timeout
    current = url
    with httpx.Client(follow_redirects=False, verify=True, trust_env=False) as client:
        for _hop in range(max_redirects + 1):
            scheme, host, port = _check_url(current)
            try:
                addresses = resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise PreviewError("preview_unavailable", f"cannot resolve {host}: {exc}") from None
            if not addresses:
                raise PreviewError("preview_unavailable", f"cannot resolve {host}")
            if not allow_private and not all(is_public(a) for a in addresses):
                raise PreviewError("url_not_allowed", f"{host} is a loopback, private or link-local address")
            target = httpx.URL(current).copy_with(host=addresses[0])
            netloc = host if ":" not in host else f"[{host}]"
            default_port = 443 if scheme == "https" else 80
            headers = {
                "Host": netloc if port == default_port else f"{netloc}:{port}",
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml;q=0.9,image/*;q=0.5,*/*;q=0.1",
            }
            extensions: dict[str, Any] = {"sni_hostname": host} if scheme == "https" else {}
            left = deadline - time.monotonic()
            if left <= 0:
                raise PreviewError("preview_unavailable", "timed out")
            try:
                with client.stream("GET", target, headers=headers, extensions=extensions,
                                   timeout=httpx.Timeout(left)) as resp:
                    if resp.status_code in REDIRECTS and resp.headers.get("location"):
                        current = urljoin(current, resp.headers["location"])
                        continue
                    if resp.status_code != 200:
                        raise PreviewError("preview_unavailable", f"the page answered {resp.status_code}")
                    kind = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                    if kind.startswith("image/"):
                        return {"url": url, "title": None, "description": None, "image": current,
                                "site_name": host}
                    if kind not in ("text/html", "application/xhtml+xml", ""):
                        raise PreviewError("preview_unavailable", f"not an HTML page ({kind})")
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) >= max_bytes or time.monotonic() > deadline:
                            break
                    return parse_page(url, current, bytes(body[:max_bytes]), resp.charset_encoding)
            except httpx.HTTPError as exc:
                raise PreviewError("preview_unavailable", f"fetch failed: {type(exc).__name__}") from None
        raise PreviewError("preview_unavailable", "too many redirects")


class PreviewCache:
    """Results by URL for ``ttl`` seconds (failures for ``ttl / 10``), at most ``size`` entries
    (least recently used go first). Used on the trio thread only."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._data: collections.OrderedDict[str, tuple[float, dict[str, Any] | PreviewError]] = (
            collections.OrderedDict())

    def get(self, url: str) -> dict[str, Any] | PreviewError | None:
        hit = self._data.get(url)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self._data[url]
            return None
        self._data.move_to_end(url)
        return hit[1]

    def put(self, url: str, value: dict[str, Any] | PreviewError) -> None:
        ttl = self.ttl if isinstance(value, dict) else self.ttl / 10
        self._data[url] = (time.monotonic() + ttl, value)
        self._data.move_to_end(url)
        while len(self._data) > self.size:
            self._data.popitem(last=False)
