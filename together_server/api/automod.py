"""Automod routes (issue 13): config, blocked words, logs. All need MANAGE_AUTOMOD."""

from __future__ import annotations

from quart import Blueprint, Response, request

from ..errors import invalid
from ..storage import automod as store
from ..validation import UNSET, F, query_int, query_uuid
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("automod", __name__)

_ACTION = {"choices": store.ACTIONS}
PATCH = [
    *(F(name, "bool") for name in sorted(store.BOOLS)),
    *(F(name, "enum", **_ACTION) for name in ("word_filter_action", "link_action", "mention_action",
                                              "spam_action", "duplicate_action")),
    F("mention_max", "int", min=1, max=100),
    F("spam_max_messages", "int", min=1, max=1000),
    F("spam_window_secs", "int", min=1, max=3600),
    F("duplicate_max", "int", min=2, max=100),
    F("duplicate_window_secs", "int", min=1, max=86_400),
    F("timeout_minutes", "int", min=1, max=40_320),
]
WORD = [F("word", required=True, min=1, max=100, visible=True)]


@route(bp, "/servers/<server_id>/automod", ["GET"])
async def get_automod(server_id: str) -> Response:
    """GET /servers/:id/automod: 200 AutomodConfig (defaults, automod off, until first set). Issue 13."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.get_config, sid, caller().user_id))


@route(bp, "/servers/<server_id>/automod", ["PATCH"])
async def update_automod(server_id: str) -> Response:
    """PATCH /servers/:id/automod: change any AutomodConfig field; 200 AutomodConfig. Issue 13."""
    args = await body(PATCH, patch=True)
    changes = {k: v for k, v in args.items() if v is not UNSET}
    sid, uid = path_id(server_id, "unknown_server"), caller().user_id
    return json(await state().db.write(lambda tx: store.update_config(tx, sid, uid, changes)))


@route(bp, "/servers/<server_id>/automod/words", ["GET"])
async def list_words(server_id: str) -> Response:
    """GET /servers/:id/automod/words: 200 [AutomodWordFilter]. Issue 13."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_words, sid, caller().user_id))


@route(bp, "/servers/<server_id>/automod/words", ["POST"])
async def add_word(server_id: str) -> Response:
    """POST /servers/:id/automod/words ``{"word"}``: 201 AutomodWordFilter (200 when it was
    already blocked). Issue 13."""
    word = " ".join((await body(WORD))["word"].split())
    sid, uid = path_id(server_id, "unknown_server"), caller().user_id
    data, created = await state().db.write(lambda tx: store.add_word(tx, sid, uid, word))
    return json(data, 201 if created else 200)


@route(bp, "/servers/<server_id>/automod/words/<word>", ["DELETE"])
async def remove_word(server_id: str, word: str) -> Response:
    """DELETE /servers/:id/automod/words/:word (the word, URL-encoded, or its id): 204. Issue 13."""
    if not word.strip() or len(word) > 400:
        raise invalid({"word": "must be 1-100 characters"})
    sid, uid = path_id(server_id, "unknown_server"), caller().user_id
    await state().db.write(lambda tx: store.remove_word(tx, sid, uid, word))
    return no_content()


@route(bp, "/servers/<server_id>/automod/logs", ["GET"])
async def list_logs(server_id: str) -> Response:
    """GET /servers/:id/automod/logs?limit=&before=: 200 [AutomodLog], newest first. Issue 13."""
    sid = path_id(server_id, "unknown_server")
    limit = max(1, min(100, query_int(request.args, "limit", 50)))
    before = query_uuid(request.args, "before")
    return json(await state().db.read(store.list_logs, sid, caller().user_id, limit, before))
