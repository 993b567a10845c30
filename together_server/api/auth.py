"""``/auth/*``: register, login, refresh, logout (API.md §3.1, §2.2, §2.4)."""

from __future__ import annotations

import re
from typing import Any

from quart import Blueprint, Response

from ..errors import ApiError, invalid
from ..records import user as user_json
from ..storage import accounts
from ..storage import servers as servers_store
from ..storage.db import Tx
from ..text import fold
from ..validation import F
from .admin import registration_mode
from .common import body, json, no_content, route, state

bp = Blueprint("auth", __name__)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{2,32}$")
RESERVED = {"everyone", "here"}


def _check_username(v: str) -> str | None:
    if not USERNAME_RE.match(v):
        return "must be 2-32 characters of ASCII letters, digits and _"
    if v.lower() in RESERVED:
        return "is reserved"
    return None


def _check_email(v: str) -> str | None:
    if len(v) > 254 or v.count("@") != 1 or any(ch.isspace() for ch in v):
        return "must be a valid email address"
    local, domain = v.split("@")
    if not 1 <= len(local) <= 64 or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return "must be a valid email address"
    return None


REGISTER = [
    F("username", required=True, min=2, max=32, check=_check_username),
    F("password", required=True, min=8, max=128),
    F("email", nullable=True, max=254, check=_check_email),
    F("invite_code", nullable=True, max=64),
]
LOGIN = [F("username", required=True, min=1, max=128), F("password", required=True, min=1, max=128)]
REFRESH = [F("refresh_token", required=True, min=1, max=2048)]


def _token_answer(row: Any, sid: str, refresh_token: str) -> dict[str, Any]:
    st = state()
    return {
        "access_token": st.tokens.issue(row["id"], row["username"], sid=sid),
        "refresh_token": refresh_token,
        "expires_in": st.tokens.ttl,
        "user": user_json(row, own=True, online=st.is_online(row["id"])),
    }


@route(bp, "/auth/register", ["POST"], auth="none", auth_bucket=True)
async def register() -> Response:
    """POST /auth/register: create an account (registration mode and invite per §2.4) and log in; 201 with tokens + User (API.md §3.1)."""
    st = state()
    args = await body(REGISTER)
    mode = registration_mode()
    password_hash = await st.passwords.hash(args["password"])
    email = args["email"] or None
    invite_code = args["invite_code"] or None
    ttl = st.config.auth.refresh_token_ttl_seconds

    def job(tx: Tx) -> tuple[Any, str, str]:
        has_users = tx.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
        invite = None
        if has_users and mode == "closed":
            raise ApiError("registration_closed")
        if has_users and mode == "invite_only":
            if not invite_code:
                raise invalid({"invite_code": "is required"})
            invite = servers_store.live_invite(tx.conn, invite_code, tx.now())
            if invite is None:
                raise invalid({"invite_code": "is not a valid invite"})
        row = accounts.create_user(
            tx, username=args["username"], username_fold=fold(args["username"]),
            email=email, email_fold=fold(email) if email else None, password_hash=password_hash,
        )
        if invite is not None:
            servers_store.use_invite_and_join(tx, invite, row["id"], st.is_online)
        sid, token = accounts.start_session(tx, row["id"], ttl, st.revoke)
        return row, sid, token

    row, sid, token = await st.db.write(job)
    return json(_token_answer(row, sid, token), 201)


@route(bp, "/auth/login", ["POST"], auth="none", auth_bucket=True)
async def login() -> Response:
    """POST /auth/login: password login, starting a new login session; 200 with tokens + User; 401 ``invalid_credentials`` (API.md §3.1, §2.2)."""
    st = state()
    args = await body(LOGIN)
    row = await st.db.read(accounts.get_user_by_name, fold(args["username"]))
    usable = row is not None and not row["is_bot"] and row["deleted_at"] is None
    ok = await st.passwords.verify(row["password_hash"] if usable else None, args["password"])
    if not ok:
        raise ApiError("invalid_credentials")
    assert row is not None
    if row["disabled_at"] is not None:
        raise ApiError("account_disabled")
    user_id = row["id"]
    ttl = st.config.auth.refresh_token_ttl_seconds

    def job(tx: Tx) -> tuple[Any, str, str]:
        fresh = accounts.get_user(tx.conn, user_id)
        if fresh is None or fresh["deleted_at"] is not None:
            raise ApiError("invalid_credentials")
        sid, token = accounts.start_session(tx, user_id, ttl, st.revoke)
        return fresh, sid, token

    fresh, sid, token = await st.db.write(job)
    return json(_token_answer(fresh, sid, token))


@route(bp, "/auth/refresh", ["POST"], auth="none", auth_bucket=True)
async def refresh() -> Response:
    """POST /auth/refresh: rotate the refresh token; 200 with new tokens + User; reuse/rotation errors per §2.2 (API.md §3.1)."""
    st = state()
    args = await body(REFRESH)
    ttl = st.config.auth.refresh_token_ttl_seconds
    status, result = await st.db.write(lambda tx: accounts.refresh(tx, args["refresh_token"], ttl, st.revoke))
    if status == "error":
        raise ApiError(result)
    row, sid, token = result
    return json(_token_answer(row, sid, token))


@route(bp, "/auth/logout", ["POST"], auth="none", auth_bucket=True)
async def logout() -> Response:
    """POST /auth/logout: end the refresh token's login session (unknown tokens too); 204 (API.md §3.1, extension)."""
    st = state()
    args = await body(REFRESH)
    await st.db.write(lambda tx: accounts.logout(tx, args["refresh_token"], st.revoke))
    return no_content()
