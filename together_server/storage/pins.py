"""Pinned messages (API.md §4.10).

The pin state is ``messages.pinned_by`` / ``pinned_at`` (``pinned`` in the Message shape
is ``pinned_at IS NOT NULL``); deleting a message clears both, so deleted messages never
count towards ``limits.pins_per_channel``. The ``messages_pinned`` index (0001) serves the
count and the list.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import permissions as p
from ..errors import ApiError
from . import messages, perms
from .access import need_bit, need_channel
from .db import Event, Tx

SQL_PINNED = (
    f"SELECT {messages.MESSAGE_COLUMNS} FROM messages"
    " WHERE channel_id = ? AND pinned_at IS NOT NULL AND deleted = 0 ORDER BY pinned_at DESC, id DESC"
)


def _pinnable(tx: Tx, channel_id: str, message_id: str, user_id: str) -> sqlite3.Row:
    """The message row after the checks shared by pin and unpin: 404 unknown_channel,
    404 unknown_message (not in this channel, or deleted), 403 missing_permission."""
    _chan, _ctx, eff = need_channel(tx.conn, channel_id, user_id)
    row = tx.conn.execute(messages.SQL_MESSAGE, (message_id,)).fetchone()
    if row is None or row["channel_id"] != channel_id:
        raise ApiError("unknown_message")
    need_bit(eff, p.Permission.MANAGE_MESSAGES)
    return row  # type: ignore[no-any-return]


def pin(tx: Tx, channel_id: str, message_id: str, user_id: str, limit: int) -> bool:
    """``POST …/pin``. True when pinned now (MESSAGE_PIN sent); False when it already was
    (nothing sent). 400 limit_reached when ``limit`` messages are pinned already."""
    row = _pinnable(tx, channel_id, message_id, user_id)
    if row["pinned_at"] is not None:
        return False
    (count,) = tx.conn.execute(
        "SELECT count(*) FROM messages WHERE channel_id = ? AND pinned_at IS NOT NULL AND deleted = 0",
        (channel_id,),
    ).fetchone()
    if count >= limit:
        raise ApiError("limit_reached", f"A channel holds at most {limit} pinned messages")
    tx.conn.execute(
        "UPDATE messages SET pinned_at = ?, pinned_by = ? WHERE id = ?", (tx.now(), user_id, message_id)
    )
    tx.emit(Event("MESSAGE_PIN", {"message_id": message_id, "channel_id": channel_id, "pinned_by": user_id},
                  perms.viewers(tx.conn, channel_id)))
    return True


def unpin(tx: Tx, channel_id: str, message_id: str, user_id: str) -> None:
    """``DELETE …/pin``: 404 not_pinned when the message is not pinned; sends MESSAGE_UNPIN."""
    row = _pinnable(tx, channel_id, message_id, user_id)
    if row["pinned_at"] is None:
        raise ApiError("not_pinned")
    tx.conn.execute("UPDATE messages SET pinned_at = NULL, pinned_by = NULL WHERE id = ?", (message_id,))
    tx.emit(Event("MESSAGE_UNPIN", {"message_id": message_id, "channel_id": channel_id, "unpinned_by": user_id},
                  perms.viewers(tx.conn, channel_id)))


def list_pins(conn: sqlite3.Connection, channel_id: str, user_id: str) -> list[dict[str, Any]]:
    """``GET /channels/:id/pinned-messages``: [Message], most recently pinned first."""
    need_channel(conn, channel_id, user_id)
    rows = conn.execute(SQL_PINNED, (channel_id,)).fetchall()
    return messages.render(conn, rows, user_id)
