"""``/channels/:id/voice`` (API.md §4.6): join, update, leave, list.

A voice state is bound to one gateway session of the caller: ``session_id`` from the
body, else the caller's most recently opened live session (the hub knows which are
live). The storage layer checks access inside the transaction and emits the
``VOICE_STATE_UPDATE`` events.
"""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import invalid
from ..storage import voice as store
from ..validation import UNSET, F
from .common import body, caller, json, no_content, optional_body, path_id, route, state

bp = Blueprint("voice", __name__)

JOIN = [F("session_id", min=1, max=200)]
PATCH = [F(name, "bool") for name in store.FLAGS]


@route(bp, "/channels/<channel_id>/voice", ["POST"])
async def join_voice(channel_id: str) -> Response:
    args = await optional_body(JOIN, strict=True)
    cid = path_id(channel_id, "unknown_channel")
    st, uid = state(), caller().user_id
    hub = st.hub
    wanted = args["session_id"]
    if wanted is not UNSET and wanted is not None:
        live = hub.get(wanted)
        sid = live.session_id if live is not None and live.user_id == uid else None
    else:
        latest = hub.latest_session_of(uid)
        sid = latest.session_id if latest is not None else None
    data, created = await st.db.write(lambda tx: store.join(tx, cid, uid, sid))
    assert sid is not None
    hub.voice_bound(sid)
    if hub.get(sid) is None:  # the session ended while the join committed
        hub.end_voice(sid)
    return json(data, 201 if created else 200)


@route(bp, "/channels/<channel_id>/voice", ["PATCH"])
async def update_voice(channel_id: str) -> Response:
    args = await body(PATCH, strict=True, patch=True)
    changes = {k: v for k, v in args.items() if v is not UNSET}
    if not changes:
        raise invalid({"body": "give at least one of " + ", ".join(store.FLAGS)})
    cid = path_id(channel_id, "unknown_channel")
    st, uid = state(), caller().user_id
    return json(await st.db.write(lambda tx: store.update(tx, cid, uid, changes)))


@route(bp, "/channels/<channel_id>/voice", ["DELETE"])
async def leave_voice(channel_id: str) -> Response:
    cid = path_id(channel_id, "unknown_channel")
    st, uid = state(), caller().user_id
    await st.db.write(lambda tx: store.leave(tx, cid, uid))
    return no_content()


@route(bp, "/channels/<channel_id>/voice", ["GET"])
async def list_voice(channel_id: str) -> Response:
    cid = path_id(channel_id, "unknown_channel")
    st, uid = state(), caller().user_id
    return json(await st.db.read(store.list_states, cid, uid))
