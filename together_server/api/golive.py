"""Go Live (issue 12): ``/channels/:id/go-live`` start, look, stop."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import ApiError
from ..storage import golive as store
from ..validation import UNSET, F
from .common import caller, json, no_content, optional_body, path_id, route, state

bp = Blueprint("golive", __name__)

START = [F("quality", "enum", choices=store.QUALITIES)]
PATH = "/channels/<channel_id>/go-live"


@route(bp, PATH, ["POST"])
async def start(channel_id: str) -> Response:
    """POST /channels/:id/go-live: optional *strict* ``quality`` (default 720p); 201 GoLiveSession
    when it starts, 200 when the caller was already live here (quality re-set)."""
    args = await optional_body(START, strict=True)
    quality = "720p" if args["quality"] in (UNSET, None) else args["quality"]
    cid = path_id(channel_id, "unknown_channel")
    uid = caller().user_id
    data, started = await state().db.write(lambda tx: store.start(tx, cid, uid, quality))
    return json(data, 201 if started else 200)


@route(bp, PATH, ["GET"])
async def look(channel_id: str) -> Response:
    """GET /channels/:id/go-live: 200 the earliest running GoLiveSession plus ``streams`` (all of
    them, earliest first); 404 ``not_live`` when nobody streams here."""
    cid = path_id(channel_id, "unknown_channel")
    found = await state().db.read(store.streams, cid, caller().user_id)
    if not found:
        raise ApiError("not_live")
    return json({**found[0], "streams": found})


@route(bp, PATH, ["DELETE"])
async def stop(channel_id: str) -> Response:
    """DELETE /channels/:id/go-live: the caller's stream here ends; 204."""
    cid = path_id(channel_id, "unknown_channel")
    uid = caller().user_id
    await state().db.write(lambda tx: store.stop(tx, cid, uid))
    return no_content()
