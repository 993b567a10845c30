"""Roles and member roles (API.md §4.4)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..permissions import ALL
from ..storage import roles as store
from ..validation import UNSET, F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("roles", __name__)

MAX_POSITION = 2**31 - 1


def _fields(required_name: bool) -> list[F]:
    return [
        F("name", required=required_name, min=1, max=100, visible=True),
        F("permissions", "int", min=0, max=ALL),
        F("color", "color", nullable=True),
        F("position", "int", min=0, max=MAX_POSITION),
    ]


CREATE = _fields(True)
PATCH = _fields(False)


@route(bp, "/servers/<server_id>/roles", ["GET"])
async def list_roles(server_id: str) -> Response:
    """GET /servers/:id/roles: the server's roles, highest position first; 200 [Role] (API.md §4.4)."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_roles, sid, caller().user_id))


@route(bp, "/servers/<server_id>/roles", ["POST"])
async def create_role(server_id: str) -> Response:
    """POST /servers/:id/roles: create a role; 201 Role (API.md §4.4)."""
    args = await body(CREATE, strict=True)
    sid = path_id(server_id, "unknown_server")
    st, uid = state(), caller().user_id
    fields = {k: v for k, v in args.items() if v is not UNSET}
    limit = st.config.limits.roles_per_server
    return json(await st.db.write(lambda tx: store.create_role(tx, sid, uid, fields, limit)), 201)


@route(bp, "/servers/<server_id>/roles/<role_id>", ["PATCH"])
async def update_role(server_id: str, role_id: str) -> Response:
    """PATCH /servers/:id/roles/:role_id: edit a role; 200 Role (API.md §4.4)."""
    args = await body(PATCH, strict=True, patch=True)
    sid = path_id(server_id, "unknown_server")
    rid = path_id(role_id, "unknown_role")
    uid = caller().user_id
    changes = {k: v for k, v in args.items() if v is not UNSET}
    return json(await state().db.write(lambda tx: store.update_role(tx, sid, rid, uid, changes)))


@route(bp, "/servers/<server_id>/roles/<role_id>", ["DELETE"])
async def delete_role(server_id: str, role_id: str) -> Response:
    """DELETE /servers/:id/roles/:role_id: delete a role; 204 (API.md §4.4)."""
    sid = path_id(server_id, "unknown_server")
    rid = path_id(role_id, "unknown_role")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete_role(tx, sid, rid, uid))
    return no_content()


def _member_role_ids(server_id: str, user_id: str, role_id: str) -> tuple[str, str, str]:
    # §1.3: the first malformed segment decides: server, then member, then role
    return (path_id(server_id, "unknown_server"), path_id(user_id, "unknown_member"),
            path_id(role_id, "unknown_role"))


@route(bp, "/servers/<server_id>/members/<user_id>/roles/<role_id>", ["PUT"])
async def assign_role(server_id: str, user_id: str, role_id: str) -> Response:
    """PUT /servers/:id/members/:user_id/roles/:role_id: give a member a role (idempotent); 204 (API.md §4.4)."""
    sid, target, rid = _member_role_ids(server_id, user_id, role_id)
    uid = caller().user_id
    await state().db.write(lambda tx: store.assign_role(tx, sid, target, rid, uid))
    return no_content()


@route(bp, "/servers/<server_id>/members/<user_id>/roles/<role_id>", ["DELETE"])
async def remove_role(server_id: str, user_id: str, role_id: str) -> Response:
    """DELETE /servers/:id/members/:user_id/roles/:role_id: take a role from a member (idempotent); 204 (API.md §4.4)."""
    sid, target, rid = _member_role_ids(server_id, user_id, role_id)
    uid = caller().user_id
    await state().db.write(lambda tx: store.remove_role(tx, sid, target, rid, uid))
    return no_content()
