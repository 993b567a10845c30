"""Messages in server channels (API.md §3.5); a post may carry files (issue 10)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from .. import permissions as p
from ..errors import invalid
from ..ids import normalize_uuid
from ..storage import messages as store
from ..storage.access import need_bit, need_channel
from ..storage.automod import Blocked
from ..text import has_visible
from ..validation import F, query_int, query_uuid
from . import attachments
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("messages", __name__)

CONTENT = F("content", required=True, min=1, max=4000, visible=True)
# A post may have no visible character: the Together web client sends "\u200b" and then
# uploads the files; such a message stays hidden until they come (issue 10).
POST_CONTENT = F("content", required=True, min=1, max=4000)
POST = [POST_CONTENT, F("reply_to", "uuid", nullable=True)]
EDIT = [CONTENT]


def page_args() -> tuple[str | None, str | None, int]:
    """``before``, ``after`` and the clamped ``limit`` of a message list (§1.7)."""
    before = query_uuid(request.args, "before")
    after = query_uuid(request.args, "after")
    limit = max(1, min(100, query_int(request.args, "limit", 50)))
    return before, after, limit


@route(bp, "/channels/<channel_id>/messages", ["GET"])
async def list_messages(channel_id: str) -> Response:
    """GET /channels/:channel_id/messages: cursor page (before/after/limit), newest first; 200 [Message] (API.md §3.5)."""
    before, after, limit = page_args()
    cid = path_id(channel_id, "unknown_channel")
    return json(await state().db.read(store.list_messages, cid, caller().user_id, before, after, limit))


@route(bp, "/channels/<channel_id>/messages", ["POST"])
async def post_message(channel_id: str) -> Response:
    """POST /channels/:channel_id/messages: post a message (content, reply_to?); 201 Message (API.md §3.5).

    A ``multipart/form-data`` body posts the message and its files in one step (issue 10).
    """
    cid = path_id(channel_id, "unknown_channel")
    uid = caller().user_id
    st = state()
    if attachments.is_multipart():
        def check(conn):  # type: ignore[no-untyped-def]
            _chan, _ctx, eff = need_channel(conn, cid, uid)
            need_bit(eff, p.Permission.SEND_MESSAGES)

        form, text, reply = await attachments.read_post_form(lambda: st.db.read(check))
        reply_id = normalize_uuid(reply) if reply else None
        if reply and reply_id is None:
            await attachments.discard_form(form)
            raise invalid({"reply_to": "must be a message id"})
        attach = attachments.attach_in_job(form, uid)
        result = await attachments.commit_uploads(
            form, lambda tx: store.post(tx, cid, uid, text, reply_id, attach=attach))
    else:
        args = await body(POST)
        content, reply_to = args["content"], args["reply_to"] or None
        pending = not has_visible(content)
        result = await st.db.write(lambda tx: store.post(tx, cid, uid, content, reply_to, pending=pending))
    if isinstance(result, Blocked):
        raise result.error()
    return json(result, 201)


@route(bp, "/channels/<channel_id>/messages/<message_id>", ["GET"])
async def get_message(channel_id: str, message_id: str) -> Response:
    """GET /channels/:channel_id/messages/:message_id: one message; 200 Message (API.md §3.5)."""
    cid = path_id(channel_id, "unknown_channel")
    mid = path_id(message_id, "unknown_message")
    return json(await state().db.read(store.get_message, cid, mid, caller().user_id))


@route(bp, "/messages/<message_id>", ["PATCH"])
async def edit_message(message_id: str) -> Response:
    """PATCH /messages/:id: the author replaces the content; 200 Message (API.md §3.5)."""
    args = await body(EDIT)
    mid = path_id(message_id, "unknown_message")
    uid = caller().user_id
    result = await state().db.write(lambda tx: store.edit(tx, mid, uid, args["content"]))
    if isinstance(result, Blocked):
        raise result.error()
    return json(result)


@route(bp, "/messages/<message_id>", ["DELETE"])
async def delete_message(message_id: str) -> Response:
    """DELETE /messages/:id: soft-delete (author, owner or MANAGE_MESSAGES); 204 (API.md §3.5)."""
    mid = path_id(message_id, "unknown_message")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete(tx, mid, uid))
    return no_content()
