"""Roles and member roles (API.md §4.4, events of §6.7).

Write functions take a :class:`~.db.Tx`, re-check membership, the role and the
permissions inside the transaction (§1.9), and emit their events with audiences taken
inside it, wrapped in the visibility changes they cause (``overrides.emit_with_visibility``).

Error order (§1.6): 404 unknown_server (caller not a member), unknown_member,
unknown_role; 403 missing_permission (MANAGE_ROLES), cannot_target_owner, hierarchy;
400 limit_reached.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import permissions as p
from .. import records
from ..errors import ApiError
from . import audit, perms
from .access import need_member, need_server_bit
from .db import Event, Tx
from .overrides import OVERRIDE_COLUMNS, emit_with_visibility, visibility
from .perms import MemberContext, member_ids

__all__ = [
    "ROLE_COLUMNS",
    "assign_role",
    "create_role",
    "delete_role",
    "list_roles",
    "remove_role",
    "update_role",
]

ROLE_COLUMNS = "id, server_id, name, permissions, color, position, created_at"
SQL_ROLES = f"SELECT {ROLE_COLUMNS} FROM roles WHERE server_id = ? ORDER BY position DESC, created_at ASC, id ASC"


def _role(conn: sqlite3.Connection, server_id: str, role_id: str) -> sqlite3.Row:
    row = conn.execute(f"SELECT {ROLE_COLUMNS} FROM roles WHERE id = ? AND server_id = ?", (role_id, server_id)).fetchone()
    if row is None:
        raise ApiError("unknown_role")
    return row  # type: ignore[no-any-return]


def _need_position(ctx: MemberContext, position: int) -> None:
    """403 hierarchy unless the caller is the owner or ``position`` < H (§4.4)."""
    if not p.role_position_allowed(ctx.role_positions, position, caller_is_owner=ctx.is_owner):
        raise ApiError("hierarchy", "You may only manage roles below your highest role")


def _need_grant(ctx: MemberContext, old: int, new: int) -> None:
    """403 hierarchy when granting bits the caller lacks (ADMINISTRATOR and owner exempt)."""
    if not p.role_grant_allowed(perms.server_perms(ctx), old, new):
        raise ApiError("hierarchy", "You may not grant permissions you do not hold")


def _holders(conn: sqlite3.Connection, server_id: str, role_id: str) -> set[str]:
    return {
        r[0] for r in conn.execute(
            "SELECT mr.user_id FROM member_roles mr JOIN members m ON m.server_id = mr.server_id"
            " AND m.user_id = mr.user_id WHERE mr.server_id = ? AND mr.role_id = ?", (server_id, role_id),
        )
    }


def list_roles(conn: sqlite3.Connection, server_id: str, user_id: str) -> list[dict[str, Any]]:
    """GET /servers/:id/roles: [Role], highest position first, then older first, then id."""
    need_member(conn, server_id, user_id)
    return [records.role(r) for r in conn.execute(SQL_ROLES, (server_id,))]


def create_role(tx: Tx, server_id: str, user_id: str, fields: dict[str, Any], limit: int) -> dict[str, Any]:
    """POST /servers/:id/roles. ``fields``: name, permissions (0), color (None),
    position (0). Sends ROLE_CREATE (Role) to members."""
    ctx = need_member(tx.conn, server_id, user_id)
    need_server_bit(ctx, p.Permission.MANAGE_ROLES)
    position = fields.get("position", 0)
    permissions = fields.get("permissions", 0)
    _need_position(ctx, position)
    _need_grant(ctx, 0, permissions)
    (count,) = tx.conn.execute("SELECT count(*) FROM roles WHERE server_id = ?", (server_id,)).fetchone()
    if count >= limit:
        raise ApiError("limit_reached", f"A server holds at most {limit} roles")
    rid, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO roles (id, server_id, name, permissions, color, position, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rid, server_id, fields["name"], permissions, fields.get("color"), position, now),
    )
    data = records.role(_role(tx.conn, server_id, rid))
    audit.record(tx, server_id, user_id, "role_create", target_type="role", target_id=rid,
                 changes=audit.diff({}, {k: data[k] for k in ("name", "permissions", "color", "position")}))
    tx.emit(Event("ROLE_CREATE", data, member_ids(tx.conn, server_id)))
    return data


def update_role(tx: Tx, server_id: str, role_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH /servers/:id/roles/:role_id. ``changes``: any of name, permissions, color
    (None clears), position. Sends ROLE_UPDATE (Role) to members, wrapped in the
    visibility changes a permission edit causes for the role's holders."""
    ctx = need_member(tx.conn, server_id, user_id)
    old = _role(tx.conn, server_id, role_id)
    need_server_bit(ctx, p.Permission.MANAGE_ROLES)
    _need_position(ctx, old["position"])
    if "position" in changes:
        _need_position(ctx, changes["position"])
    if "permissions" in changes:
        _need_grant(ctx, old["permissions"], changes["permissions"])
    perms_change = "permissions" in changes and changes["permissions"] != old["permissions"]
    holders = _holders(tx.conn, server_id, role_id) if perms_change else set()
    before = visibility(tx.conn, server_id, holders)
    changed = audit.diff(dict(old), changes)
    if changed:
        audit.record(tx, server_id, user_id, "role_update", target_type="role", target_id=role_id, changes=changed)
    if changes:
        cols = ", ".join(f"{k} = ?" for k in changes)
        tx.conn.execute(f"UPDATE roles SET {cols} WHERE id = ?", (*changes.values(), role_id))
    data = records.role(_role(tx.conn, server_id, role_id))
    after = visibility(tx.conn, server_id, holders)
    emit_with_visibility(tx, server_id, before, after, [Event("ROLE_UPDATE", data, member_ids(tx.conn, server_id))])
    return data


