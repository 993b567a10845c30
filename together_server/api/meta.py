"""Instance routes: registration mode, health, and the empty collections of §4.13."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import ApiError
from ..storage import templates
from . import admin as admin_api
from .common import json, route, state

bp = Blueprint("meta", __name__)


@route(bp, "/instance/registration-mode", ["GET"], auth="none")
async def registration_mode() -> Response:
    """GET /instance/registration-mode (no auth): 200 ``{"registration_mode": "open"|"invite_only"|"closed"}`` (API.md §2.4)."""
    return json({"registration_mode": admin_api.registration_mode()})


@route(bp, "/health", ["GET"], auth="none")
async def health() -> Response:
    """GET /health (no auth): 200 ``{"status": "ok"}``; 503 ``service_unavailable`` +
    ``status: "degraded"`` + ``reason`` when the database cannot be read
    (``database_unreadable``, API.md §4.12), the disk is full (``insufficient_storage``) or an
    outside program holds the write lock (``database_busy``; issue 15 §4). Reads keep working
    in the last two; the state clears by itself at the next commit."""
    db = state().db
    try:
        await db.read(lambda conn: conn.execute("SELECT 1 FROM users LIMIT 1").fetchall())
    except Exception:  # noqa: BLE001 - any database failure means "degraded"
        problem: tuple[str, str] | None = ("database_unreadable", "The database cannot be read")
    else:
        problem = db.health.report()
    if problem is not None:
        reason, message = problem
        err = ApiError("service_unavailable", message, extra={"status": "degraded", "reason": reason})
        return json(err.body(), 503)
    return json({"status": "ok"})


@route(bp, "/server-templates", ["GET"])
async def server_templates() -> Response:
    """GET /server-templates: 200 [ServerTemplate], the built-in set (issue 12; storage/templates.py)."""
    return json(templates.list_templates())
