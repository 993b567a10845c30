"""Kick, ban, unban, bans list, timeouts (API.md §4.2)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..storage import moderation as store
from ..validation import F
from .common import body, caller, json, no_content, optional_body, path_id, route, state

bp = Blueprint("moderation", __name__)

REASON = F("reason", nullable=True, max=512)
TIMEOUT = [F("duration_minutes", "int", required=True, min=1, max=40320), REASON]


@route(bp, "/servers/<server_id>/members/<user_id>/kick", ["POST"])
async def kick(server_id: str, user_id: str) -> Response:
    """POST /servers/:id/members/:user_id/kick: remove a member (optional reason); 204 (API.md §4.2)."""
    reason = (await optional_body([REASON], strict=True)).get("reason") or None
    sid, target = path_id(server_id, "unknown_server"), path_id(user_id, "unknown_member")
    uid = caller().user_id
    await state().db.write(lambda tx: store.kick(tx, sid, target, uid, reason))
    return no_content()


@route(bp, "/servers/<server_id>/members/<user_id>/ban", ["POST"])
async def ban(server_id: str, user_id: str) -> Response:
    """POST /servers/:id/members/:user_id/ban: ban a user, member or not (optional reason); 204 (API.md §4.2)."""
    reason = (await optional_body([REASON], strict=True)).get("reason") or None
    sid, target = path_id(server_id, "unknown_server"), path_id(user_id, "unknown_user")
    uid = caller().user_id
    await state().db.write(lambda tx: store.ban(tx, sid, target, uid, reason))
    return no_content()


@route(bp, "/servers/<server_id>/bans", ["GET"])
async def list_bans(server_id: str) -> Response:
    """GET /servers/:id/bans: the server's bans, newest first; 200 [Ban] (API.md §4.2)."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_bans, sid, caller().user_id))


@route(bp, "/servers/<server_id>/bans/<user_id>", ["DELETE"])
async def unban(server_id: str, user_id: str) -> Response:
    """DELETE /servers/:id/bans/:user_id: lift a ban (also when none); 204 (API.md §4.2)."""
    # A malformed user id names nobody; §1.3 gives it the user segment's 404.
    sid, target = path_id(server_id, "unknown_server"), path_id(user_id, "unknown_user")
    uid = caller().user_id
    await state().db.write(lambda tx: store.unban(tx, sid, target, uid))
    return no_content()


@route(bp, "/servers/<server_id>/members/<user_id>/timeout", ["POST"])
async def set_timeout(server_id: str, user_id: str) -> Response:
    """POST /servers/:id/members/:user_id/timeout: time out a member for duration_minutes; 200 Timeout (API.md §4.2)."""
    args = await body(TIMEOUT, strict=True)
    sid, target = path_id(server_id, "unknown_server"), path_id(user_id, "unknown_member")
    uid = caller().user_id
    minutes, reason = args["duration_minutes"], args["reason"] or None
    return json(await state().db.write(lambda tx: store.set_timeout(tx, sid, target, uid, minutes, reason)))


@route(bp, "/servers/<server_id>/members/<user_id>/timeout", ["DELETE"])
async def remove_timeout(server_id: str, user_id: str) -> Response:
    """DELETE /servers/:id/members/:user_id/timeout: end a running timeout (also when none); 204 (API.md §4.2)."""
    sid, target = path_id(server_id, "unknown_server"), path_id(user_id, "unknown_member")
    uid = caller().user_id
    await state().db.write(lambda tx: store.remove_timeout(tx, sid, target, uid))
    return no_content()
