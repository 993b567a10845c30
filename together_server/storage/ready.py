"""The gateway's storage functions: READY, typing audiences, presence (API.md §6.3-§6.6).

* :func:`build_ready` reads every §6.4 field from ONE snapshot (BEGIN..ROLLBACK on a
  reader connection), so a reconnect storm costs one read transaction per session.
* :func:`typing_target` checks a ``TYPING_START`` op the way the REST path checks a post
  (VIEW_CHANNEL + SEND_MESSAGES, not timed out) and returns its audience.
* :func:`presence_batch` / :func:`set_presence` back the connect/disconnect presence
  announcements (batched, ``gateway.presence``) and the ``PRESENCE_UPDATE`` op.

The DM and read-state parts of READY come from ``storage.dms.list_dm_channels`` and
``storage.readstate.unread_and_mentions`` when those modules exist, else empty lists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .. import permissions as p
from .. import records
from ..clock import now_ts
from ..errors import ApiError
from . import accounts, dms, perms, readstate, servers, voice
from .access import need_bit, need_channel, need_not_timed_out
from .db import Event, Tx
from .users import co_member_ids

Online = Callable[[str], bool]

SQL_ROLES = (
    "SELECT id, server_id, name, permissions, color, position, created_at FROM roles"
    " WHERE server_id = ? ORDER BY position DESC, created_at ASC, id ASC"
)
SQL_CHANNELS = "SELECT id, server_id, name, type, position, category, topic, created_at FROM channels WHERE server_id = ?"
# The everyone override (role_id = server id) first, then role overrides, then user
# overrides (§4.5); within a kind, by id (creation order).
SQL_OVERRIDES = (
    "SELECT o.id, o.channel_id, o.role_id, o.user_id, o.allow, o.deny FROM overrides o"
    " JOIN channels c ON c.id = o.channel_id WHERE c.server_id = ?"
    " ORDER BY o.channel_id, CASE WHEN o.role_id = c.server_id THEN 0 WHEN o.role_id IS NOT NULL THEN 1 ELSE 2 END, o.id"
)


def override(row: sqlite3.Row) -> dict[str, Any]:
    """Override (§1.8)."""
    return {"id": row["id"], "channel_id": row["channel_id"], "role_id": row["role_id"],
            "user_id": row["user_id"], "allow": row["allow"], "deny": row["deny"]}


def build_ready(conn: sqlite3.Connection, user_id: str, online: Online) -> dict[str, Any]:
    """Every READY field of §6.4 but ``session_id`` and ``heartbeat_interval``.

    One consistent read: the whole body runs inside BEGIN..ROLLBACK. Raises ApiError
    ``unknown_user`` if the account is gone (the caller closes with 1011).
    """
    conn.execute("BEGIN")
    try:
        return _ready(conn, user_id, online)
    finally:
        conn.execute("ROLLBACK")


def _ready(conn: sqlite3.Connection, user_id: str, online: Online) -> dict[str, Any]:
    row = accounts.get_user(conn, user_id)
    if row is None or row["deleted_at"] is not None:
        raise ApiError("unknown_user")
    my_servers = servers.my_servers(conn, user_id)
    now = now_ts()
    server_roles: dict[str, list[dict[str, Any]]] = {}
    channels: dict[str, list[dict[str, Any]]] = {}
    overrides: dict[str, list[dict[str, Any]]] = {}
    own_members: dict[str, dict[str, Any]] = {}
    voice_states: dict[str, list[dict[str, Any]]] = {}
    for srv in my_servers:
        sid = srv["id"]
        server_roles[sid] = [records.role(r) for r in conn.execute(SQL_ROLES, (sid,))]
        visible = perms.visible_channel_ids(conn, sid, user_id)
        rows = {r["id"]: r for r in conn.execute(SQL_CHANNELS, (sid,))}
        channels[sid] = [records.channel(rows[c]) for c in visible if c in rows]
        seen = set(visible)
        for o in conn.execute(SQL_OVERRIDES, (sid,)):
            if o["channel_id"] in seen:
                overrides.setdefault(o["channel_id"], []).append(override(o))
        mine = servers.list_members(conn, sid, now, online, only=user_id)
        if mine:
            own_members[sid] = mine[0]
        voice_states[sid] = voice.states_in_server(conn, sid, seen)
    unread, mentions = readstate.unread_and_mentions(conn, user_id)
    return {
        "user": records.user(row, own=True, online=online(user_id)),
        "servers": my_servers,
        "dm_channels": dms.list_dm_channels(conn, user_id, online),
        "unread_counts": unread,
        "mention_counts": mentions,
        "server_roles": server_roles,
        "channel_overrides": overrides,
        "channels": channels,
        "own_members": own_members,
        "voice_states": voice_states,
    }


def typing_target(
    conn: sqlite3.Connection, channel_id: str, user_id: str, now: str
) -> tuple[dict[str, Any], frozenset[str]] | None:
    """``(TYPING_START d, viewers)`` if ``user_id`` may type in ``channel_id`` (§6.3), else None.

    The same checks as posting a message: view, SEND_MESSAGES, not timed out. The
    payload carries the username only (never an e-mail address, F17).
    """
    try:
        chan, _ctx, eff = need_channel(conn, channel_id, user_id)
        need_bit(eff, p.Permission.SEND_MESSAGES)
        need_not_timed_out(conn, chan["server_id"], user_id, now)
    except ApiError:
        return None
    row = accounts.get_user(conn, user_id)
    if row is None:
        return None
    d = {"user_id": user_id, "username": row["username"], "channel_id": channel_id, "timestamp": now}
    return d, perms.viewers(conn, channel_id)


def presence_batch(
    conn: sqlite3.Connection, user_ids: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """For the connect/disconnect announcements (gateway.presence, §6.5): ``(fields,
    audiences)`` with ``fields[uid] = {chosen_status, custom_status, activity}`` (users
    that exist) and ``audiences[uid]`` = their co-member ids (themselves included).

    Three queries for any number of users (members are read once per server), in one
    read transaction.
    """
    fields: dict[str, dict[str, Any]] = {}
    servers_of: dict[str, list[str]] = {}
    members_of: dict[str, list[str]] = {}
    conn.execute("BEGIN")
    try:
        for chunk in _chunks(user_ids):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                f"SELECT id, chosen_status, custom_status, activity FROM users WHERE id IN ({marks})", chunk
            ):
                fields[r[0]] = {"chosen_status": r[1], "custom_status": r[2], "activity": r[3]}
            for r in conn.execute(
                "SELECT m.user_id, m.server_id FROM members m JOIN servers s ON s.id = m.server_id"
                f" AND s.deleted_at IS NULL WHERE m.user_id IN ({marks})", chunk
            ):
                servers_of.setdefault(r[0], []).append(r[1])
        wanted = list({sid for sids in servers_of.values() for sid in sids})
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(f"SELECT server_id, user_id FROM members WHERE server_id IN ({marks})", chunk):
                members_of.setdefault(r[0], []).append(r[1])
    finally:
        conn.execute("ROLLBACK")
    audiences: dict[str, list[str]] = {}
    for uid, sids in servers_of.items():
        if len(sids) == 1:
            audiences[uid] = members_of.get(sids[0], [])  # shared, not copied
        else:
            audiences[uid] = list(dict.fromkeys(m for sid in sids for m in members_of.get(sid, ())))
    return fields, audiences


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def set_presence(
    tx: Tx, user_id: str, status: str, custom_status: str | None, activity: str | None,
    online: bool, exclude_session: str | None,
) -> bool:
    """The ``PRESENCE_UPDATE`` op (§6.3): store the chosen status and texts; publish
    ``PRESENCE_UPDATE`` to co-members and the user's other sessions only when what others
    see changed. Returns whether it was published."""
    before = accounts.require_user(tx.conn, user_id)
    tx.conn.execute(
        "UPDATE users SET chosen_status = ?, custom_status = ?, activity = ? WHERE id = ?",
        (status, custom_status, activity, user_id),
    )

    def seen(chosen: str, custom: str | None, act: str | None) -> tuple[str, str | None, str | None]:
        return (chosen if online else "offline", custom, act)

    old = seen(before["chosen_status"], before["custom_status"], before["activity"])
    new = seen(status, custom_status, activity)
    if old == new:
        return False
    tx.emit(Event("PRESENCE_UPDATE", {
        "user_id": user_id, "status": new[0], "custom_status": custom_status, "activity": activity,
    }, co_member_ids(tx.conn, user_id), exclude_session=exclude_session))
    return True
