"""The bundled web client (issue 11): its HTML shell at ``/`` and its files under ``/app/``.

The client is plain files shipped as package data in ``together_server/web/`` (ES modules,
CSS, the vendored view library): no build step, nothing fetched from other hosts. These
routes are not API operations (API.md §1.1: the root and non-API paths belong to the web
client), so they are not in openapi.yaml; they need no credentials and are not rate
limited (a first load is some 30 small files).

Every answer carries the app's security headers: a strict Content-Security-Policy
(``default-src 'self'``, no inline script, no ``eval``), ``X-Frame-Options: DENY``,
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``. Files are
revalidated by ETag (``Cache-Control: no-cache``), so an upgrade shows at the next load.
Unknown files get the API's ``404 not_found`` body.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Any

import trio
from quart import Blueprint, Response, request

from ..errors import ApiError
from .common import route

bp = Blueprint("web", __name__)

#: The Content-Security-Policy of the app. ``'self'`` covers the same-origin ``ws:``/``wss:``
#: gateway; ``blob:``/``data:`` images are local previews (pasted or dropped files) and
#: ``blob:`` media is voice/video from peers (issue 14).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}

_assets: dict[str, tuple[bytes, str, str]] | None = None


def load_assets() -> dict[str, tuple[bytes, str, str]]:
    """Every servable file of the package's ``web/`` folder: relative path -> (bytes, type, ETag).

    Only files with a type in ``TYPES`` are served (licences, ``update.sh`` are not). Blocking:
    call it from a worker thread.
    """
    out: dict[str, tuple[bytes, str, str]] = {}
    root = files("together_server") / "web"

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
                continue
            ext = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
            if ext in TYPES:
                data = child.read_bytes()
                out[name] = (data, TYPES[ext], '"' + hashlib.sha256(data).hexdigest()[:20] + '"')

    walk(root, "")
    return out


async def assets() -> dict[str, tuple[bytes, str, str]]:
    """The asset table, read from the package once (off the event loop) and then cached."""
    global _assets
    if _assets is None:
        _assets = await trio.to_thread.run_sync(load_assets)
    return _assets


def _answer(entry: tuple[bytes, str, str]) -> Response:
    data, ctype, etag = entry
    headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    return Response(data, status=200, content_type=ctype, headers=headers)


@route(bp, "/", ["GET"], auth="none")
async def index() -> Response:
    """GET / (no auth): the web client's HTML shell; 200 ``text/html`` with the CSP headers."""
    return _answer((await assets())["index.html"])


@route(bp, "/app/<path:name>", ["GET"], auth="none")
async def asset(name: str) -> Response:
    """GET /app/<file> (no auth): one file of the client (JS, CSS, icons); 404 ``not_found`` otherwise."""
    entry = (await assets()).get(name)
    if entry is None:
        raise ApiError("not_found")
    return _answer(entry)
