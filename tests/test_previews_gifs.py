"""Link previews and GIF search (issue 12) against a local HTTP server on 127.0.0.1.

Previews: OpenGraph / Twitter / <title> fields, redirects followed and bounded, the 1 MB
cap, non-http(s) refused (also after a redirect), the SSRF guard (loopback refused after
DNS when ``allow_private`` is off, as by default), the cache, the config switch, and a
fast failure for a name that does not resolve. GIF search: off without an API key (404
``feature_disabled``), on with a key against a local stand-in for the Giphy API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import trio
from conftest import Users, make_config

from together_server import previews
from together_server.daemon import Running, run_daemon

PAGE = b"""<!doctype html><html><head><meta charset="utf-8">
<title>Fallback title</title>
<meta property="og:title" content="LAN party &amp; pizza">
<meta property="og:description" content="Bring   your own cable.">
<meta property="og:image" content="/img/banner.png">
<meta property="og:site_name" content="Club site">
</head><body>hello</body></html>"""
TWITTER = b"""<html><head><title> Plain  title </title>
<meta name="twitter:description" content="From twitter tags">
<meta name="twitter:image" content="javascript:alert(1)"></head></html>"""


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    hosts: list[str] = []
    redirect_to = "/page"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", kind: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urlsplit(self.path).path
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        Handler.hosts.append(self.headers.get("Host", ""))
        if path == "/hop":
            self._send(302, headers={"Location": Handler.redirect_to})
        elif path == "/page":
            self._send(200, PAGE)
        elif path == "/twitter":
            self._send(200, TWITTER)
        elif path == "/redirect":
            self._send(302, headers={"Location": "/page"})
        elif path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        elif path == "/to-ftp":
            self._send(301, headers={"Location": "ftp://127.0.0.1/file"})
        elif path == "/big":
            head = b"<html><head><meta property='og:title' content='Big page'></head><body>"
            self._send(200, head + b"x" * (3 * 1024 * 1024))
        elif path == "/late-title":
            self._send(200, b"<html><body>" + b"y" * (1024 * 1024 + 10) + b"<title>Too late</title></body></html>")
        elif path == "/json":
            self._send(200, b"{}", "application/json")
        elif path == "/missing":
            self._send(404, b"no")
        elif path == "/v1/gifs/search":
            q = parse_qs(urlsplit(self.path).query)
            assert q["api_key"] == ["test-key"]
            data = [{"title": f"{q['q'][0]} {i}", "images": {
                "fixed_height": {"url": f"https://media.example/{i}.gif", "width": "200", "height": "150"},
                "fixed_height_small": {"url": f"https://media.example/{i}s.gif"}}}
                for i in range(int(q["limit"][0]))]
            self._send(200, orjson.dumps({"data": data}), "application/json")
        else:
            self._send(404, b"")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def start(nursery: trio.Nursery, tmp_path: Path, **sections: dict[str, Any]) -> Running:
    cfg = make_config(tmp_path / "data", **sections)
    return await nursery.start(lambda task_status: run_daemon(cfg, task_status=task_status,  # type: ignore[no-any-return]
                                                              install_signal_handlers=False))


async def test_preview_fields_redirects_cap_and_cache(nursery: trio.Nursery, tmp_path: Path, site: str) -> None:
    running = await start(nursery, tmp_path, link_previews={"allow_private": True})
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        r = await alice.get("/link-preview", params={"url": f"{site}/page"})
        assert r.status_code == 200, r.text
        assert r.json() == {"url": f"{site}/page", "title": "LAN party & pizza", "description": "Bring your own cable.",
                            "image": f"{site}/img/banner.png", "site_name": "Club site"}
        got = (await alice.get("/link-preview", params={"url": f"{site}/twitter"})).json()
        assert got["title"] == "Plain title" and got["description"] == "From twitter tags"
        assert got["image"] is None and got["site_name"] == "127.0.0.1"  # javascript: is no image
        got = (await alice.get("/link-preview", params={"url": f"{site}/redirect"})).json()
        assert got["url"] == f"{site}/redirect" and got["title"] == "LAN party & pizza"
        assert (await alice.get("/link-preview", params={"url": f"{site}/big"})).json()["title"] == "Big page"
        assert (await alice.get("/link-preview", params={"url": f"{site}/late-title"})).json()["title"] is None
        for path, code in (("/loop", "preview_unavailable"), ("/missing", "preview_unavailable"),
                           ("/json", "preview_unavailable"), ("/to-ftp", "url_not_allowed")):
            r = await alice.get("/link-preview", params={"url": f"{site}{path}"})
            assert r.json()["code"] == code, (path, r.text)
            assert r.status_code == (400 if code == "url_not_allowed" else 502)
        assert Handler.hits["/loop"] == 6  # the first request plus max_redirects (5)
        before = Handler.hits["/page"]
        await alice.get("/link-preview", params={"url": f"{site}/page"})
        assert Handler.hits["/page"] == before  # cached
        for bad in ("", "ftp://127.0.0.1/x", "file:///etc/passwd", "notaurl", "http://" + "a" * 2100):
            r = await alice.get("/link-preview", params={"url": bad})
            assert (r.status_code, r.json()["code"]) == (400, "validation_failed"), bad
        assert (await alice.get("/link-preview")).status_code == 400
        r = await users.anonymous().get("/link-preview", params={"url": f"{site}/page"})
        assert r.status_code == 401
    finally:
        await users.close()
        running.shutdown()


async def test_private_addresses_refused_by_default(shared: Running, users: Users, site: str) -> None:
    alice = await users.new("alice")
    port = site.rsplit(":", 1)[1]
    for url in (f"{site}/page", f"http://localhost:{port}/page", "http://[::1]/", "http://169.254.169.254/latest/",
                "http://10.0.0.1/", "http://192.168.1.1/", "http://0.0.0.0/"):
        r = await alice.get("/link-preview", params={"url": url})
        assert (r.status_code, r.json()["code"]) == (400, "url_not_allowed"), url
    hits = dict(Handler.hits)  # refused before any connection:
    await alice.get("/link-preview", params={"url": f"{site}/page?again"})
    assert Handler.hits == hits
    # a name that does not resolve fails fast, with the error clients ignore
    started = time.monotonic()
    r = await alice.get("/link-preview", params={"url": "http://no-such-host.invalid/page"})
    assert (r.status_code, r.json()["code"]) == (502, "preview_unavailable")
    assert time.monotonic() - started < 4


def test_address_classes_and_redirect_recheck() -> None:
    for addr in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                 "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.251", "ff02::1"):
        assert not previews.is_public(addr), addr
    for addr in ("93.184.216.34", "2606:4700::6810:85e5", "1.1.1.1"):
        assert previews.is_public(addr), addr



def test_redirect_target_is_checked_again(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that passes the guard redirects to one that does not: refused at the second hop.

    Here 127.0.0.1 stands in for a public address (the guard's predicate treats only it as
    public) and 127.0.0.2 for a private one; the names come from a fixed resolver."""
    port = int(site.rsplit(":", 1)[1])
    Handler.redirect_to = f"http://inside.example:{port}/page"
    names = {"public.example": ["127.0.0.1"], "inside.example": ["127.0.0.2"]}
    calls: list[str] = []

    def resolver(host: str, _port: int) -> list[str]:
        calls.append(host)
        return names[host]

    monkeypatch.setattr(previews, "is_public", lambda a: a == "127.0.0.1")
    with pytest.raises(previews.PreviewError) as err:
        previews.fetch(f"http://public.example:{port}/hop", allow_private=False, timeout=2, max_bytes=10_000,
                       max_redirects=3, resolver=resolver)
    assert err.value.code == "url_not_allowed" and calls == ["public.example", "inside.example"]
    assert Handler.hits["/hop"] == 1 and "inside" not in str(Handler.hits)
    # the same hop with the private name allowed reaches the page (Host header kept)
    got = previews.fetch(f"http://public.example:{port}/hop", allow_private=True, timeout=2, max_bytes=10_000,
                         max_redirects=3, resolver=lambda h, p: ["127.0.0.1"])
    assert got["title"] == "LAN party & pizza" and Handler.hosts[-1] == f"inside.example:{port}"


