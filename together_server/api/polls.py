"""Polls (issue 12): create in a channel, read, vote (change or withdraw)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from ..clock import now_ts
from ..errors import invalid
from ..ids import normalize_uuid
from ..storage import polls as store
from ..text import has_bad_control, has_visible
from ..validation import UNSET, F
from .common import body, caller, created, json, path_id, route, state

bp = Blueprint("polls", __name__)

MIN_OPTIONS, MAX_OPTIONS = 2, 10
CREATE = [
    F("question", required=True, min=1, max=500, visible=True),
    F("options", "any", required=True),
    F("multi_choice", "bool"),
    F("ends_at", "ts", nullable=True),
]
VOTE = [F("option_id", "any", nullable=True), F("option_ids", "any")]


def _options(value: Any) -> list[str]:
    if not isinstance(value, list) or not MIN_OPTIONS <= len(value) <= MAX_OPTIONS:
        raise invalid({"options": f"must be a list of {MIN_OPTIONS}-{MAX_OPTIONS} strings"})
    out = []
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item) <= 200 or has_bad_control(item) or not has_visible(item):
            raise invalid({"options": "each option must be 1-200 characters with a visible character"})
        out.append(item)
    return out


def _ids(value: Any, field: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) > MAX_OPTIONS:
        raise invalid({field: f"at most {MAX_OPTIONS} options"})
    out = []
    for item in items:
        norm = normalize_uuid(item) if isinstance(item, str) else None
        if norm is None:
            raise invalid({field: "must be an option id (UUID)" if field == "option_id" else "must be a list of option ids"})
        out.append(norm)
    return out


@route(bp, "/channels/<channel_id>/polls", ["POST"])
async def create_poll(channel_id: str) -> Response:
    """POST /channels/:id/polls: question, 2-10 options, multi_choice?, ends_at?; 201 Message with ``poll``."""
    args = await body(CREATE)
    options = _options(args["options"])
    cid = path_id(channel_id, "unknown_channel")
    uid = caller().user_id
    multi = args["multi_choice"] is True
    ends_at = args["ends_at"] if args["ends_at"] is not UNSET else None
    question = args["question"]
    return created(await state().db.write(lambda tx: store.create(tx, cid, uid, question, options, multi, ends_at)))


@route(bp, "/polls/<poll_id>", ["GET"])
async def get_poll(poll_id: str) -> Response:
    """GET /polls/:id: the Poll with counts and the caller's choice; 404 ``unknown_poll``."""
    pid = path_id(poll_id, "unknown_poll")
    return json(await state().db.read(store.get_poll, pid, caller().user_id, now_ts()))


@route(bp, "/polls/<poll_id>/vote", ["POST"])
async def vote(poll_id: str) -> Response:
    """POST /polls/:id/vote: ``option_id`` (null withdraws) or ``option_ids``; 200 Poll."""
    args = await body(VOTE)
    if args["option_ids"] is not UNSET:
        wanted = _ids(args["option_ids"], "option_ids") if args["option_ids"] != [] else []
    elif args["option_id"] is UNSET:
        raise invalid({"option_id": "is required (null withdraws the vote)"})
    elif args["option_id"] is None:
        wanted = []
    else:
        wanted = _ids(args["option_id"], "option_id")
    pid = path_id(poll_id, "unknown_poll")
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.vote(tx, pid, uid, wanted)))
