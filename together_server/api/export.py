"""``GET /servers/:id/export`` (issue 13): the owner downloads a ZIP of the server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from quart import Blueprint, Response

from .. import export
from ..errors import ApiError
from ..storage.access import need_member
from ..storage.db import connect
from .common import caller, path_id, route, state

bp = Blueprint("export", __name__)


def _owner_check(conn: sqlite3.Connection, server_id: str, user_id: str) -> str:
    if not need_member(conn, server_id, user_id).is_owner:
        raise ApiError("not_owner")
    row = conn.execute("SELECT name FROM servers WHERE id = ?", (server_id,)).fetchone()
    return str(row[0])


@route(bp, "/servers/<server_id>/export", ["GET"])
async def export_server(server_id: str) -> Response:
    """GET /servers/:id/export: 200 ``application/zip`` streamed (see together_server/export.py
    for the layout); the owner only (404 ``unknown_server``, 403 ``not_owner``). Issue 13."""
    sid = path_id(server_id, "unknown_server")
    st = state()
    name = await st.db.read(_owner_check, sid, caller().user_id)
    sync = st.config.database.synchronous

    def open_reader(path: Path) -> sqlite3.Connection:
        return connect(path, sync, reader=True)

    filename = f"{export.slug(name)}-{sid}-export.zip"
    resp = Response(export.stream(st.db.path, open_reader, sid), status=200, content_type="application/zip")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.timeout = None  # a large server takes longer than the default response timeout
    return resp
