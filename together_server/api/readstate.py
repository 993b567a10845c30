"""Read state: acks (API.md §4.11). The counts are served in READY (§6.4) by the gateway,
which calls ``storage.readstate.unread_and_mentions``."""

from __future__ import annotations

from quart import Blueprint, Response

from ..storage import readstate as store
from ..validation import F
from .common import caller, no_content, optional_body, path_id, route, state

bp = Blueprint("readstate", __name__)

ACK = [F("message_id", "uuid", nullable=True)]


async def _message_id() -> str | None:
    """The optional body's ``message_id``; absent, ``null`` and ``""`` all mean "newest"."""
    args = await optional_body(ACK)
    return args["message_id"] or None


@route(bp, "/channels/<channel_id>/ack", ["POST"])
async def ack_channel(channel_id: str) -> Response:
    """POST /channels/:channel_id/ack: move the caller's read marker (optional message_id); 204 (API.md §4.11)."""
    mid = await _message_id()
    cid = path_id(channel_id, "unknown_channel")
    uid = caller().user_id
    await state().db.write(lambda tx: store.ack_channel(tx, cid, uid, mid))
    return no_content()


@route(bp, "/dm-channels/<dm_id>/ack", ["POST"])
async def ack_dm(dm_id: str) -> Response:
    """POST /dm-channels/:id/ack: move the caller's read marker in a DM (optional message_id); 204 (API.md §4.11)."""
    mid = await _message_id()
    did = path_id(dm_id, "unknown_channel")
    uid = caller().user_id
    await state().db.write(lambda tx: store.ack_dm(tx, did, uid, mid))
    return no_content()
