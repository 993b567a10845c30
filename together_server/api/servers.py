"""``/servers`` and ``/servers/:id`` (API.md §3.3) and ``/servers/browse`` (§4.2)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import invalid
from ..storage import servers as store
from ..storage import templates
from ..validation import UNSET, F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("servers", __name__)

CREATE = [
    F("name", required=True, min=1, max=100, visible=True),
    F("icon_url", "url", nullable=True, max=2048),
    F("is_public", "bool"),
    F("require_invite", "bool"),
    F("template_id", "any", nullable=True),
]
PATCH = [
    F("name", min=1, max=100, visible=True),
    F("icon_url", "url", nullable=True, max=2048),
    F("is_public", "bool"),
    F("require_invite", "bool"),
]


@route(bp, "/servers", ["GET"])
async def list_servers() -> Response:
    """GET /servers: the caller's servers, oldest first; 200 [Server] (API.md §3.3)."""
    return json(await state().db.read(store.my_servers, caller().user_id))


@route(bp, "/servers", ["POST"])
async def create_server() -> Response:
    """POST /servers: create a server owned by the caller; 201 Server (API.md §3.3)."""
    args = await body(CREATE)
    template = args["template_id"]
    if template in (UNSET, None, ""):
        template = None
    elif not isinstance(template, str):
        raise invalid({"template_id": "must be a string (an id from GET /server-templates)"})
    elif template not in templates.BY_ID:
        # the built-in set is fixed, like an enum: an unknown id is a bad field, not a missing resource
        raise invalid({"template_id": "is not the id of a server template (see GET /server-templates)"})
    fields = {k: v for k, v in args.items() if v is not UNSET and k != "template_id"}
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.create_server(tx, uid, fields, template)), 201)


@route(bp, "/servers/browse", ["GET"])
async def browse() -> Response:
    """GET /servers/browse: every public server, joined ones included; 200 [Server] (API.md §4.2, issue 12)."""
    return json(await state().db.read(store.browse, caller().user_id))


@route(bp, "/servers/<server_id>", ["GET"])
async def get_server(server_id: str) -> Response:
    """GET /servers/:id: a server the caller is a member of; 200 Server (API.md §3.3)."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.server_for_member, sid, caller().user_id))


@route(bp, "/servers/<server_id>", ["PATCH"])
async def update_server(server_id: str) -> Response:
    """PATCH /servers/:id: edit name/icon_url/is_public/require_invite; 200 Server (API.md §3.3)."""
    args = await body(PATCH, patch=True)
    sid = path_id(server_id, "unknown_server")
    changes = {k: v for k, v in args.items() if v is not UNSET}
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.update_server(tx, sid, uid, changes)))


@route(bp, "/servers/<server_id>", ["DELETE"])
async def delete_server(server_id: str) -> Response:
    """DELETE /servers/:id: the owner deletes the server; 204 (API.md §3.3)."""
    sid = path_id(server_id, "unknown_server")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete_server(tx, sid, uid))
    return no_content()
