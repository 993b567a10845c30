"""The server audit log (issue 13): ``GET /servers/:id/audit-logs``."""

from __future__ import annotations

import sqlite3
from typing import Any

from quart import Blueprint, Response, request

from .. import permissions as p
from ..storage import audit as store
from ..storage.access import need_member, need_server_bit
from ..validation import query_int, query_uuid
from .common import caller, json, path_id, route, state

bp = Blueprint("audit", __name__)


def _read(conn: sqlite3.Connection, server_id: str, caller_id: str, **query: Any) -> list[dict[str, Any]]:
    need_server_bit(need_member(conn, server_id, caller_id), p.Permission.VIEW_AUDIT_LOG)
    return store.list_entries(conn, server_id, **query)


@route(bp, "/servers/<server_id>/audit-logs", ["GET"])
async def list_audit_logs(server_id: str) -> Response:
    """GET /servers/:id/audit-logs?limit=&before=&action=&user_id=&target_type=: 200 [AuditLog],
    newest first (limit 1-100, default 50; ``actor_id`` is accepted for ``user_id``). Needs
    VIEW_AUDIT_LOG (owner and ADMINISTRATOR hold it). 404 unknown_server, 403
    missing_permission, 400 for a malformed query (issue 13)."""
    sid = path_id(server_id, "unknown_server")
    args = request.args
    limit = max(1, min(100, query_int(args, "limit", 50)))
    before = query_uuid(args, "before")
    user_id = query_uuid(args, "user_id") or query_uuid(args, "actor_id")
    action = args.get("action") or None
    target_type = args.get("target_type") or None
    uid = caller().user_id
    return json(await state().db.read(
        lambda conn: _read(conn, sid, uid, limit=limit, before=before, action=action,
                           user_id=user_id, target_type=target_type)))
