"""Custom emoji (issue 12): list, upload (multipart ``name`` + ``image``), delete, and the
image itself at ``GET /emojis/:emoji_id`` (no Authorization: an ``<img>`` cannot send one).

The upload reuses the attachments pipeline (issue 10): the bytes go to a temp file of the
blob store, their type is sniffed from magic numbers (never the name or the client's
Content-Type), the image header is checked against ``attachments.max_image_pixels``
before anything is decoded, metadata is stripped, and the blob is moved into place by the
write job that commits the row. Emoji-specific limits: PNG, JPEG, GIF or WebP, at most
:data:`MAX_BYTES` and :data:`MAX_SIDE` pixels a side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import trio
from quart import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import ApiError, invalid
from ..files import images, sniff
from ..storage import emojis as store
from ..storage.blobs import hash_file
from .common import caller, json, no_content, path_id, route, state

bp = Blueprint("emojis", __name__)

MAX_BYTES = 256 * 1024
MAX_SIDE = 1024
TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


@attrs.define
class EmojiImage:
    """An accepted image in the blob store's temp folder (what ``storage.emojis.create`` needs)."""

    temp: Path
    sha256: str = ""
    size: int = 0
    mime: str = ""
    width: int | None = None
    height: int | None = None
    extra: list[Path] = attrs.field(factory=list)


def _check(svc: Any, raw: bytes) -> EmojiImage:
    """In a worker thread: write, sniff, probe, strip metadata, hash. Raises 400 (errors.image)."""
    fh, temp = svc.store.open_temp()
    with fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    img = EmojiImage(temp)
    try:
        mime = sniff.sniff(temp)
        if mime not in TYPES:
            raise invalid({"image": f"must be a PNG, JPEG, GIF or WebP image (got {mime or 'unknown data'})"})
        try:
            info = images.probe_image(temp, svc.cfg.max_image_pixels, expect=TYPES[mime])
        except images.ImageRefused as exc:
            raise invalid({"image": str(exc)}) from None
        if info.width > MAX_SIDE or info.height > MAX_SIDE:
            raise invalid({"image": f"must be at most {MAX_SIDE}x{MAX_SIDE} pixels"})
        try:
            prepared = images.prepare_image(temp, info, svc.store.tmp, thumbnail=False)
        except images.ImageRefused as exc:
            raise invalid({"image": str(exc)}) from None
        if prepared.path != temp:
            img.extra.append(temp)
            img.temp = prepared.path
        img.mime, img.width, img.height = mime, prepared.width, prepared.height
        img.sha256, img.size = hash_file(img.temp)
    except BaseException:
        svc.store.discard(img.temp, *img.extra)
        raise
    return img


@route(bp, "/servers/<server_id>/emojis", ["GET"])
async def list_emojis(server_id: str) -> Response:
    """GET /servers/:id/emojis: 200 [CustomEmoji] (members; 404 ``unknown_server`` otherwise)."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_emojis, sid, caller().user_id))


@route(bp, "/servers/<server_id>/emojis", ["POST"])
async def create_emoji(server_id: str) -> Response:
    """POST /servers/:id/emojis (multipart ``name``, ``image``): 201 CustomEmoji; MANAGE_EMOJIS."""
    sid = path_id(server_id, "unknown_server")
    st, uid = state(), caller().user_id
    limit = st.config.limits.emojis_per_server
    await st.db.read(store.can_create, sid, uid, limit)
    if request.mimetype != "multipart/form-data":
        raise invalid({"Content-Type": "must be multipart/form-data with the fields name and image"})
    try:
        form = await request.form
        files = await request.files
    except RequestEntityTooLarge:
        raise ApiError("payload_too_large", headers={"Connection": "close"}) from None
    name = form.get("name", "")
    if not store.NAME_RE.match(name):
        raise invalid({"name": "must be 2-32 characters of a-z, 0-9, _ and -"})
    part = files.get("image")
    if part is None:
        raise invalid({"image": "is required (a file part)"})
    raw = part.read(MAX_BYTES + 1)
    if not raw:
        raise invalid({"image": "is empty"})
    if len(raw) > MAX_BYTES:
        raise invalid({"image": f"must be at most {MAX_BYTES} bytes"})
    svc = st.files
    img = await trio.to_thread.run_sync(_check, svc, raw)
    try:
        data = await st.db.write(lambda tx: store.create(tx, sid, uid, name, img, limit, svc.store.commit))
    finally:  # after a commit the temp file is the blob (gone from tmp); after a refusal it goes
        await trio.to_thread.run_sync(svc.store.discard, img.temp, *img.extra)
    return json(data, 201)


@route(bp, "/servers/<server_id>/emojis/<emoji_id>", ["DELETE"])
async def delete_emoji(server_id: str, emoji_id: str) -> Response:
    """DELETE /servers/:id/emojis/:emoji_id: 204; MANAGE_EMOJIS."""
    sid = path_id(server_id, "unknown_server")
    eid = path_id(emoji_id, "unknown_emoji")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete(tx, sid, eid, uid))
    return no_content()


@route(bp, "/emojis/<emoji_id>", ["GET"], auth="none")
async def image(emoji_id: str) -> Response:
    """GET /emojis/:emoji_id (no auth): the image bytes, cached for a year (an id's image never changes)."""
    eid = path_id(emoji_id, "unknown_emoji")
    st = state()
    row = await st.db.read(store.for_serving, eid)
    if row is None:
        raise ApiError("unknown_emoji")
    etag = f'"{row["sha256"]}"'
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'inline; filename="{row["name"]}"',
    }
    if request.headers.get("If-None-Match") == etag:
        return Response(b"", status=304, headers=headers)
    path = st.files.store.path(row["sha256"])
    try:
        body = await trio.to_thread.run_sync(path.read_bytes)
    except FileNotFoundError:
        raise ApiError("unknown_emoji") from None
    return Response(body, status=200, content_type=row["content_type"], headers=headers)
