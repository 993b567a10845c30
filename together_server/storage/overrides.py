"""Channel permission overrides and visibility-change events (API.md §4.5, §6.7).

Write functions take a :class:`~.db.Tx`, re-check everything inside the transaction
(§1.9) and emit their events with audiences taken inside it.

Visibility changes (§6.7 "Visibility changes"): a change that gives a member
VIEW_CHANNEL on a channel sends that member alone ``CHANNEL_CREATE`` *before* the event
that caused it; one that takes it away sends ``CHANNEL_DELETE`` *after* it, and runs
``voice.end_for_lost_view`` (a voice state there ends). :func:`emit_with_visibility` does
that for overrides (one channel) and roles (every channel of a server).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .. import permissions as p
from ..errors import ApiError
from . import audit, perms, voice
from .access import need_bit, need_channel
from .db import Event, Tx

__all__ = [
    "OVERRIDE_COLUMNS",
    "Visibility",
    "delete_override",
    "drop_member",
    "emit_with_visibility",
    "list_overrides",
    "override_record",
    "put_override",
    "visibility",
]

OVERRIDE_COLUMNS = "id, channel_id, role_id, user_id, allow, deny"

# user_id -> ids of the channels that user can view (only the channels looked at).
Visibility = dict[str, set[str]]

_CHANNEL_COLUMNS = "id, server_id, name, type, position, category, topic, created_at"


def override_record(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """The Override object of API.md §1.8: id, channel_id, role_id?, user_id?, allow, deny."""
    oid, cid, rid, uid, allow, deny = tuple(row)
    return {"id": oid, "channel_id": cid, "role_id": rid, "user_id": uid, "allow": allow, "deny": deny}


# -- visibility ----------------------------------------------------------------------

def visibility(
    conn: sqlite3.Connection, server_id: str, user_ids: Iterable[str], channel_id: str | None = None
) -> Visibility:
    """Which channels each of ``user_ids`` can view: every channel of the server, or
    only ``channel_id``. Non-members map to an empty set."""
    if channel_id is not None:
        seeing = perms.viewers(conn, channel_id)
        return {uid: ({channel_id} if uid in seeing else set()) for uid in user_ids}
    return {uid: set(perms.visible_channel_ids(conn, server_id, uid)) for uid in user_ids}


def emit_with_visibility(tx: Tx, server_id: str, before: Visibility, after: Visibility, events: list[Event]) -> None:
    """Emit ``events`` wrapped in the visibility changes between ``before`` and ``after``.

    For each user: ``CHANNEL_CREATE`` (Channel, to that user alone) for every channel
    gained, then ``events``, then ``CHANNEL_DELETE`` (``{id, server_id}``) for every
    channel lost, each followed by ``voice.end_for_lost_view`` (its VOICE_STATE_UPDATE leave
    to the channel's viewers and the user, when the user was in that voice channel).
    """
    gained = {uid: after.get(uid, set()) - seen for uid, seen in before.items()}
    lost = {uid: seen - after.get(uid, set()) for uid, seen in before.items()}
    for uid, cids in after.items():
        if uid not in before:
            gained[uid] = set(cids)
    rows: dict[str, dict[str, Any]] = {}
    needed = {c for cids in gained.values() for c in cids}
    for cid in needed:
        row = tx.conn.execute(f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE id = ?", (cid,)).fetchone()
        if row is not None:
            rows[cid] = {k: row[k] for k in row.keys()}
    for uid in sorted(gained):
        for cid in sorted(gained[uid]):
            if cid in rows:
                tx.emit(Event("CHANNEL_CREATE", rows[cid], {uid}))
    for event in events:
        tx.emit(event)
    for uid in sorted(lost):
        for cid in sorted(lost[uid]):
            tx.emit(Event("CHANNEL_DELETE", {"id": cid, "server_id": server_id}, {uid}))
            voice.end_for_lost_view(tx, cid, uid)


# -- reads ---------------------------------------------------------------------------

def list_overrides(conn: sqlite3.Connection, channel_id: str, user_id: str) -> list[dict[str, Any]]:
    """GET /channels/:id/overrides: the everyone override first, then role overrides,
    then user overrides (each group by id). 404 unknown_channel when hidden."""
    chan, _ctx, _eff = need_channel(conn, channel_id, user_id)
    rows = conn.execute(
        f"SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE channel_id = ?"
        " ORDER BY CASE WHEN role_id = ? THEN 0 WHEN role_id IS NOT NULL THEN 1 ELSE 2 END, id",
        (channel_id, chan["server_id"]),
    )
    return [override_record(r) for r in rows]


# -- writes --------------------------------------------------------------------------

def _affected(conn: sqlite3.Connection, server_id: str, role_id: str | None, user_id: str | None) -> set[str]:
    """Members whose permissions in the channel an override on this target touches."""
    if user_id is not None:
        return {user_id}
    if role_id == server_id:
        return {r[0] for r in conn.execute("SELECT user_id FROM members WHERE server_id = ?", (server_id,))}
    return {
        r[0] for r in conn.execute(
            "SELECT mr.user_id FROM member_roles mr JOIN members m"
            " ON m.server_id = mr.server_id AND m.user_id = mr.user_id"
            " WHERE mr.server_id = ? AND mr.role_id = ?", (server_id, role_id),
        )
    }


def put_override(
    tx: Tx, channel_id: str, caller_id: str, role_id: str | None, user_id: str | None,
    allow: int, deny: int, limit: int,
) -> dict[str, Any]:
    """PUT /channels/:id/overrides (API.md §4.5): create or replace the override of one
    target. The body was validated by the caller (exactly one target, channel bits only,
    no common bit). Errors in §1.6 order: 404 unknown_channel, unknown_role /
    unknown_member; 403 missing_permission (MANAGE_CHANNELS, then "only bits you hold");
    400 limit_reached. Sends CHANNEL_OVERRIDE_UPDATE to viewers before or after, wrapped
    in the visibility changes it causes."""
    chan, _ctx, eff = need_channel(tx.conn, channel_id, caller_id)
    server_id = chan["server_id"]
    if role_id is not None and role_id != server_id:
        if tx.conn.execute("SELECT 1 FROM roles WHERE id = ? AND server_id = ?", (role_id, server_id)).fetchone() is None:
            raise ApiError("unknown_role")
    if user_id is not None and perms.member_context(tx.conn, server_id, user_id) is None:
        raise ApiError("unknown_member")
    need_bit(eff, p.Permission.MANAGE_CHANNELS)
    if role_id is not None:
        old = tx.conn.execute(
            f"SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE channel_id = ? AND role_id = ?", (channel_id, role_id)
        ).fetchone()
    else:
        old = tx.conn.execute(
            f"SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE channel_id = ? AND user_id = ?", (channel_id, user_id)
        ).fetchone()
    old_allow, old_deny = (old["allow"], old["deny"]) if old is not None else (0, 0)
    if not p.override_change_allowed(eff, old_allow, old_deny, allow, deny):
        raise ApiError("missing_permission", "You may only change permission bits you hold in this channel")
    if old is None:
        (count,) = tx.conn.execute("SELECT count(*) FROM overrides WHERE channel_id = ?", (channel_id,)).fetchone()
        if count >= limit:
            raise ApiError("limit_reached", f"A channel holds at most {limit} overrides")
    affected = _affected(tx.conn, server_id, role_id, user_id)
    viewers_before = perms.viewers(tx.conn, channel_id)
    before = visibility(tx.conn, server_id, affected, channel_id)
    if old is None:
        oid, _now = tx.new_id()
        tx.conn.execute(
            "INSERT INTO overrides (id, channel_id, role_id, user_id, allow, deny) VALUES (?, ?, ?, ?, ?, ?)",
            (oid, channel_id, role_id, user_id, allow, deny),
        )
    else:
        oid = old["id"]
        tx.conn.execute("UPDATE overrides SET allow = ?, deny = ? WHERE id = ?", (allow, deny, oid))
    row = tx.conn.execute(f"SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE id = ?", (oid,)).fetchone()
    data = override_record(row)
    audit.record(tx, server_id, caller_id, "override_create" if old is None else "override_update",
                 target_type="override", target_id=oid,
                 changes={"channel_id": channel_id, "role_id": role_id, "user_id": user_id,
                          **audit.diff({"allow": old_allow if old else None, "deny": old_deny if old else None},
                                       {"allow": allow, "deny": deny})})
    after = visibility(tx.conn, server_id, affected, channel_id)
    audience = viewers_before | perms.viewers(tx.conn, channel_id)
    emit_with_visibility(tx, server_id, before, after, [Event("CHANNEL_OVERRIDE_UPDATE", data, audience)])
    return data


def delete_override(tx: Tx, channel_id: str, override_id: str, caller_id: str) -> None:
    """DELETE /channels/:id/overrides/:override_id (API.md §4.5). Errors: 404
    unknown_channel, unknown_override; 403 missing_permission (MANAGE_CHANNELS, then
    every bit the deletion changes must be held). Sends CHANNEL_OVERRIDE_DELETE
    ``{channel_id, override_id}`` to viewers before or after, with visibility changes."""
    chan, _ctx, eff = need_channel(tx.conn, channel_id, caller_id)
    server_id = chan["server_id"]
    old = tx.conn.execute(
        f"SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE id = ? AND channel_id = ?", (override_id, channel_id)
    ).fetchone()
    if old is None:
        raise ApiError("unknown_override")
    need_bit(eff, p.Permission.MANAGE_CHANNELS)
    if not p.override_change_allowed(eff, old["allow"], old["deny"], 0, 0):
        raise ApiError("missing_permission", "You may only change permission bits you hold in this channel")
    affected = _affected(tx.conn, server_id, old["role_id"], old["user_id"])
    viewers_before = perms.viewers(tx.conn, channel_id)
    before = visibility(tx.conn, server_id, affected, channel_id)
    tx.conn.execute("DELETE FROM overrides WHERE id = ?", (override_id,))
    audit.record(tx, server_id, caller_id, "override_delete", target_type="override", target_id=override_id,
                 changes={"channel_id": channel_id, "role_id": old["role_id"], "user_id": old["user_id"],
                          "allow": {"old": old["allow"], "new": None}, "deny": {"old": old["deny"], "new": None}})
    after = visibility(tx.conn, server_id, affected, channel_id)
    audience = viewers_before | perms.viewers(tx.conn, channel_id)
    event = Event("CHANNEL_OVERRIDE_DELETE", {"channel_id": channel_id, "override_id": override_id}, audience)
    emit_with_visibility(tx, server_id, before, after, [event])


def drop_member(tx: Tx, server_id: str, user_id: str) -> None:
    """Write step of ``servers.remove_member``: delete every user override of ``user_id`` in the
    server's channels; each sends ``CHANNEL_OVERRIDE_DELETE {channel_id, override_id}`` to the
    channel's viewers after the removal (§4.2, §6.7). Raises nothing.
    """
    channel_ids = [r[0] for r in tx.conn.execute("SELECT id FROM channels WHERE server_id = ?", (server_id,))]
    for cid in channel_ids:
        ov = tx.conn.execute("SELECT id FROM overrides WHERE channel_id = ? AND user_id = ?", (cid, user_id)).fetchone()
        if ov is not None:
            tx.conn.execute("DELETE FROM overrides WHERE id = ?", (ov[0],))
            tx.emit(Event("CHANNEL_OVERRIDE_DELETE", {"channel_id": cid, "override_id": ov[0]},
                          perms.viewers(tx.conn, cid)))
