"""Invites: create, list, revoke, preview, accept (API.md §4.3)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..clock import now_ts
from ..errors import ApiError
from ..storage import servers as store
from ..validation import F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("invites", __name__)

CREATE = [
    F("max_uses", "int", nullable=True, min=1),
    F("expires_in_hours", "int", nullable=True, min=1, max=720),
]


def _code(code: str) -> str:
    if not (len(code) == 8 and code.isascii() and code.isalnum()):
        raise ApiError("unknown_invite")
    return code


@route(bp, "/servers/<server_id>/invites", ["POST"])
async def create_invite(server_id: str) -> Response:
    """POST /servers/:id/invites: create an invite (max_uses, expires_in_hours); 201 Invite (API.md §4.3)."""
    args = await body(CREATE, strict=True)
    sid = path_id(server_id, "unknown_server")
    uid = caller().user_id
    max_uses, hours = args["max_uses"] or None, args["expires_in_hours"] or None
    return json(await state().db.write(lambda tx: store.create_invite(tx, sid, uid, max_uses, hours)), 201)


@route(bp, "/servers/<server_id>/invites", ["GET"])
async def list_invites(server_id: str) -> Response:
    """GET /servers/:id/invites: every invite of the server, newest first; 200 [Invite] (API.md §4.3)."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_invites, sid, caller().user_id))


@route(bp, "/servers/<server_id>/invites/<invite_id>", ["DELETE"])
async def delete_invite(server_id: str, invite_id: str) -> Response:
    """DELETE /servers/:id/invites/:invite_id: delete an invite; 204 (API.md §4.3)."""
    sid = path_id(server_id, "unknown_server")
    iid = path_id(invite_id, "unknown_invite")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete_invite(tx, sid, iid, uid))
    return no_content()


@route(bp, "/invites/<code>", ["GET"])
async def preview(code: str) -> Response:
    """GET /invites/:code: preview a live invite; 200 ``{code, server_id, server_name, ...}`` (API.md §4.3)."""
    return json(await state().db.read(store.preview_invite, _code(code), now_ts()))


@route(bp, "/invites/<code>/accept", ["POST"])
async def accept(code: str) -> Response:
    """POST /invites/:code/accept: join through the invite; 201 ``{message, server_id}`` (API.md §4.3)."""
    c = _code(code)
    st, uid = state(), caller().user_id
    sid = await st.db.write(lambda tx: store.accept_invite(tx, c, uid, st.is_online))
    return json({"message": "Joined server", "server_id": sid}, 201)
