"""Scheduled events (issue 12): create in a channel, list a server's."""

from __future__ import annotations

from quart import Blueprint, Response

from ..clock import now_ts
from ..storage import events as store
from ..validation import UNSET, F
from .common import body, caller, created, json, path_id, route, state

bp = Blueprint("events", __name__)

CREATE = [
    F("name", required=True, min=1, max=200, visible=True),
    F("description", nullable=True, max=2000),
    F("starts_at", "ts", required=True),
    F("ends_at", "ts", nullable=True),
]


@route(bp, "/channels/<channel_id>/events", ["POST"])
async def create_event(channel_id: str) -> Response:
    """POST /channels/:id/events: name, description?, starts_at, ends_at?; 201 Message with ``event``."""
    args = await body(CREATE)
    cid = path_id(channel_id, "unknown_channel")
    uid = caller().user_id
    desc = None if args["description"] is UNSET else args["description"]
    ends = None if args["ends_at"] is UNSET else args["ends_at"]
    name, starts = args["name"], args["starts_at"]
    return created(await state().db.write(lambda tx: store.create(tx, cid, uid, name, desc, starts, ends)))


@route(bp, "/servers/<server_id>/events", ["GET"])
async def list_events(server_id: str) -> Response:
    """GET /servers/:id/events: upcoming first, then past; 200 [ServerEvent]."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_events, sid, caller().user_id, now_ts()))
