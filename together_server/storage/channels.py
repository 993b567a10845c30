"""Channels of a server (API.md §3.4)."""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import permissions as p
from .. import records
from ..errors import ApiError
from ..text import fold
from . import attachments, audit, perms, voice
from .access import need_bit, need_channel, need_member, need_server_bit
from .db import Event, Tx

MAX_POSITION = 2**31 - 1
CHANNEL_COLUMNS = "id, server_id, name, type, position, category, topic, created_at"

def list_channels(conn: sqlite3.Connection, server_id: str, user_id: str) -> list[dict[str, Any]]:
    """Channels the caller can view, by position, then created_at, then id."""
    need_member(conn, server_id, user_id)
    ids = perms.visible_channel_ids(conn, server_id, user_id)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = {r["id"]: r for r in conn.execute(f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE id IN ({marks})", ids)}
    return [records.channel(rows[i]) for i in ids if i in rows]


def get_channel(conn: sqlite3.Connection, channel_id: str, user_id: str, server_id: str | None) -> dict[str, Any]:
    """Reader: Channel (§1.8) ``channel_id`` if ``user_id`` can view it (``GET`` of §3.4).

    ``server_id`` is given on the nested route: 404 ``unknown_server`` for a non-member, and a
    channel of another server is 404 ``unknown_channel`` (as is a missing or hidden one).
    """
    if server_id is not None:
        need_member(conn, server_id, user_id)
    row, _ctx, _eff = need_channel(conn, channel_id, user_id, server_id=server_id)
    return records.channel(row)


def create_channel(tx: Tx, server_id: str, user_id: str, fields: dict[str, Any], limit: int) -> dict[str, Any]:
    """Write job: create a channel from validated ``fields`` (name, type, topic?, category?) at
    max position + 1 (capped at 2^31-1); returns the Channel (§3.4). Needs MANAGE_CHANNELS at server
    level. Raises 404 ``unknown_server``, 403 ``missing_permission``, 400 ``limit_reached`` (``limit``
    channels). Emits CHANNEL_CREATE to the channel's viewers.
    """
    ctx = need_member(tx.conn, server_id, user_id)
    need_server_bit(ctx, p.Permission.MANAGE_CHANNELS)
    count, top = tx.conn.execute(
        "SELECT count(*), max(position) FROM channels WHERE server_id = ?", (server_id,)
    ).fetchone()
    if count >= limit:
        raise ApiError("limit_reached", f"A server holds at most {limit} channels")
    position = 0 if top is None else min(top + 1, MAX_POSITION)
    cid, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO channels (id, server_id, name, name_fold, type, position, category, topic, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (cid, server_id, fields["name"], fold(fields["name"]), fields["type"], position,
         fields.get("category"), fields.get("topic"), now),
    )
    row = tx.conn.execute(f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = ?", (cid,)).fetchone()
    data = records.channel(row)
    audit.record(tx, server_id, user_id, "channel_create", target_type="channel", target_id=cid,
                 changes=audit.diff({}, {k: data[k] for k in ("name", "type", "topic", "category")}))
    tx.emit(Event("CHANNEL_CREATE", data, perms.viewers(tx.conn, cid)))
    return data


def update_channel(
    tx: Tx, channel_id: str, user_id: str, server_id: str | None, changes: dict[str, Any]
) -> dict[str, Any]:
    """Write job: apply ``changes`` (name/topic/category/position) and return the Channel (§3.4).

    Needs MANAGE_CHANNELS in the channel. Raises 404 ``unknown_server``/``unknown_channel``, 403
    ``missing_permission``. Emits CHANNEL_UPDATE to the channel's viewers (even with no change).
    """
    if server_id is not None:
        need_member(tx.conn, server_id, user_id)
    before, _ctx, eff = need_channel(tx.conn, channel_id, user_id, server_id=server_id)
    need_bit(eff, p.Permission.MANAGE_CHANNELS)
    changed = audit.diff(dict(before), changes)
    if changed:
        audit.record(tx, before["server_id"], user_id, "channel_update", target_type="channel",
                     target_id=channel_id, changes=changed)
    if "name" in changes:
        changes = {**changes, "name_fold": fold(changes["name"])}
    if changes:
        cols = ", ".join(f"{k} = ?" for k in changes)
        tx.conn.execute(f"UPDATE channels SET {cols} WHERE id = ?", (*changes.values(), channel_id))
    row = tx.conn.execute(f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = ?", (channel_id,)).fetchone()
    data = records.channel(row)
    tx.emit(Event("CHANNEL_UPDATE", data, perms.viewers(tx.conn, channel_id)))
    return data


def delete_channel(tx: Tx, channel_id: str, user_id: str, server_id: str | None) -> None:
    """Write job: delete the channel with its messages, overrides and read states (§3.4).

    Needs MANAGE_CHANNELS in the channel. Raises 404 ``unknown_server``/``unknown_channel``, 403
    ``missing_permission``. In this order, audiences taken before the delete (the viewers):
    1. ``voice.end_for_channel``: a VOICE_STATE_UPDATE leave per voice state in it (§4.6);
    2. CHANNEL_DELETE ``{id, server_id}``;
    3. its read states, then the row (messages, overrides and pins go by FK cascade; the FTS
       triggers drop the messages' index rows).
    """
    if server_id is not None:
        need_member(tx.conn, server_id, user_id)
    row, _ctx, eff = need_channel(tx.conn, channel_id, user_id, server_id=server_id)
    need_bit(eff, p.Permission.MANAGE_CHANNELS)
    audience = perms.viewers(tx.conn, channel_id)
    audit.record(tx, row["server_id"], user_id, "channel_delete", target_type="channel", target_id=channel_id,
                 changes={"name": {"old": row["name"], "new": None}, "type": {"old": row["type"], "new": None}})
    voice.end_for_channel(tx, channel_id)
    tx.emit(Event("CHANNEL_DELETE", {"id": channel_id, "server_id": row["server_id"]}, audience))
    tx.conn.execute("DELETE FROM read_states WHERE channel_id = ?", (channel_id,))
    attachments.release_for_channel(tx, channel_id)  # files leave every answer now (issue 10)
    # Messages go with the channel (FK cascade); the FTS triggers drop their index rows.
    tx.conn.execute("DELETE FROM channels WHERE id = ?", (channel_id,))
