"""``GET /servers/:id/search`` (API.md §7): validation here, the query in search/."""

from __future__ import annotations

import sqlite3
from typing import Any

from quart import Blueprint, Response, request

from ..errors import ApiError, invalid
from ..search.engine import search_messages
from ..search.query import QueryError, SearchQuery, parse_query
from ..storage import perms
from ..storage.access import need_member
from ..validation import query_int, query_uuid
from .common import caller, json, path_id, route, state

bp = Blueprint("search", __name__)


def _params() -> dict[str, Any]:
    """All §7.1 checks that need no lookup (400s come before 404s, §1.6)."""
    args = request.args
    q = args.get("q")
    if q is None:
        raise invalid({"q": "is required"})
    if not 2 <= len(q) <= 200:
        raise invalid({"q": "length must be between 2 and 200"})
    sort = args.get("sort", "newest")
    if sort not in ("newest", "relevance"):
        raise invalid({"sort": "must be newest or relevance"})
    limit = query_int(args, "limit", 50)
    if not 1 <= limit <= 100:
        raise invalid({"limit": "must be between 1 and 100"})
    before = query_uuid(args, "before")
    channel_id = query_uuid(args, "channel_id")
    offset = query_int(args, "offset", 0)
    if sort == "relevance":
        if before is not None:
            raise invalid({"before": "cannot be used with sort=relevance (use offset)"})
        if not 0 <= offset <= 1000:
            raise invalid({"offset": "must be between 0 and 1000"})
    elif "offset" in args:
        raise invalid({"offset": "is only allowed with sort=relevance"})
    try:
        query = parse_query(q)
    except QueryError as exc:
        raise ApiError("invalid_query", f"Invalid search query: {exc}", errors={"q": str(exc)}) from None
    return {"query": query, "sort": sort, "limit": limit, "before": before, "channel_id": channel_id, "offset": offset}


def _search(conn: sqlite3.Connection, server_id: str, user_id: str, p: dict[str, Any]) -> dict[str, Any]:
    conn.execute("BEGIN")  # one snapshot for visibility and hits
    try:
        need_member(conn, server_id, user_id)
        viewable = perms.visible_channel_ids(conn, server_id, user_id)
        if p["channel_id"] is not None and p["channel_id"] not in viewable:
            raise ApiError("unknown_channel")
        query: SearchQuery = p["query"]
        return search_messages(
            conn, server_id=server_id, viewable_channel_ids=viewable, query=query,
            channel_id=p["channel_id"], before=p["before"], limit=p["limit"], sort=p["sort"], offset=p["offset"],
        )
    finally:
        conn.execute("ROLLBACK")


@route(bp, "/servers/<server_id>/search", ["GET"])
async def search(server_id: str) -> Response:
    """GET /servers/:id/search: full-text search of the server's messages; 200 per §7.4 (API.md §3.6, §7)."""
    params = _params()
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(_search, sid, caller().user_id, params))
