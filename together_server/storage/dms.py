"""Direct-message channels and their messages (API.md §4.8, §1.8 DmChannel/DirectMessage).

A DM channel has exactly two participants stored as ``user_a < user_b``; the UNIQUE
constraint on the pair and the single writer make "one channel per pair" hold, and of
two opens racing for a pair the first creates it (201) and the second finds it (200).
Events: ``DM_CHANNEL_CREATE`` (each participant gets their own view), ``DM_MESSAGE_CREATE``
and ``DM_MESSAGE_DELETE`` to both participants (§6.7).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .. import records
from ..errors import ApiError
from . import attachments
from .db import Event, Tx
from .paging import cursor_page

Online = Callable[[str], bool]

USER_COLUMNS = (
    "id, username, email, avatar_url, bio, pronouns, chosen_status, custom_status, activity,"
    " is_admin, is_bot, deleted_at, created_at"
)
DM_MESSAGE_COLUMNS = "id, channel_id, author_id, content, edited_at, created_at"

# last_message_at: the newest message that is not deleted (dm_messages_channel index).
_LAST_AT = (
    "(SELECT m.created_at FROM dm_messages m WHERE m.channel_id = c.id AND m.deleted = 0"
    " ORDER BY m.id DESC LIMIT 1)"
)
# Channels without messages last, newest created_at first; ties by id (§1.7).
SQL_MY_DMS = f"""
SELECT * FROM (
    SELECT c.id, c.created_at, c.user_b AS other, {_LAST_AT} AS last_message_at
    FROM dm_channels c WHERE c.user_a = :me
    UNION ALL
    SELECT c.id, c.created_at, c.user_a AS other, {_LAST_AT} AS last_message_at
    FROM dm_channels c WHERE c.user_b = :me
)
ORDER BY last_message_at IS NULL, last_message_at DESC, created_at DESC, id DESC
"""
SQL_DM = "SELECT id, user_a, user_b, created_at FROM dm_channels WHERE id = ?"


def pair(a: str, b: str) -> tuple[str, str]:
    """The stored spelling of a pair: the smaller id first."""
    return (a, b) if a < b else (b, a)


def _users(conn: sqlite3.Connection, ids: list[str]) -> dict[str, sqlite3.Row]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r["id"]: r for r in conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id IN ({marks})", ids)}


def recipient(row: sqlite3.Row, online: Online) -> dict[str, Any]:
    """The ``recipient`` User of a DmChannel: email, chosen_status and activity null,
    is_admin false (§1.8)."""
    data = records.user(row, own=False, online=online(row["id"]))
    data["activity"] = None
    return data


def dm_channel(
    channel_id: str, created_at: str, last_message_at: str | None, other: sqlite3.Row, online: Online
) -> dict[str, Any]:
    """DmChannel as seen by the participant who is not ``other``."""
    return {
        "id": channel_id,
        "recipient": recipient(other, online),
        "created_at": created_at,
        "last_message_at": last_message_at,
    }


def direct_message(row: sqlite3.Row, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """DirectMessage: ``id, channel_id, author_id, content, edited_at, created_at``, plus
    ``attachments`` [Attachment] (issue 10)."""
    data = {k: row[k] for k in ("id", "channel_id", "author_id", "content", "edited_at", "created_at")}
    data["attachments"] = files or []
    return data


def list_dm_channels(conn: sqlite3.Connection, user_id: str, online: Online) -> list[dict[str, Any]]:
    """``GET /dm-channels`` and READY ``dm_channels``: [DmChannel], most recent
    ``last_message_at`` first, channels without messages last (newest ``created_at``
    first). ``online(user_id) -> bool`` gives the recipients' presence. Two queries."""
    rows = conn.execute(SQL_MY_DMS, {"me": user_id}).fetchall()
    people = _users(conn, list({r["other"] for r in rows}))
    return [
        dm_channel(r["id"], r["created_at"], r["last_message_at"], people[r["other"]], online)
        for r in rows if r["other"] in people
    ]


