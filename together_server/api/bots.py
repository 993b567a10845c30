"""``/bots`` (API.md §4.7): humans manage their bots; bots swap a token for a JWT."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import invalid
from ..storage import bots as store
from ..validation import UNSET, F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("bots", __name__)


def _name_check(v: str) -> str | None:
    name = v.strip()
    if not 1 <= len(name) <= 64:
        return "length must be between 1 and 64 after trimming"
    if not any(ch.isalnum() for ch in name):
        return "must contain at least one letter or digit"
    return None


CREATE = [F("name", required=True, max=10_000, check=_name_check), F("description", nullable=True, max=512)]
PATCH = [F("name", max=10_000, check=_name_check), F("description", nullable=True, max=512)]


def registry() -> store.BotRegistry:
    """The daemon's live BotRegistry (``state().bots``)."""
    return state().bots  # type: ignore[no-any-return]


@route(bp, "/bots", ["POST"], auth="human")
async def create_bot() -> Response:
    """POST /bots: create a bot (humans only); 201 ``{bot, token}`` (API.md §4.7)."""
    args = await body(CREATE)
    st, uid = state(), caller().user_id
    name, desc = args["name"].strip(), args["description"] or None
    limit = st.config.limits.bots_per_user
    reg = registry()
    bot, token = await st.db.write(lambda tx: store.create_bot(tx, reg, uid, name, desc, limit))
    return json({"bot": bot, "token": token}, 201)


@route(bp, "/bots", ["GET"], auth="human")
async def list_bots() -> Response:
    """GET /bots: the caller's bots, oldest first, revoked included; 200 ``{bots: [Bot]}`` (API.md §4.7)."""
    return json({"bots": await state().db.read(store.list_bots, caller().user_id)})


@route(bp, "/bots/<bot_id>", ["GET"], auth="human")
async def get_bot(bot_id: str) -> Response:
    """GET /bots/:id: one of the caller's bots; 200 Bot (API.md §4.7)."""
    bid = path_id(bot_id, "unknown_bot")
    return json(await state().db.read(store.get_own_bot, bid, caller().user_id))


@route(bp, "/bots/<bot_id>", ["PATCH"], auth="human")
async def update_bot(bot_id: str) -> Response:
    """PATCH /bots/:id: change name/description; 200 Bot (API.md §4.7)."""
    raw = await body(PATCH)  # POST-style: "" and null on description both clear (§1.2)
    bid = path_id(bot_id, "unknown_bot")
    changes = {}
    if raw["name"] is not UNSET and raw["name"] is not None:
        changes["name"] = raw["name"].strip()
    elif raw["name"] is None:
        raise invalid({"name": "must not be null"})
    if raw["description"] is not UNSET:
        changes["description"] = raw["description"] or None
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.update_bot(tx, bid, uid, changes)))


@route(bp, "/bots/<bot_id>", ["DELETE"], auth="human")
async def revoke_bot(bot_id: str) -> Response:
    """DELETE /bots/:id: revoke the bot and its token for good (idempotent); 204 (API.md §4.7)."""
    bid = path_id(bot_id, "unknown_bot")
    st, uid = state(), caller().user_id
    await st.db.write(lambda tx: store.revoke_bot(tx, bid, uid, st.revoke))
    return no_content()


@route(bp, "/bots/<bot_id>/token/regenerate", ["POST"], auth="human")
async def regenerate(bot_id: str) -> Response:
    """POST /bots/:id/token/regenerate: new token, the old one dies at once; 200 ``{bot, token}`` (API.md §4.7)."""
    bid = path_id(bot_id, "unknown_bot")
    st, uid = state(), caller().user_id
    reg = registry()
    bot, token = await st.db.write(lambda tx: store.regenerate(tx, reg, bid, uid, st.revoke))
    return json({"bot": bot, "token": token})


@route(bp, "/bots/<bot_id>/logs", ["GET"], auth="human")
async def logs(bot_id: str) -> Response:
    """GET /bots/:id/logs: the bot's log, newest first; 200 ``{logs: [...]}`` (API.md §4.7)."""
    bid = path_id(bot_id, "unknown_bot")
    return json({"logs": await state().db.read(store.logs, bid, caller().user_id)})


@route(bp, "/bots/connect", ["POST"], auth="bot")
async def connect() -> Response:
    """POST /bots/connect (``Bot <token>`` only): mint an access JWT; 200 ``{access_token, expires_in}`` (seconds) (API.md §4.7)."""
    st, c = state(), caller()
    assert c.bgen is not None
    token = st.tokens.issue(c.user_id, c.username, bgen=c.bgen)
    return json({"access_token": token, "expires_in": st.tokens.ttl})
