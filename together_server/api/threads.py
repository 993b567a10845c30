"""Threads (issue 12): replies to a root message, listed and posted under the root."""

from __future__ import annotations

from quart import Blueprint, Response

from ..storage import threads as store
from ..validation import F
from .common import body, caller, created, json, path_id, route, state
from .messages import CONTENT, page_args

bp = Blueprint("threads", __name__)

REPLY = [CONTENT, F("reply_to", "uuid", nullable=True)]
BASE = "/channels/<channel_id>/messages/<message_id>/thread"


@route(bp, BASE, ["GET"])
async def list_replies(channel_id: str, message_id: str) -> Response:
    """GET …/messages/:message_id/thread: the root's replies, oldest first (before/after/limit); 200 [Message]."""
    before, after, limit = page_args()
    cid = path_id(channel_id, "unknown_channel")
    mid = path_id(message_id, "unknown_message")
    return json(await state().db.read(store.list_replies, cid, mid, caller().user_id, before, after, limit))


@route(bp, BASE, ["POST"])
async def post_reply(channel_id: str, message_id: str) -> Response:
    """POST …/messages/:message_id/thread: a reply (content, reply_to?); 201 Message with ``thread_id``."""
    args = await body(REPLY)
    cid = path_id(channel_id, "unknown_channel")
    mid = path_id(message_id, "unknown_message")
    uid = caller().user_id
    content, reply_to = args["content"], args["reply_to"] or None
    return created(await state().db.write(lambda tx: store.post_reply(tx, cid, mid, uid, content, reply_to)))
