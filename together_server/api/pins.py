"""Pins (API.md §4.10)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..storage import pins as store
from .common import caller, json, no_content, path_id, route, state

bp = Blueprint("pins", __name__)


def _ids(channel_id: str, message_id: str) -> tuple[str, str]:
    return path_id(channel_id, "unknown_channel"), path_id(message_id, "unknown_message")


@route(bp, "/channels/<channel_id>/messages/<message_id>/pin", ["POST"])
async def pin(channel_id: str, message_id: str) -> Response:
    """POST /channels/:channel_id/messages/:message_id/pin: pin a message (no-op if pinned); 204 (API.md §4.10)."""
    cid, mid = _ids(channel_id, message_id)
    st, uid = state(), caller().user_id
    limit = st.config.limits.pins_per_channel
    await st.db.write(lambda tx: store.pin(tx, cid, mid, uid, limit))
    return no_content()


@route(bp, "/channels/<channel_id>/messages/<message_id>/pin", ["DELETE"])
async def unpin(channel_id: str, message_id: str) -> Response:
    """DELETE /channels/:channel_id/messages/:message_id/pin: unpin a message; 204 (API.md §4.10)."""
    cid, mid = _ids(channel_id, message_id)
    uid = caller().user_id
    await state().db.write(lambda tx: store.unpin(tx, cid, mid, uid))
    return no_content()


@route(bp, "/channels/<channel_id>/pinned-messages", ["GET"])
async def list_pins(channel_id: str) -> Response:
    """GET /channels/:channel_id/pinned-messages: most recently pinned first; 200 [Message] (API.md §4.10)."""
    cid = path_id(channel_id, "unknown_channel")
    return json(await state().db.read(store.list_pins, cid, caller().user_id))
