"""Membership: join, leave, member list (API.md §4.2, first half)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..clock import now_ts
from ..storage import servers as store
from .common import caller, json, no_content, path_id, route, state

bp = Blueprint("members", __name__)


@route(bp, "/servers/<server_id>/join", ["POST"])
async def join(server_id: str) -> Response:
    """POST /servers/:id/join: join a public server; 201 ``{message: "Joined server", server_id}`` (API.md §4.2)."""
    sid = path_id(server_id, "unknown_server")
    st, uid = state(), caller().user_id
    await st.db.write(lambda tx: store.join(tx, sid, uid, st.is_online))
    return json({"message": "Joined server", "server_id": sid}, 201)


@route(bp, "/servers/<server_id>/leave", ["DELETE"])
async def leave(server_id: str) -> Response:
    """DELETE /servers/:id/leave: leave a server (not the owner); 204 (API.md §4.2)."""
    sid = path_id(server_id, "unknown_server")
    uid = caller().user_id
    await state().db.write(lambda tx: store.leave(tx, sid, uid))
    return no_content()


@route(bp, "/servers/<server_id>/members", ["GET"])
async def members(server_id: str) -> Response:
    """GET /servers/:id/members: every member, earliest joined first; 200 [Member] (API.md §4.2)."""
    sid = path_id(server_id, "unknown_server")
    st = state()
    return json(await st.db.read(store.members_for_member, sid, caller().user_id, now_ts(), st.is_online))
