"""Kick, ban, unban, bans list, timeouts (API.md §4.2, events of §6.7).

Write functions take a :class:`~.db.Tx` and re-check everything inside it (§1.9).
Kick and ban go through ``servers.remove_member``, which does the §4.2 side effects
(role assignments, read state, user overrides, voice state, in that order) and emits
the removal event first, with the audience taken before the removal.

Error order (§1.6): 404 unknown_server (caller not a member), unknown_member /
unknown_user; 400 cannot_target_self; 403 missing_permission, cannot_target_owner,
hierarchy.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from typing import Any

from .. import permissions as p
from ..clock import format_us, parse_ts
from ..errors import ApiError
from . import audit, perms
from .access import need_member, need_server_bit
from .db import Event, Tx
from .perms import MemberContext, member_ids
from .servers import remove_member

__all__ = ["ban", "kick", "list_bans", "remove_timeout", "set_timeout", "unban"]

BAN_COLUMNS = "user_id, server_id, banned_by, reason, created_at"
TIMEOUT_COLUMNS = "user_id, server_id, expires_at, reason, created_by, created_at"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _epoch_us(ts: str) -> int:
    """API timestamp -> epoch microseconds, exactly (no float rounding)."""
    return (parse_ts(ts) - _EPOCH) // _dt.timedelta(microseconds=1)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in row.keys()}


def _server_owner(conn: sqlite3.Connection, server_id: str) -> str:
    return conn.execute("SELECT owner_id FROM servers WHERE id = ?", (server_id,)).fetchone()[0]  # type: ignore[no-any-return]


def _check_target(ctx: MemberContext, target_id: str, owner_id: str, target: MemberContext | None, bit: int) -> None:
    """400 self, 403 missing bit, 403 owner, 403 rank (only against a member)."""
    if target_id == ctx.user_id:
        raise ApiError("cannot_target_self")
    need_server_bit(ctx, bit)
    if target_id == owner_id:
        raise ApiError("cannot_target_owner")
    if target is not None and not p.outranks(ctx.role_positions, target.role_positions, caller_is_owner=ctx.is_owner):
        raise ApiError("hierarchy", "The target's highest role is not below yours")


def kick(tx: Tx, server_id: str, target_id: str, caller_id: str, reason: str | None) -> None:
    """POST /servers/:id/members/:user_id/kick: KICK_MEMBERS. Sends MEMBER_KICK
    ``{server_id, user_id, reason}`` to members, the target included."""
    ctx = need_member(tx.conn, server_id, caller_id)
    target = perms.member_context(tx.conn, server_id, target_id)
    if target is None:
        raise ApiError("unknown_member")
    _check_target(ctx, target_id, _server_owner(tx.conn, server_id), target, p.Permission.KICK_MEMBERS)
    audit.record(tx, server_id, caller_id, "member_kick", target_type="member", target_id=target_id,
                 reason=reason)
    event = Event("MEMBER_KICK", {"server_id": server_id, "user_id": target_id, "reason": reason},
                  member_ids(tx.conn, server_id))
    remove_member(tx, server_id, target_id, event)


def ban(tx: Tx, server_id: str, target_id: str, caller_id: str, reason: str | None) -> None:
    """POST /servers/:id/members/:user_id/ban: BAN_MEMBERS; works on non-members (404
    unknown_user if no such user). A ban of an already banned user replaces its reason.
    Sends MEMBER_BAN ``{server_id, user_id, reason}`` to members (the target included
    when a member), then the removal side effects."""
    ctx = need_member(tx.conn, server_id, caller_id)
    if tx.conn.execute("SELECT 1 FROM users WHERE id = ?", (target_id,)).fetchone() is None:
        raise ApiError("unknown_user")
    target = perms.member_context(tx.conn, server_id, target_id)
    _check_target(ctx, target_id, _server_owner(tx.conn, server_id), target, p.Permission.BAN_MEMBERS)
    tx.conn.execute(
        "INSERT INTO bans (server_id, user_id, banned_by, reason, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (server_id, user_id) DO UPDATE SET banned_by = excluded.banned_by,"
        " reason = excluded.reason, created_at = excluded.created_at",
        (server_id, target_id, caller_id, reason, tx.now()),
    )
    audit.record(tx, server_id, caller_id, "member_ban", target_type="member", target_id=target_id,
                 reason=reason)
    event = Event("MEMBER_BAN", {"server_id": server_id, "user_id": target_id, "reason": reason},
                  member_ids(tx.conn, server_id))
    if target is None:
        tx.emit(event)
    else:
        remove_member(tx, server_id, target_id, event)


def unban(tx: Tx, server_id: str, target_id: str, caller_id: str) -> None:
    """DELETE /servers/:id/bans/:user_id: BAN_MEMBERS; 204 whether or not a ban existed.
    Sends MEMBER_UNBAN ``{server_id, user_id}`` to members only when a ban went."""
    ctx = need_member(tx.conn, server_id, caller_id)
    need_server_bit(ctx, p.Permission.BAN_MEMBERS)
    cur = tx.conn.execute("DELETE FROM bans WHERE server_id = ? AND user_id = ?", (server_id, target_id))
    if cur.rowcount:
        audit.record(tx, server_id, caller_id, "member_unban", target_type="member", target_id=target_id)
        tx.emit(Event("MEMBER_UNBAN", {"server_id": server_id, "user_id": target_id}, member_ids(tx.conn, server_id)))


def list_bans(conn: sqlite3.Connection, server_id: str, caller_id: str) -> list[dict[str, Any]]:
    """GET /servers/:id/bans: [Ban], newest first (then user_id descending)."""
    ctx = need_member(conn, server_id, caller_id)
    need_server_bit(ctx, p.Permission.BAN_MEMBERS)
    rows = conn.execute(
        f"SELECT {BAN_COLUMNS} FROM bans WHERE server_id = ? ORDER BY created_at DESC, user_id DESC", (server_id,)
    )
    return [_row(r) for r in rows]


def set_timeout(
    tx: Tx, server_id: str, target_id: str, caller_id: str, minutes: int, reason: str | None
) -> dict[str, Any]:
    """POST /servers/:id/members/:user_id/timeout: MUTE_MEMBERS; the target must be a
    member. Replaces any running timeout; ``expires_at`` = now + ``minutes``. Returns
    the Timeout and sends MEMBER_TIMEOUT ``{server_id, user_id, expires_at, reason}``
    to members."""
    ctx = need_member(tx.conn, server_id, caller_id)
    target = perms.member_context(tx.conn, server_id, target_id)
    if target is None:
        raise ApiError("unknown_member")
    _check_target(ctx, target_id, _server_owner(tx.conn, server_id), target, p.Permission.MUTE_MEMBERS)
    now = tx.now()
    expires = format_us(_epoch_us(now) + minutes * 60_000_000)
    tx.conn.execute(
        "INSERT INTO timeouts (server_id, user_id, expires_at, reason, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (server_id, user_id) DO UPDATE SET"
        " expires_at = excluded.expires_at, reason = excluded.reason,"
        " created_by = excluded.created_by, created_at = excluded.created_at",
        (server_id, target_id, expires, reason, caller_id, now),
    )
    row = tx.conn.execute(
        f"SELECT {TIMEOUT_COLUMNS} FROM timeouts WHERE server_id = ? AND user_id = ?", (server_id, target_id)
    ).fetchone()
    data = _row(row)
    audit.record(tx, server_id, caller_id, "member_timeout", target_type="member", target_id=target_id,
                 changes={"expires_at": {"old": None, "new": expires}, "duration_minutes": minutes},
                 reason=reason)
    tx.emit(Event("MEMBER_TIMEOUT", {"server_id": server_id, "user_id": target_id, "expires_at": expires,
                                     "reason": reason}, member_ids(tx.conn, server_id)))
    return data


def remove_timeout(tx: Tx, server_id: str, target_id: str, caller_id: str) -> None:
    """DELETE /servers/:id/members/:user_id/timeout: MUTE_MEMBERS; works on users who
    left; 204 whether or not a timeout ran. Sends MEMBER_TIMEOUT_REMOVE
    ``{server_id, user_id}`` to members only when a running timeout went."""
    ctx = need_member(tx.conn, server_id, caller_id)
    target = perms.member_context(tx.conn, server_id, target_id)
    _check_target(ctx, target_id, _server_owner(tx.conn, server_id), target, p.Permission.MUTE_MEMBERS)
    now = tx.now()
    running = perms.timed_out_until(tx.conn, server_id, target_id, now) is not None
    tx.conn.execute("DELETE FROM timeouts WHERE server_id = ? AND user_id = ?", (server_id, target_id))
    if running:
        audit.record(tx, server_id, caller_id, "member_timeout_remove", target_type="member",
                     target_id=target_id)
        tx.emit(Event("MEMBER_TIMEOUT_REMOVE", {"server_id": server_id, "user_id": target_id},
                      member_ids(tx.conn, server_id)))