def delete_role(tx: Tx, server_id: str, role_id: str, user_id: str) -> None:
    """DELETE /servers/:id/roles/:role_id: the role leaves every member (no
    MEMBER_ROLE_REMOVE) and its overrides go (each CHANNEL_OVERRIDE_DELETE to the
    channel's viewers before or after). Sends ROLE_DELETE ``{server_id, role_id}`` to
    members, with the holders' visibility changes around it all."""
    ctx = need_member(tx.conn, server_id, user_id)
    old = _role(tx.conn, server_id, role_id)
    need_server_bit(ctx, p.Permission.MANAGE_ROLES)
    _need_position(ctx, old["position"])
    holders = _holders(tx.conn, server_id, role_id)
    before = visibility(tx.conn, server_id, holders)
    ovs = tx.conn.execute(
        f"SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE role_id = ?"
        " AND channel_id IN (SELECT id FROM channels WHERE server_id = ?) ORDER BY id", (role_id, server_id),
    ).fetchall()
    viewers_before = {o["channel_id"]: perms.viewers(tx.conn, o["channel_id"]) for o in ovs}
    tx.conn.execute("DELETE FROM member_roles WHERE server_id = ? AND role_id = ?", (server_id, role_id))
    tx.conn.execute("DELETE FROM overrides WHERE role_id = ?", (role_id,))
    tx.conn.execute("DELETE FROM roles WHERE id = ?", (role_id,))
    audit.record(tx, server_id, user_id, "role_delete", target_type="role", target_id=role_id,
                 changes={"name": {"old": old["name"], "new": None},
                          "permissions": {"old": old["permissions"], "new": None}})
    events = [Event("ROLE_DELETE", {"server_id": server_id, "role_id": role_id}, member_ids(tx.conn, server_id))]
    for o in ovs:
        cid = o["channel_id"]
        events.append(Event("CHANNEL_OVERRIDE_DELETE", {"channel_id": cid, "override_id": o["id"]},
                            viewers_before[cid] | perms.viewers(tx.conn, cid)))
    after = visibility(tx.conn, server_id, holders)
    emit_with_visibility(tx, server_id, before, after, events)


def _member_role_target(tx: Tx, server_id: str, target_id: str, role_id: str, caller_id: str) -> tuple[
    MemberContext, MemberContext, sqlite3.Row
]:
    ctx = need_member(tx.conn, server_id, caller_id)
    target = perms.member_context(tx.conn, server_id, target_id)
    if target is None:
        raise ApiError("unknown_member")
    role = _role(tx.conn, server_id, role_id)
    need_server_bit(ctx, p.Permission.MANAGE_ROLES)
    return ctx, target, role


def _member_role_event(kind: str, tx: Tx, server_id: str, target_id: str, role: sqlite3.Row) -> Event:
    data = {"server_id": server_id, "user_id": target_id, "role_id": role["id"],
            "role_name": role["name"], "role_color": role["color"]}
    return Event(kind, data, member_ids(tx.conn, server_id))


def assign_role(tx: Tx, server_id: str, target_id: str, role_id: str, caller_id: str) -> None:
    """PUT /servers/:id/members/:user_id/roles/:role_id (position rules only). Sends
    MEMBER_ROLE_ADD to members unless the member already had the role."""
    ctx, target, role = _member_role_target(tx, server_id, target_id, role_id, caller_id)
    _need_position(ctx, role["position"])
    if role_id in target.role_ids:
        return
    before = visibility(tx.conn, server_id, [target_id])
    tx.conn.execute("INSERT INTO member_roles (server_id, user_id, role_id) VALUES (?, ?, ?)",
                    (server_id, target_id, role_id))
    audit.record(tx, server_id, caller_id, "member_role_add", target_type="member", target_id=target_id,
                 changes={"role_id": role_id, "role_name": role["name"]})
    after = visibility(tx.conn, server_id, [target_id])
    emit_with_visibility(tx, server_id, before, after,
                         [_member_role_event("MEMBER_ROLE_ADD", tx, server_id, target_id, role)])


def remove_role(tx: Tx, server_id: str, target_id: str, role_id: str, caller_id: str) -> None:
    """DELETE /servers/:id/members/:user_id/roles/:role_id. Only the owner may remove a
    role from the owner (403 cannot_target_owner). Sends MEMBER_ROLE_REMOVE to members
    unless the member lacked the role."""
    ctx, target, role = _member_role_target(tx, server_id, target_id, role_id, caller_id)
    if target.is_owner and not ctx.is_owner:
        raise ApiError("cannot_target_owner")
    _need_position(ctx, role["position"])
    if role_id not in target.role_ids:
        return
    before = visibility(tx.conn, server_id, [target_id])
    tx.conn.execute("DELETE FROM member_roles WHERE server_id = ? AND user_id = ? AND role_id = ?",
                    (server_id, target_id, role_id))
    audit.record(tx, server_id, caller_id, "member_role_remove", target_type="member", target_id=target_id,
                 changes={"role_id": role_id, "role_name": role["name"]})
    after = visibility(tx.conn, server_id, [target_id])
    emit_with_visibility(tx, server_id, before, after,
                         [_member_role_event("MEMBER_ROLE_REMOVE", tx, server_id, target_id, role)])
