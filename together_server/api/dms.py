"""Direct messages (API.md §4.8)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..storage import dms as store
from ..text import has_visible
from ..validation import F
from . import attachments
from .common import body, caller, json, no_content, path_id, route, state
from .messages import POST_CONTENT, page_args

bp = Blueprint("dms", __name__)

OPEN = [F("user_id", "uuid", required=True)]
POST = [POST_CONTENT]


@route(bp, "/dm-channels", ["POST"])
async def open_dm() -> Response:
    """POST /dm-channels: open (or find) the DM with ``user_id``; 201 DmChannel if new, else 200 (API.md §4.8)."""
    args = await body(OPEN)
    st, uid = state(), caller().user_id
    target = args["user_id"]
    data, created = await st.db.write(lambda tx: store.open_dm(tx, uid, target, st.is_online))
    return json(data, 201 if created else 200)


@route(bp, "/dm-channels", ["GET"])
async def list_dms() -> Response:
    """GET /dm-channels: the caller's DM channels, most recent message first; 200 [DmChannel] (API.md §4.8)."""
    st = state()
    return json(await st.db.read(store.list_dm_channels, caller().user_id, st.is_online))


@route(bp, "/dm-channels/<dm_id>/messages", ["GET"])
async def list_dm_messages(dm_id: str) -> Response:
    """GET /dm-channels/:id/messages: cursor page (before/after/limit), newest first; 200 [DirectMessage] (API.md §4.8, §3.5)."""
    before, after, limit = page_args()
    did = path_id(dm_id, "unknown_channel")
    return json(await state().db.read(store.list_dm_messages, did, caller().user_id, before, after, limit))


@route(bp, "/dm-channels/<dm_id>/messages", ["POST"])
async def post_dm(dm_id: str) -> Response:
    """POST /dm-channels/:id/messages: send a DM; 201 DirectMessage (API.md §4.8).

    A ``multipart/form-data`` body sends the message and its files in one step (issue 10).
    """
    did = path_id(dm_id, "unknown_channel")
    uid = caller().user_id
    st = state()
    if attachments.is_multipart():
        form, content, _reply = await attachments.read_post_form(
            lambda: st.db.read(store.need_participant, did, uid))
        attach = attachments.attach_in_job(form, uid)
        return json(await attachments.commit_uploads(
            form, lambda tx: store.post_dm(tx, did, uid, content, attach=attach)), 201)
    args = await body(POST)
    content = args["content"]
    pending = not has_visible(content)
    return json(await st.db.write(lambda tx: store.post_dm(tx, did, uid, content, pending=pending)), 201)


@route(bp, "/dm-channels/<dm_id>/messages/<message_id>", ["DELETE"])
async def delete_dm_message(dm_id: str, message_id: str) -> Response:
    """DELETE /dm-channels/:id/messages/:message_id: the author blanks their DM; 204 (API.md §4.8, extension)."""
    did = path_id(dm_id, "unknown_channel")
    mid = path_id(message_id, "unknown_message")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete_dm_message(tx, did, mid, uid))
    return no_content()
