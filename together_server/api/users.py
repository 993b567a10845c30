"""``/users/*`` (API.md §3.2)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import ApiError
from ..records import public_user
from ..records import user as user_json
from ..storage import accounts
from ..storage import users as store
from ..storage.db import Tx
from ..validation import UNSET, F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("users", __name__)

PATCH = [
    F("avatar_url", "url", nullable=True, max=2048),
    F("bio", nullable=True, max=500),
    F("pronouns", nullable=True, max=40),
    F("status", "enum", choices=("online", "away", "dnd", "offline")),
    F("custom_status", nullable=True, max=128),
    F("activity", nullable=True, max=128),
]
PASSWORD = [F("current_password", required=True, min=1, max=128), F("new_password", required=True, min=8, max=128)]
DELETE = [F("password", required=True, min=1, max=128)]


@route(bp, "/users/@me", ["GET"])
async def me() -> Response:
    """GET /users/@me: the caller's own User (email included); 200 (API.md §3.2)."""
    st, c = state(), caller()
    row = await st.db.read(accounts.get_user, c.user_id)
    if row is None:  # a signed token naming no account is not a usable credential
        raise ApiError("invalid_token", headers={"WWW-Authenticate": c.scheme})
    return json(user_json(row, own=True, online=st.is_online(c.user_id)))


@route(bp, "/users/@me", ["PATCH"])
async def patch_me() -> Response:
    """PATCH /users/@me: edit profile and presence fields; 200 User (API.md §3.2)."""
    args = await body(PATCH, patch=True)
    st, uid = state(), caller().user_id
    changes = {("chosen_status" if k == "status" else k): v for k, v in args.items() if v is not UNSET}
    return json(await st.db.write(lambda tx: store.update_profile(tx, uid, changes, st.is_online)))


@route(bp, "/users/<user_id>", ["GET"])
async def get_user(user_id: str) -> Response:
    """GET /users/:user_id: any user, deleted ones too; 200 PublicUser, 404 ``unknown_user`` (API.md §3.2)."""
    uid = path_id(user_id, "unknown_user")
    st = state()
    caller()
    row = await st.db.read(accounts.get_user, uid)
    if row is None:
        raise ApiError("unknown_user")
    return json(public_user(row, online=st.is_online(uid)))


async def _confirm(password: str) -> str:
    st, c = state(), caller()
    row = await st.db.read(accounts.require_user, c.user_id)
    if not await st.passwords.verify(row["password_hash"], password):
        raise ApiError("invalid_password")
    return c.user_id


@route(bp, "/users/@me/password", ["POST"], auth="human", auth_bucket=True)
async def change_password() -> Response:
    """POST /users/@me/password (humans): change the password, ending other sessions; 204 (API.md §3.2)."""
    args = await body(PASSWORD, strict=True)
    uid = await _confirm(args["current_password"])
    st, sid = state(), caller().sid
    new_hash = await st.passwords.hash(args["new_password"])
    await st.db.write(lambda tx: store.change_password(tx, uid, sid, new_hash, st.revoke))
    return no_content()


@route(bp, "/users/@me", ["DELETE"], auth="human", auth_bucket=True)
async def delete_me() -> Response:
    """DELETE /users/@me (humans): delete the caller's account; 204 (API.md §3.2)."""
    args = await body(DELETE, strict=True)
    uid = await _confirm(args["password"])
    st = state()

    def job(tx: Tx) -> None:
        store.delete_account(tx, uid, st.revoke)

    await st.db.write(job)
    return no_content()
