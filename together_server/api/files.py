"""``GET /files/<attachment id>/<filename>?ex=&sig=[&size=thumb]``: serving attachment
bytes safely (issue 10). Also under ``/api/files/...`` (the one /api rule, app.py).

No Authorization header is needed (browsers send none with ``<img src>``): the signed
query is the credential (files/signing.py), checked before anything is looked up.
Answers carry the sniffed ``Content-Type``, ``X-Content-Type-Options: nosniff``,
``Content-Security-Policy: default-src 'none'; sandbox``, ``Content-Disposition`` inline
only for raster images, audio, video and PDF (``attachment`` with an RFC 6266
``filename*`` for everything else), a strong ``ETag`` (the SHA-256: bytes never change),
``Cache-Control: private, max-age=<seconds the signature has left>``, and support
``If-None-Match`` (304) and single ``Range`` requests (206 / 416).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Response, request

from ..errors import ApiError
from ..files.names import content_disposition
from ..ids import normalize_uuid
from ..storage import attachments as store
from .common import route, state

bp = Blueprint("files", __name__)

CHUNK = 256 * 1024
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
                          "application/pdf"})
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def is_inline(mime: str) -> bool:
    """Raster images, audio, video and PDF are shown in the browser; nothing else is."""
    return mime in INLINE_TYPES or mime.startswith(("audio/", "video/"))


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte of a single ``bytes=`` range; None = serve it all (several
    ranges, or a form we do not serve). Raises 416 for an unsatisfiable range."""
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        first = int(m.group(1))
        last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if m.group(2) and int(m.group(2)) < first:
            return None  # syntactically invalid: ignore it (RFC 9110 §14.2)
    else:
        n = int(m.group(2))
        if n == 0:
            raise ApiError("range_not_satisfiable", headers={"Content-Range": f"bytes */{size}"})
        first, last = max(0, size - n), size - 1
    if first >= size:
        raise ApiError("range_not_satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return first, last


async def _stream(path: Any, first: int, length: int) -> AsyncIterator[bytes]:
    f = await trio.to_thread.run_sync(open, path, "rb")
    try:
        await trio.to_thread.run_sync(f.seek, first)
        left = length
        while left > 0:
            chunk = await trio.to_thread.run_sync(f.read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        f.close()


@route(bp, "/files/<attachment_id>/<filename>", ["GET"], auth="none")
async def serve(attachment_id: str, filename: str) -> Response:
    """GET /files/:attachment_id/:filename?ex=&sig=: the file's bytes (issue 10).

    403 ``invalid_signature`` (missing, altered or expired), 404 ``not_found`` (no such
    attachment, or deleted), 416 ``range_not_satisfiable``; 200, 206 or 304 otherwise.
    """
    aid = normalize_uuid(attachment_id)
    if aid is None:
        raise ApiError("not_found")
    st = state()
    left = st.files_signer.check(aid, request.args.get("ex"), request.args.get("sig"))
    row = await st.db.read(store.for_serving, aid)
    if row is None:
        raise ApiError("not_found")
    sha, mime = row["sha256"], row["mime_type"]
    if request.args.get("size") == "thumb" and row["thumb_sha256"]:
        sha, mime = row["thumb_sha256"], row["thumb_type"]
    path = st.files.store.path(sha)
    try:
        size = (await trio.to_thread.run_sync(os.stat, path)).st_size
    except FileNotFoundError:
        raise ApiError("not_found") from None
    etag = f'"{sha}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={left}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": content_disposition("inline" if is_inline(mime) else "attachment", row["filename"]),
        "Accept-Ranges": "bytes",
        "Referrer-Policy": "no-referrer",
    }
    content_type = f"{mime}; charset=utf-8" if mime.startswith("text/") else mime
    inm = request.headers.get("If-None-Match")
    if inm is not None and (inm.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in inm.split(",")]):
        return Response(b"", status=304, headers=headers)
    first, length, status = 0, size, 200
    rng = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if rng and (if_range is None or if_range.strip() == etag):
        try:
            found = _parse_range(rng, size)
        except ApiError as exc:
            exc.headers.update(headers)
            raise
        if found is not None:
            first, last = found
            length, status = last - first + 1, 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(b"", status=status, headers=headers, content_type=content_type)
    resp = Response(_stream(path, first, length), status=status, headers=headers, content_type=content_type)
    return resp