async def test_previews_can_be_turned_off(nursery: trio.Nursery, tmp_path: Path) -> None:
    running = await start(nursery, tmp_path, link_previews={"enabled": False})
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        r = await alice.get("/link-preview", params={"url": "https://example.org/"})
        assert (r.status_code, r.json()["code"]) == (404, "feature_disabled")
        assert "link_previews" in r.json()["message"]
    finally:
        await users.close()
        running.shutdown()


async def test_gif_search_off_without_key(shared: Running, users: Users) -> None:
    alice = await users.new("alice")
    r = await alice.get("/giphy/search", params={"q": "cat"})
    assert (r.status_code, r.json()["code"]) == (404, "feature_disabled")
    assert "api_key" in r.json()["message"]


async def test_gif_search_with_key(nursery: trio.Nursery, tmp_path: Path, site: str) -> None:
    running = await start(nursery, tmp_path, giphy={"api_key": "test-key", "base_url": site})
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        r = await alice.get("/giphy/search", params={"q": "party", "limit": "3"})
        assert r.status_code == 200, r.text
        assert r.json()[0] == {"url": "https://media.example/0.gif", "preview_url": "https://media.example/0s.gif",
                               "title": "party 0", "width": 200, "height": 150}
        assert len(r.json()) == 3
        assert len((await alice.get("/giphy/search", params={"q": "party"})).json()) == 15
        for params in ({"q": ""}, {"q": "x", "limit": "0"}, {"q": "x", "limit": "51"}, {"q": "x", "limit": "many"}):
            assert (await alice.get("/giphy/search", params=params)).status_code == 400
    finally:
        await users.close()
        running.shutdown()
