"""Channels, flat and nested forms (API.md §3.4)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import invalid
from ..storage import channels as store
from ..validation import UNSET, F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("channels", __name__)

CREATE = [
    F("name", required=True, min=1, max=100, visible=True),
    F("type", "enum", required=True, choices=("text", "voice")),
    F("topic", nullable=True, max=1024),
    F("category", nullable=True, max=100),
]
PATCH = [
    F("name", min=1, max=100, visible=True),
    F("topic", nullable=True, max=1024),
    F("category", nullable=True, max=100),
    F("position", "int", min=0),
    F("type", "any"),
]


def _ids(channel_id: str, server_id: str | None) -> tuple[str, str | None]:
    sid = path_id(server_id, "unknown_server") if server_id is not None else None
    return path_id(channel_id, "unknown_channel"), sid


@route(bp, "/servers/<server_id>/channels", ["GET"])
async def list_channels(server_id: str) -> Response:
    """GET /servers/:server_id/channels: channels the caller can view; 200 [Channel] (API.md §3.4)."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_channels, sid, caller().user_id))


@route(bp, "/servers/<server_id>/channels", ["POST"])
async def create_channel(server_id: str) -> Response:
    """POST /servers/:server_id/channels: create a channel; 201 Channel (API.md §3.4)."""
    args = await body(CREATE)
    sid = path_id(server_id, "unknown_server")
    st, uid = state(), caller().user_id
    fields = {k: v for k, v in args.items() if v is not UNSET}
    limit = st.config.limits.channels_per_server
    return json(await st.db.write(lambda tx: store.create_channel(tx, sid, uid, fields, limit)), 201)


@route(bp, ["/channels/<channel_id>", "/servers/<server_id>/channels/<channel_id>"], ["GET"])
async def get_channel(channel_id: str, server_id: str | None = None) -> Response:
    """GET /channels/:id and GET /servers/:server_id/channels/:channel_id: one viewable channel; 200 Channel (API.md §3.4)."""
    cid, sid = _ids(channel_id, server_id)
    return json(await state().db.read(store.get_channel, cid, caller().user_id, sid))


@route(bp, ["/channels/<channel_id>", "/servers/<server_id>/channels/<channel_id>"], ["PATCH"])
async def update_channel(channel_id: str, server_id: str | None = None) -> Response:
    """PATCH /channels/:id (flat or nested form): edit name/topic/category/position; 200 Channel (API.md §3.4)."""
    args = await body(PATCH, patch=True)
    if args.pop("type") is not UNSET:
        raise invalid({"type": "cannot be changed"})
    cid, sid = _ids(channel_id, server_id)
    changes = {k: v for k, v in args.items() if v is not UNSET}
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.update_channel(tx, cid, uid, sid, changes)))


@route(bp, ["/channels/<channel_id>", "/servers/<server_id>/channels/<channel_id>"], ["DELETE"])
async def delete_channel(channel_id: str, server_id: str | None = None) -> Response:
    """DELETE /channels/:id (flat or nested form): delete the channel and its messages; 204 (API.md §3.4)."""
    cid, sid = _ids(channel_id, server_id)
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete_channel(tx, cid, uid, sid))
    return no_content()
