"""``GET /ws``: the WebSocket gateway's upgrade (API.md §6.1).

Credentials (``Authorization`` header first, else ``token``, else ``bot_token``), the
rate limit (§5) and the session limit are all checked **before** the upgrade: a refusal
is a plain HTTP answer with the §1.4 error body (quart sends a Response returned from a
websocket handler before ``accept()`` as the HTTP response, and hypercorn writes it
out; rate-limit headers ride on the 101 too). Then the socket is served by
``gateway.session.serve_connection``.

The hub is started, and the close-code shim of ``gateway.compat`` installed, by ``daemon.py``.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, g, websocket

from ..auth.request import Caller
from ..errors import ApiError
from ..gateway.live import Attachment
from ..gateway.protocol import CLOSE_REVOKED, parse_resume
from ..gateway.session import serve_connection
from ..state import AppState
from ..storage import accounts
from . import limiting
from .common import json, state

bp = Blueprint("gateway_route", __name__)


def _refuse(exc: ApiError) -> Response:
    resp = json(exc.body(), exc.status)
    for k, v in exc.headers.items():
        resp.headers[k] = v
    for k, v in g.get("ratelimit_headers", ()):
        resp.headers[k] = v
    return resp


def _credential(st: AppState) -> Caller | ApiError:
    """§6.1: the header wins; else ``token``; else ``bot_token``; else 401 missing_token."""
    header = websocket.headers.get("Authorization")
    if header:
        return st.auth.resolve(header)
    args = websocket.args
    token, bot_token = args.get("token"), args.get("bot_token")
    if token is not None:
        return st.auth.from_access_token(token)
    if bot_token is not None:
        return st.auth.from_bot_token(bot_token)
    return st.auth.resolve(None)


def _rate_limit(st: AppState, who: Caller | ApiError) -> None:
    """§5: the upgrade takes one token from the ``user``, ``bot`` or ``ip`` bucket, as any
    request does; raises the 429 ApiError. The headers ride on the answer (101 or not)."""
    ip = limiting.peer_ip(st, websocket.remote_addr, websocket.headers.getlist("X-Forwarded-For"))
    headers, refusal = limiting.check(st, auth_route=False, who=who, ip=ip)
    g.ratelimit_headers = headers
    if refusal is not None:
        raise refusal


@bp.websocket("/ws")
async def gateway() -> Response | None:
    st = state()
    who = _credential(st)
    try:
        _rate_limit(st, who)
        if isinstance(who, ApiError):
            raise who
        user = await st.db.read(accounts.get_user, who.user_id)
        if user is None or user["deleted_at"] is not None:  # a signed token naming no account
            raise ApiError("invalid_token", headers={"WWW-Authenticate": who.scheme})
        attachment = Attachment(st.config.gateway.outgoing_queue_size)
        session, preamble = st.hub.open(who, parse_resume(websocket.args), attachment)
    except ApiError as exc:
        return _refuse(exc)
    if st.revocations.is_ended(*session.bound):  # ended between the check and the open
        st.hub.close(session, CLOSE_REVOKED, "session revoked")
    try:
        await websocket.accept(headers=dict(g.get("ratelimit_headers", ())))
    except BaseException:
        st.hub.connection_lost(session, attachment, None)
        raise
    await serve_connection(websocket, st, session, attachment, preamble)
    return None


__all__: list[Any] = ["bp"]
