"""Reactions (API.md §4.9).

The ``:emoji`` segment is read from the RAW request path and percent-decoded there, so
``%2F`` is part of the emoji rather than a separator (Werkzeug sees the decoded path, in
which ``a%2Fb`` looks like two segments). The two rules below only get the request to
these handlers; :func:`_tail` re-splits the raw path and decides between "own reaction"
(one segment after ``reactions``) and "another user's reaction" (two segments).

Importing ``storage.reactions`` registers the Message ``reactions`` loader.
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from werkzeug.routing import PathConverter

from ..errors import ApiError
from ..ids import normalize_uuid
from ..storage import reactions as store
from .common import caller, json, no_content, path_id, route, state

bp = Blueprint("reactions", __name__)


class EmojiConverter(PathConverter):
    """Like ``path`` but also across line breaks: an emoji holding LF/CR must reach the
    handler to be refused with 400 (§4.9), not fall through as an unknown path."""

    regex = r"[^/][\s\S]*?"


bp.record_once(lambda setup: setup.app.url_map.converters.setdefault("emoji", EmojiConverter))

BASE = "/channels/<channel_id>/messages/<message_id>/reactions"


def _tail() -> list[str]:
    """The raw (still percent-encoded) segments after ``/reactions/``: one or two, each
    non-empty; anything else is an unknown path (404 not_found)."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes | bytearray) else request.path
    path = path.split("?", 1)[0]
    parts = path.split("/")
    try:
        at = parts.index("reactions", 5)
    except ValueError:
        raise ApiError("not_found") from None
    tail = parts[at + 1:]
    if not 1 <= len(tail) <= 2 or any(not seg for seg in tail):
        raise ApiError("not_found")
    return tail


@route(bp, BASE, ["GET"])
async def list_reactions(channel_id: str, message_id: str) -> Response:
    """GET /channels/:channel_id/messages/:message_id/reactions: by first use; 200 ``[{emoji, count, me}]`` (API.md §4.9)."""
    cid = path_id(channel_id, "unknown_channel")
    mid = path_id(message_id, "unknown_message")
    return json(await state().db.read(store.list_reactions, cid, mid, caller().user_id))


@route(bp, BASE + "/<emoji:emoji>", ["GET", "PUT", "DELETE"])
async def reaction(channel_id: str, message_id: str, emoji: str) -> Response:
    """GET/PUT/DELETE ``…/reactions/:emoji`` (and, when the decoded emoji held a ``/``, the
    two-segment form below, told apart by the raw path). GET (extension, issue 11): 200
    ``[{id, username, avatar_url, is_bot}]``, who reacted with it, by username (≤ 100)."""
    if request.method == "GET":
        tail = _tail()
        if len(tail) != 1:
            raise ApiError("method_not_allowed", headers={"Allow": "DELETE"})
        cid = path_id(channel_id, "unknown_channel")
        mid = path_id(message_id, "unknown_message")
        em = store.parse_emoji(tail[0])
        return json(await state().db.read(store.list_users, cid, mid, caller().user_id, em))
    return await _reaction(channel_id, message_id)


@route(bp, BASE + "/<path:emoji>/<user_id>", ["DELETE"])
async def user_reaction(channel_id: str, message_id: str, emoji: str, user_id: str) -> Response:
    """DELETE ``…/reactions/:emoji/:user_id``."""
    return await _reaction(channel_id, message_id)


async def _reaction(channel_id: str, message_id: str) -> Response:
    tail = _tail()
    if len(tail) == 2 and request.method != "DELETE":
        raise ApiError("method_not_allowed", headers={"Allow": "DELETE"})
    cid = path_id(channel_id, "unknown_channel")
    mid = path_id(message_id, "unknown_message")
    em = store.parse_emoji(tail[0])
    target = None
    if len(tail) == 2:
        target = normalize_uuid(tail[1])
        if target is None:
            raise ApiError("unknown_reaction")
    st, uid = state(), caller().user_id
    if request.method == "PUT":
        limit = st.config.limits.reactions_per_message
        await st.db.write(lambda tx: store.add(tx, cid, mid, uid, em, limit))
    else:
        await st.db.write(lambda tx: store.remove(tx, cid, mid, uid, em, target))
    return no_content()
