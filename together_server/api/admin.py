"""The admin area (issue 13): ``/admin/*`` for instance admins (the first account, §2.4).

Every action is written to the instance-level audit log (``GET /admin/audit-logs``) in
the same transaction. Settings changed here are stored in the database, override the
config file and apply at once (``registration_mode`` on the next registration,
``audit_log_retention_days`` on the next purge round).
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, request

from ..errors import ApiError, invalid
from ..storage import admin as store
from ..storage import audit
from ..validation import UNSET, F, query_int, query_uuid
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("admin", __name__)

USER_PATCH = [F("is_admin", "bool"), F("disabled", "bool"), F("password", min=8, max=128)]
SETTINGS_PATCH = [F("registration_mode", "enum", choices=store.SETTINGS["registration_mode"] or ()),
                  F("audit_log_retention_days", "int", min=0, max=36_500)]


def settings(st: Any) -> dict[str, Any]:
    """The settings in force: the stored overrides over the config file's values."""
    stored = st.extras.get("instance_settings") or {}
    return {
        "registration_mode": stored.get("registration_mode", st.config.auth.registration),
        "audit_log_retention_days": stored.get("audit_log_retention_days", st.config.audit_log.retention_days),
        "updated_at": stored.get("updated_at"), "updated_by": stored.get("updated_by"),
    }


def registration_mode() -> str:
    """The registration mode in force (``/admin/settings`` overrides ``auth.registration``)."""
    return str(settings(state())["registration_mode"])


async def _need_admin() -> str:
    uid = caller().user_id
    row = await state().db.read(lambda c: c.execute(
        "SELECT is_admin FROM users WHERE id = ? AND deleted_at IS NULL AND disabled_at IS NULL", (uid,)).fetchone())
    if row is None or not row[0]:
        raise ApiError("not_admin")
    return uid


def _page() -> tuple[int, int, str | None]:
    page = max(1, query_int(request.args, "page", 1))
    per_page = max(1, min(100, query_int(request.args, "per_page", 25)))
    search = (request.args.get("search") or "").strip() or None
    if search is not None and len(search) > 100:
        raise invalid({"search": "must be at most 100 characters"})
    return page, per_page, search


@route(bp, "/admin/stats", ["GET"])
async def admin_stats() -> Response:
    """GET /admin/stats: users, bots, servers, channels, messages, database and attachment
    bytes, uptime, gateway sessions online; 200 AdminStats. 403 ``not_admin``."""
    await _need_admin()
    st = state()
    started = time.perf_counter()
    counts = await st.db.read(store.stats)
    latency = (time.perf_counter() - started) * 1000
    path = st.db.path

    def db_bytes() -> int:
        return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    import trio

    size = await trio.to_thread.run_sync(db_bytes)
    stats = st.hub.statistics() if st.hub is not None else {"sessions": 0, "users": 0}
    return json({
        **counts, "database_bytes": size, "storage_bytes": size + counts["attachment_bytes"],
        "uptime_secs": int(time.monotonic() - st.extras.get("started_monotonic", time.monotonic())),
        "active_ws_connections": stats.get("sessions", 0), "online_users": stats.get("users", 0),
        "db_latency_ms": round(latency, 2),
    })


@route(bp, "/admin/users", ["GET"])
async def admin_users() -> Response:
    """GET /admin/users?page=&per_page=&search=: 200 ``{users, total, page, per_page}``."""
    await _need_admin()
    page, per_page, search = _page()
    return json(await state().db.read(lambda c: store.list_users(c, page=page, per_page=per_page, search=search)))


@route(bp, "/admin/users/<user_id>", ["PATCH"])
async def admin_update_user(user_id: str) -> Response:
    """PATCH /admin/users/:user_id ``{is_admin?, disabled?, password?}``: make/revoke admin,
    disable/enable, reset the password (every session ends); 200 AdminUser."""
    admin_id = await _need_admin()
    args = await body(USER_PATCH, patch=True)
    uid = path_id(user_id, "unknown_user")
    st = state()
    new_hash = await st.passwords.hash(args["password"]) if args["password"] is not UNSET else None

    def job(tx: Any) -> dict[str, Any]:
        store.require_user(tx.conn, uid)
        if args["is_admin"] is not UNSET:
            store.set_admin(tx, uid, args["is_admin"], admin_id)
        if args["disabled"] is not UNSET:
            if args["disabled"] and uid == admin_id:
                raise ApiError("cannot_target_self")
            store.set_disabled(tx, uid, args["disabled"], admin_id, st.revoke)
        if new_hash is not None:
            store.reset_password(tx, uid, new_hash, admin_id, st.revoke)
        row = tx.conn.execute(f"{store.USER_SQL} WHERE u.id = ?", (uid,)).fetchone()
        return store._user(row)  # noqa: SLF001 - the module's own shape
    return json(await st.db.write(job))


@route(bp, "/admin/users/<user_id>", ["DELETE"])
async def admin_delete_user(user_id: str) -> Response:
    """DELETE /admin/users/:user_id: delete the account (400 ``owner_cannot_leave`` while it owns servers); 204."""
    admin_id = await _need_admin()
    uid = path_id(user_id, "unknown_user")
    st = state()
    await st.db.write(lambda tx: store.delete_user(tx, uid, admin_id, st.revoke))
    return no_content()


@route(bp, "/admin/servers", ["GET"])
async def admin_servers() -> Response:
    """GET /admin/servers?page=&per_page=&search=: 200 ``{servers, total, page, per_page}``."""
    await _need_admin()
    page, per_page, search = _page()
    return json(await state().db.read(lambda c: store.list_servers(c, page=page, per_page=per_page, search=search)))


@route(bp, "/admin/servers/<server_id>", ["DELETE"])
async def admin_delete_server(server_id: str) -> Response:
    """DELETE /admin/servers/:server_id: delete any server (as its owner would); 204."""
    admin_id = await _need_admin()
    sid = path_id(server_id, "unknown_server")
    await state().db.write(lambda tx: store.delete_server(tx, sid, admin_id))
    return no_content()


@route(bp, "/admin/settings", ["GET"])
async def admin_settings() -> Response:
    """GET /admin/settings: 200 InstanceSettings (the values in force)."""
    await _need_admin()
    return json(settings(state()))


@route(bp, "/admin/settings", ["PATCH"])
async def admin_update_settings() -> Response:
    """PATCH /admin/settings ``{registration_mode?, audit_log_retention_days?}``: stored and applied at once; 200."""
    admin_id = await _need_admin()
    args = await body(SETTINGS_PATCH, patch=True)
    changes = {k: v for k, v in args.items() if v is not UNSET}
    st = state()
    stored = await st.db.write(lambda tx: store.update_settings(tx, admin_id, changes))
    st.extras["instance_settings"] = stored
    return json(settings(st))


@route(bp, "/admin/audit-logs", ["GET"])
async def admin_audit_logs() -> Response:
    """GET /admin/audit-logs?limit=&before=&action=&user_id=: the instance-level audit log; 200 [AuditLog]."""
    await _need_admin()
    args = request.args
    limit = max(1, min(100, query_int(args, "limit", 50)))
    before, user_id = query_uuid(args, "before"), query_uuid(args, "user_id") or query_uuid(args, "actor_id")
    action = args.get("action") or None
    return json(await state().db.read(lambda c: audit.list_entries(
        c, None, limit=limit, before=before, action=action, user_id=user_id)))
