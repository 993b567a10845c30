"""The instance admin's storage (issue 13): stats, users, servers, runtime settings.

Used by the admin area routes (``/admin/*``) and the operator CLI (``together-server
admin ...``): one function per action, each writing its instance-level audit entry
(``server_id`` NULL) in the same transaction. ``actor_id`` is the admin's user id, or None
for the CLI.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ..errors import ApiError, invalid
from ..text import fold
from . import accounts, audit, servers, users
from .db import Tx

#: Runtime settings (``GET/PATCH /admin/settings``): name -> allowed values (None: any int ≥ 0).
SETTINGS: dict[str, tuple[str, ...] | None] = {
    "registration_mode": ("open", "invite_only", "closed"),
    "audit_log_retention_days": None,
}
Revoke = Any


def load_settings(conn: sqlite3.Connection) -> dict[str, Any]:
    """Reader: the stored overrides ``{key: value}`` plus ``updated_at``/``updated_by`` of the latest."""
    rows = conn.execute("SELECT key, value, updated_at, updated_by FROM instance_settings ORDER BY updated_at").fetchall()
    out: dict[str, Any] = {r["key"]: orjson.loads(r["value"]) for r in rows if r["key"] in SETTINGS}
    out["updated_at"] = rows[-1]["updated_at"] if rows else None
    out["updated_by"] = rows[-1]["updated_by"] if rows else None
    return out


def update_settings(tx: Tx, actor_id: str | None, changes: dict[str, Any]) -> dict[str, Any]:
    """Write job: store validated ``changes``; returns the stored overrides (``load_settings``).
    Audited as ``settings_update`` with before/after."""
    before = load_settings(tx.conn)
    now = tx.now()
    for key, value in changes.items():
        tx.conn.execute(
            "INSERT INTO instance_settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by", (key, orjson.dumps(value).decode(), now, actor_id))
    changed = audit.diff(before, changes)
    if changed:
        audit.record(tx, None, actor_id, "settings_update", target_type="settings", changes=changed)
    return load_settings(tx.conn)


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """Reader: counts for ``GET /admin/stats`` (the caller adds uptime, sessions, bytes)."""
    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])
    has_att = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'attachments'").fetchone() is not None
    return {
        "total_users": one("SELECT count(*) FROM users WHERE deleted_at IS NULL AND is_bot = 0"),
        "total_bots": one("SELECT count(*) FROM users WHERE deleted_at IS NULL AND is_bot = 1"),
        "total_servers": one("SELECT count(*) FROM servers WHERE deleted_at IS NULL"),
        "total_channels": one("SELECT count(*) FROM channels c JOIN servers s ON s.id = c.server_id"
                              " WHERE s.deleted_at IS NULL"),
        "total_messages": one("SELECT count(*) FROM messages WHERE deleted = 0")
        + one("SELECT count(*) FROM dm_messages WHERE deleted = 0"),
        "attachment_bytes": one("SELECT coalesce(sum(file_size), 0) FROM attachments") if has_att else 0,
    }


USER_SQL = (
    "SELECT u.id, u.username, u.email, u.avatar_url, u.chosen_status, u.is_admin, u.is_bot, u.disabled_at,"
    " u.created_at, (SELECT count(*) FROM members m WHERE m.user_id = u.id) AS server_count,"
    " (SELECT count(*) FROM messages g WHERE g.author_id = u.id AND g.deleted = 0) AS message_count"
    " FROM users u"
)


def _user(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"], "username": row["username"], "email": row["email"], "avatar_url": row["avatar_url"],
        "status": row["chosen_status"], "is_admin": bool(row["is_admin"]), "is_bot": bool(row["is_bot"]),
        "disabled": row["disabled_at"] is not None, "disabled_at": row["disabled_at"],
        "created_at": row["created_at"], "server_count": row["server_count"], "message_count": row["message_count"],
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_users(conn: sqlite3.Connection, *, page: int, per_page: int, search: str | None) -> dict[str, Any]:
    """Reader: ``{users: [AdminUser], total, page, per_page}`` (not deleted), oldest first;
    ``search`` matches username (case-insensitive) or e-mail, anywhere."""
    where, args = ["u.deleted_at IS NULL"], []
    if search:
        where.append("(u.username_fold LIKE ? ESCAPE '\\' OR u.email_fold LIKE ? ESCAPE '\\')")
        pat = f"%{_escape_like(fold(search))}%"
        args += [pat, pat]
    cond = " AND ".join(where)
    (total,) = conn.execute(f"SELECT count(*) FROM users u WHERE {cond}", args).fetchone()
    rows = conn.execute(f"{USER_SQL} WHERE {cond} ORDER BY u.id LIMIT ? OFFSET ?",
                        (*args, per_page, (page - 1) * per_page)).fetchall()
    return {"users": [_user(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def list_servers(conn: sqlite3.Connection, *, page: int, per_page: int, search: str | None) -> dict[str, Any]:
    """Reader: ``{servers: [AdminServer], total, page, per_page}`` (not deleted), oldest first."""
    where, args = ["s.deleted_at IS NULL"], []
    if search:
        where.append("s.name LIKE ? ESCAPE '\\'")
        args.append(f"%{_escape_like(search)}%")
    cond = " AND ".join(where)
    (total,) = conn.execute(f"SELECT count(*) FROM servers s WHERE {cond}", args).fetchone()
    rows = conn.execute(
        "SELECT s.id, s.name, s.icon_url, s.owner_id, u.username AS owner_username, s.is_public, s.member_count,"
        " (SELECT count(*) FROM channels c WHERE c.server_id = s.id) AS channel_count,"
        " (SELECT count(*) FROM messages g WHERE g.server_id = s.id AND g.deleted = 0) AS message_count,"
        f" s.created_at FROM servers s JOIN users u ON u.id = s.owner_id WHERE {cond} ORDER BY s.id LIMIT ? OFFSET ?",
        (*args, per_page, (page - 1) * per_page)).fetchall()
    out = [{**dict(r), "is_public": bool(r["is_public"])} for r in rows]
    return {"servers": out, "total": total, "page": page, "per_page": per_page}


def find_user(conn: sqlite3.Connection, name_or_id: str) -> sqlite3.Row:
    """The live account named ``name_or_id`` (username, any case) or with that id; 404 ``unknown_user``."""
    row = conn.execute("SELECT id, username, is_admin, is_bot, disabled_at, deleted_at FROM users"
                       " WHERE (username_fold = ? OR id = ?) AND deleted_at IS NULL",
                       (fold(name_or_id), name_or_id.lower())).fetchone()
    if row is None:
        raise ApiError("unknown_user")
    return row


def require_user(conn: sqlite3.Connection, user_id: str) -> None:
    """404 ``unknown_user`` unless ``user_id`` is a live account."""
    if conn.execute("SELECT 1 FROM users WHERE id = ? AND deleted_at IS NULL", (user_id,)).fetchone() is None:
        raise ApiError("unknown_user")


def _target(tx: Tx, user_id: str) -> sqlite3.Row:
    row = tx.conn.execute("SELECT id, username, is_admin, is_bot, disabled_at FROM users"
                          " WHERE id = ? AND deleted_at IS NULL", (user_id,)).fetchone()
    if row is None:
        raise ApiError("unknown_user")
    return row


def _not_last_admin(tx: Tx, user_id: str) -> None:
    (others,) = tx.conn.execute("SELECT count(*) FROM users WHERE is_admin = 1 AND deleted_at IS NULL"
                                " AND disabled_at IS NULL AND id != ?", (user_id,)).fetchone()
    if others == 0:
        raise invalid({"is_admin": "the instance needs at least one admin"})


def set_admin(tx: Tx, user_id: str, value: bool, actor_id: str | None) -> None:
    """Write job: make ``user_id`` an instance admin or not (400 when it would leave none)."""
    row = _target(tx, user_id)
    if row["is_bot"]:
        raise invalid({"is_admin": "bots cannot be instance admins"})
    if bool(row["is_admin"]) == value:
        return
    if not value:
        _not_last_admin(tx, user_id)
    tx.conn.execute("UPDATE users SET is_admin = ? WHERE id = ?", (int(value), user_id))
    audit.record(tx, None, actor_id, "user_promote" if value else "user_demote", target_type="user",
                 target_id=user_id, changes={"is_admin": {"old": not value, "new": value}})


def set_disabled(tx: Tx, user_id: str, value: bool, actor_id: str | None, revoke: Revoke) -> None:
    """Write job: disable (every session ends; login and refresh are refused with 403
    ``account_disabled``) or enable an account. An admin cannot disable the last admin."""
    row = _target(tx, user_id)
    if (row["disabled_at"] is not None) == value:
        return
    if value and row["is_admin"]:
        _not_last_admin(tx, user_id)
    tx.conn.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (tx.now() if value else None, user_id))
    if value:
        accounts.end_other_sessions(tx, user_id, None, "account_disabled", revoke)
    audit.record(tx, None, actor_id, "user_disable" if value else "user_enable", target_type="user",
                 target_id=user_id, changes={"disabled": {"old": not value, "new": value}})


def reset_password(tx: Tx, user_id: str, new_hash: str, actor_id: str | None, revoke: Revoke) -> None:
    """Write job: store ``new_hash`` and end every session of ``user_id`` (``users.change_password``)."""
    row = _target(tx, user_id)
    if row["is_bot"]:
        raise invalid({"user_id": "bots have no password"})
    users.change_password(tx, user_id, None, new_hash, revoke)
    audit.record(tx, None, actor_id, "user_password_reset", target_type="user", target_id=user_id)


def delete_user(tx: Tx, user_id: str, actor_id: str | None, revoke: Revoke) -> None:
    """Write job: delete the account as ``DELETE /users/@me`` does (400 ``owner_cannot_leave``
    while it owns servers); not oneself."""
    row = _target(tx, user_id)
    if user_id == actor_id:
        raise ApiError("cannot_target_self")
    if row["is_admin"]:
        _not_last_admin(tx, user_id)
    users.delete_account(tx, user_id, revoke)
    audit.record(tx, None, actor_id, "user_delete", target_type="user", target_id=user_id,
                 changes={"username": {"old": row["username"], "new": None}})


def delete_server(tx: Tx, server_id: str, actor_id: str | None) -> None:
    """Write job: tombstone any server (``servers.tombstone_server``); 404 ``unknown_server``."""
    row = tx.conn.execute("SELECT name, owner_id FROM servers WHERE id = ? AND deleted_at IS NULL",
                          (server_id,)).fetchone()
    if row is None:
        raise ApiError("unknown_server")
    servers.tombstone_server(tx, server_id)
    audit.record(tx, None, actor_id, "server_delete", target_type="server", target_id=server_id,
                 changes={"name": {"old": row["name"], "new": None}, "owner_id": row["owner_id"]})


def list_admins(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Reader: the instance admins, oldest first (``together-server admin list``)."""
    rows = conn.execute(f"{USER_SQL} WHERE u.is_admin = 1 AND u.deleted_at IS NULL ORDER BY u.id").fetchall()
    return [_user(r) for r in rows]
