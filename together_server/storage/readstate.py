"""Read markers, acks, and the unread / mention counts of READY (API.md §4.11, §6.4).

A read marker is a message id in ``read_states`` (0001). A channel never acked has its
marker at the member's ``joined_at`` (server channel) or the DM channel's ``created_at``:
we turn that time into the smallest id of its millisecond (:func:`floor_marker`), which
the id index can range-scan, and also require ``created_at > that time`` so a message
from just before the join is not counted.

Unread messages are by others, not deleted, with an id above the marker; mentions are
the unread ones that name the user or carry ``mention_everyone``. Both stop at
:data:`CAP` (1,000). Counting walks the ``messages_unread`` / ``dm_messages_channel``
partial indexes with ``LIMIT 1000`` subqueries; direct mentions come from one range scan
of ``message_mentions_user`` and @everyone mentions from the small ``messages_everyone``
index, so READY never walks a channel's whole backlog for mentions.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..clock import parse_ts
from ..errors import ApiError
from . import dms, perms
from .access import need_channel
from .db import Event, Tx

CAP = 1000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)

SQL_UNREAD = (
    "SELECT count(*) FROM (SELECT 1 FROM messages WHERE channel_id = ? AND deleted = 0"
    f" AND id > ? AND created_at > ? AND author_id != ? LIMIT {CAP})"
)
SQL_DM_UNREAD = (
    "SELECT count(*) FROM (SELECT 1 FROM dm_messages WHERE channel_id = ? AND deleted = 0"
    f" AND id > ? AND created_at > ? AND author_id != ? LIMIT {CAP})"
)
SQL_MY_SERVERS = (
    "SELECT m.server_id, m.joined_at FROM members m JOIN servers s ON s.id = m.server_id"
    " AND s.deleted_at IS NULL WHERE m.user_id = ? ORDER BY s.created_at, s.id"
)
SQL_DIRECT_MENTIONS = (
    "SELECT m.channel_id, m.id, m.created_at FROM message_mentions mm"
    " JOIN messages m ON m.id = mm.message_id"
    " WHERE mm.user_id = :me AND mm.message_id > :floor AND m.deleted = 0 AND m.author_id != :me"
)
SQL_EVERYONE_MENTIONS = (
    "SELECT channel_id, id, created_at FROM messages"
    " WHERE server_id = :server AND mention_everyone = 1 AND deleted = 0 AND id > :floor AND author_id != :me"
)


def floor_marker(ts: str) -> str:
    """The smallest UUID whose UUIDv7 time field is ``ts``'s millisecond: every message id
    made in or after that millisecond sorts above it."""
    ms = (parse_ts(ts) - _EPOCH) // _dt.timedelta(milliseconds=1)
    h = f"{ms:012x}{0:020x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _markers(conn: sqlite3.Connection, user_id: str) -> dict[str, str]:
    return dict(conn.execute("SELECT channel_id, marker FROM read_states WHERE user_id = ?", (user_id,)).fetchall())


def unread_and_mentions(
    conn: sqlite3.Connection, user_id: str, visible: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """READY ``unread_counts`` and ``mention_counts`` (§6.4) from one snapshot of ``conn``.

    Returns ``([{channel_id, unread_count}], [{channel_id, count}])``: server channels the
    user can view (servers oldest first, channels in ``GET …/channels`` order), then DM
    channels (unread only); entries with a zero count are left out; counts are capped at
    1000. ``visible`` (optional): ``{server_id: visible channel ids}`` already computed
    by the caller in the same snapshot, to skip ``perms.visible_channel_ids``. Cost: one
    query per channel and per DM, one per server for @everyone, one mention scan, plus
    3 per server when ``visible`` is not given.
    """
    stored = _markers(conn, user_id)
    # channel_id -> (marker id, created_at floor); server channels first, in order
    points: dict[str, tuple[str, str]] = {}
    servers: list[tuple[str, str]] = []
    for server_id, joined_at in conn.execute(SQL_MY_SERVERS, (user_id,)).fetchall():
        default = (floor_marker(joined_at), joined_at)
        ids = visible.get(server_id, ()) if visible is not None else perms.visible_channel_ids(conn, server_id, user_id)
        if ids:
            servers.append((server_id, min(stored.get(c, default[0]) for c in ids)))
        for cid in ids:
            marker = stored.get(cid)
            points[cid] = default if marker is None else (marker, "")
    unread: list[dict[str, Any]] = []
    for cid, (marker, since) in points.items():
        (n,) = conn.execute(SQL_UNREAD, (cid, marker, since, user_id)).fetchone()
        if n:
            unread.append({"channel_id": cid, "unread_count": n})
    for dm_id, created_at in dms.dm_ids_of(conn, user_id):
        marker = stored.get(dm_id)
        marker, since = (floor_marker(created_at), created_at) if marker is None else (marker, "")
        (n,) = conn.execute(SQL_DM_UNREAD, (dm_id, marker, since, user_id)).fetchone()
        if n:
            unread.append({"channel_id": dm_id, "unread_count": n})
    return unread, _mention_counts(conn, user_id, points, servers)


def _mention_counts(
    conn: sqlite3.Connection, user_id: str, points: dict[str, tuple[str, str]], servers: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    if not servers:
        return []
    found: dict[str, set[str]] = {}

    def consider(rows: Any) -> None:
        for cid, mid, created_at in rows:
            point = points.get(cid)
            if point is not None and mid > point[0] and created_at > point[1]:
                found.setdefault(cid, set()).add(mid)

    lowest = min(floor for _sid, floor in servers)
    consider(conn.execute(SQL_DIRECT_MENTIONS, {"me": user_id, "floor": lowest}))
    for server_id, floor in servers:
        consider(conn.execute(SQL_EVERYONE_MENTIONS, {"server": server_id, "floor": floor, "me": user_id}))
    return [{"channel_id": cid, "count": min(len(found[cid]), CAP)} for cid in points if cid in found]


# -- acks ----------------------------------------------------------------------------

def _store(tx: Tx, user_id: str, channel_id: str, marker: str) -> None:
    tx.conn.execute(
        "INSERT INTO read_states (user_id, channel_id, marker) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, channel_id) DO UPDATE SET marker = excluded.marker",
        (user_id, channel_id, marker),
    )


def _ack(tx: Tx, user_id: str, channel_id: str, message_id: str | None, newest: str | None) -> str | None:
    """Store the marker and send CHANNEL_ACK to the user's sessions; returns the acked id.

    With no message at all, the marker is a fresh id from the writer's clock: every later
    message gets a larger id, so it is "a point every later message passes" (§4.11).
    """
    acked = message_id if message_id is not None else newest
    _store(tx, user_id, channel_id, acked if acked is not None else tx.new_id()[0])
    tx.emit(Event("CHANNEL_ACK", {"channel_id": channel_id, "message_id": acked}, {user_id}))
    return acked


def ack_channel(tx: Tx, channel_id: str, user_id: str, message_id: str | None) -> str | None:
    """``POST /channels/:id/ack``: 404 unknown_channel (cannot view), 404 unknown_message
    (``message_id`` not an undeleted message of this channel). Backwards is allowed."""
    need_channel(tx.conn, channel_id, user_id)
    if message_id is not None:
        ok = tx.conn.execute(
            "SELECT 1 FROM messages WHERE id = ? AND channel_id = ? AND deleted = 0", (message_id, channel_id)
        ).fetchone()
        if ok is None:
            raise ApiError("unknown_message")
        return _ack(tx, user_id, channel_id, message_id, None)
    row = tx.conn.execute(
        "SELECT id FROM messages WHERE channel_id = ? AND deleted = 0 ORDER BY id DESC LIMIT 1", (channel_id,)
    ).fetchone()
    return _ack(tx, user_id, channel_id, None, None if row is None else row[0])


def ack_dm(tx: Tx, dm_id: str, user_id: str, message_id: str | None) -> str | None:
    """``POST /dm-channels/:id/ack``: 404 unknown_channel (not a participant), 404
    unknown_message. Same marker rules as :func:`ack_channel`."""
    dms.need_participant(tx.conn, dm_id, user_id)
    if message_id is not None:
        if not dms.dm_message_in(tx.conn, dm_id, message_id):
            raise ApiError("unknown_message")
        return _ack(tx, user_id, dm_id, message_id, None)
    row = tx.conn.execute(
        "SELECT id FROM dm_messages WHERE channel_id = ? AND deleted = 0 ORDER BY id DESC LIMIT 1", (dm_id,)
    ).fetchone()
    return _ack(tx, user_id, dm_id, None, None if row is None else row[0])


def drop_member(tx: Tx, server_id: str, user_id: str) -> None:
    """Write step of ``servers.remove_member``: forget ``user_id``'s read states in the channels of
    ``server_id`` (a later re-join starts from the join, §4.11). Emits nothing."""
    tx.conn.execute(
        "DELETE FROM read_states WHERE user_id = ? AND channel_id IN (SELECT id FROM channels WHERE server_id = ?)",
        (user_id, server_id),
    )