def dm_ids_of(conn: sqlite3.Connection, user_id: str) -> list[tuple[str, str]]:
    """``[(dm_channel_id, created_at)]`` of every DM channel the user takes part in."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, created_at FROM dm_channels WHERE user_a = ?1"
        " UNION ALL SELECT id, created_at FROM dm_channels WHERE user_b = ?1", (user_id,))]


def need_participant(conn: sqlite3.Connection, dm_id: str, user_id: str) -> tuple[sqlite3.Row, str]:
    """``(dm_row, other_user_id)``; 404 unknown_channel when missing or not a participant."""
    row = conn.execute(SQL_DM, (dm_id,)).fetchone()
    if row is None or user_id not in (row["user_a"], row["user_b"]):
        raise ApiError("unknown_channel")
    return row, row["user_b"] if row["user_a"] == user_id else row["user_a"]


def _live_user(conn: sqlite3.Connection, user_id: str) -> sqlite3.Row:
    """The user row; 404 unknown_user when missing or deleted (§3.2)."""
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None or row["deleted_at"] is not None:
        raise ApiError("unknown_user")
    return row  # type: ignore[no-any-return]


def _share_a_server(conn: sqlite3.Connection, a: str, b: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM members ma JOIN members mb ON mb.server_id = ma.server_id AND mb.user_id = ?"
        " JOIN servers s ON s.id = ma.server_id AND s.deleted_at IS NULL WHERE ma.user_id = ? LIMIT 1",
        (b, a),
    ).fetchone() is not None


def _last_message_at(conn: sqlite3.Connection, dm_id: str) -> str | None:
    row = conn.execute(
        "SELECT created_at FROM dm_messages WHERE channel_id = ? AND deleted = 0 ORDER BY id DESC LIMIT 1",
        (dm_id,),
    ).fetchone()
    return None if row is None else row[0]  # type: ignore[no-any-return]


def open_dm(tx: Tx, user_id: str, target_id: str, online: Online) -> tuple[dict[str, Any], bool]:
    """``POST /dm-channels``: ``(DmChannel for the caller, created)``.

    Order: 404 unknown_user (missing or deleted target) -> 400 cannot_target_self ->
    existing channel (200) -> 403 no_shared_server -> create (201, DM_CHANNEL_CREATE to
    both sides, each with their own ``recipient``).
    """
    other = _live_user(tx.conn, target_id)
    if target_id == user_id:
        raise ApiError("cannot_target_self", "You cannot open a DM with yourself")
    a, b = pair(user_id, target_id)
    row = tx.conn.execute("SELECT id, created_at FROM dm_channels WHERE user_a = ? AND user_b = ?", (a, b)).fetchone()
    if row is not None:
        return dm_channel(row["id"], row["created_at"], _last_message_at(tx.conn, row["id"]), other, online), False
    if not _share_a_server(tx.conn, user_id, target_id):
        raise ApiError("no_shared_server")
    dm_id, now = tx.new_id()
    # The writer runs one job at a time, so the lookup above already settled a race;
    # the UNIQUE (user_a, user_b) constraint is the backstop.
    tx.conn.execute(
        "INSERT INTO dm_channels (id, user_a, user_b, created_at) VALUES (?, ?, ?, ?)", (dm_id, a, b, now)
    )
    me = _live_user(tx.conn, user_id)
    mine = dm_channel(dm_id, now, None, other, online)
    theirs = dm_channel(dm_id, now, None, me, online)
    tx.emit(Event("DM_CHANNEL_CREATE", {user_id: mine, target_id: theirs}, {user_id, target_id}, per_user=True))
    return mine, True


def list_dm_messages(
    conn: sqlite3.Connection, dm_id: str, user_id: str, before: str | None, after: str | None, limit: int,
) -> list[dict[str, Any]]:
    """``GET /dm-channels/:id/messages``: the §3.5 cursor table, newest first."""
    need_participant(conn, dm_id, user_id)
    rows = cursor_page(conn, table="dm_messages", columns=DM_MESSAGE_COLUMNS, channel_id=dm_id,
                       before=before, after=after, limit=limit)
    files = attachments.load(conn, [r["id"] for r in rows])
    return [direct_message(r, files.get(r["id"])) for r in rows]


def post_dm(
    tx: Tx, dm_id: str, user_id: str, content: str, *, pending: bool = False,
    attach: Callable[[Tx, dict[str, Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """``POST /dm-channels/:id/messages``: 404 unknown_channel (not a participant), 404
    unknown_user (the other side deleted their account); sends DM_MESSAGE_CREATE.
    ``pending`` / ``attach``: as for ``messages.post`` (issue 10)."""
    _row, other = need_participant(tx.conn, dm_id, user_id)
    _live_user(tx.conn, other)
    mid, now = tx.new_id()
    pending = pending and attach is None  # hidden until its files come (deleted = 2), as messages.post
    tx.conn.execute(
        "INSERT INTO dm_messages (id, channel_id, author_id, content, created_at, deleted) VALUES (?, ?, ?, ?, ?, ?)",
        (mid, dm_id, user_id, content, now, 2 if pending else 0),
    )
    data = {"id": mid, "channel_id": dm_id, "author_id": user_id, "content": content,
            "edited_at": None, "created_at": now, "attachments": []}
    if attach is not None:
        data["attachments"] = attach(tx, data)
    elif pending:
        attachments.mark_pending(tx, mid, dm_id, now, dm=True)
        return data
    tx.emit(Event("DM_MESSAGE_CREATE", data, {user_id, other}))
    return data


def delete_dm_message(tx: Tx, dm_id: str, message_id: str, user_id: str) -> None:
    """``DELETE /dm-channels/:id/messages/:mid``: author only (403 missing_permission);
    404 unknown_channel / unknown_message (deleted counts as unknown). Blanks the content
    and sends DM_MESSAGE_DELETE ``{id, channel_id}`` to both participants."""
    _row, other = need_participant(tx.conn, dm_id, user_id)
    msg = tx.conn.execute(
        "SELECT author_id FROM dm_messages WHERE id = ? AND channel_id = ? AND deleted = 0", (message_id, dm_id)
    ).fetchone()
    if msg is None:
        raise ApiError("unknown_message")
    if msg["author_id"] != user_id:
        raise ApiError("missing_permission", "Only the author may delete a direct message")
    _remove_dm(tx, dm_id, message_id, {user_id, other})


def expire_dm_message(tx: Tx, dm_id: str, message_id: str) -> None:
    """A pending DM (no visible content) got no file in time: delete it; DM_MESSAGE_DELETE
    goes to its author, the only one who saw it (issue 10)."""
    row = tx.conn.execute("SELECT author_id FROM dm_messages WHERE id = ? AND deleted = 2", (message_id,)).fetchone()
    if row is not None:
        tx.conn.execute("UPDATE dm_messages SET deleted = 1, content = '' WHERE id = ?", (message_id,))
        tx.emit(Event("DM_MESSAGE_DELETE", {"id": message_id, "channel_id": dm_id}, {row["author_id"]}))


def _remove_dm(tx: Tx, dm_id: str, message_id: str, audience: set[str]) -> None:
    tx.conn.execute("UPDATE dm_messages SET deleted = 1, content = '' WHERE id = ?", (message_id,))
    attachments.release_for_message(tx, message_id)
    tx.emit(Event("DM_MESSAGE_DELETE", {"id": message_id, "channel_id": dm_id}, audience))


def dm_message_in(conn: sqlite3.Connection, dm_id: str, message_id: str) -> bool:
    """True when ``message_id`` is an undeleted message of DM channel ``dm_id``."""
    return conn.execute(
        "SELECT 1 FROM dm_messages WHERE id = ? AND channel_id = ? AND deleted = 0", (message_id, dm_id)
    ).fetchone() is not None
