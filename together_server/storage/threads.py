"""Threads: replies to a root message, in the root's channel (issue 12 "Threads").

A reply is a row of ``messages`` with ``thread_id`` = its root's id (0007_community.sql).
So replies share the channel's permissions, read state (an ack covers them; unread and
mention counts include them), mentions and search, and their ids strictly increase like
every message id. Channel lists (``GET /channels/:id/messages``) leave them out; the
thread page lists them. Threads do not nest: a reply cannot be a root.

Events: a reply sends ``THREAD_MESSAGE_CREATE`` (the Message, ``thread_id`` set) to the
channel's viewers, then ``MESSAGE_UPDATE`` of the root with its new
``thread_reply_count``; a reply is never sent as ``MESSAGE_CREATE`` (a Together client
would show it in the channel). Deleting a root deletes its replies
(:func:`delete_replies`, called by ``messages.delete``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..errors import ApiError, invalid
from . import automod, events, messages, polls
from .access import need_channel, need_channel_tx, viewers_tx
from .db import Event, Tx

SQL_COUNTS = (
    "SELECT thread_id, count(*) FROM messages WHERE thread_id IN ({marks}) AND deleted = 0 GROUP BY thread_id"
)
SQL_ROOT = "SELECT id, thread_id FROM messages WHERE id = ? AND channel_id = ? AND deleted = 0"
SQL_REPLY_IDS = "SELECT id FROM messages WHERE thread_id = ? AND deleted = 0 ORDER BY id"


def reply_counts(conn: sqlite3.Connection, root_ids: Sequence[str]) -> dict[str, int]:
    """``{root_id: undeleted replies}`` for the given roots; roots without replies are absent."""
    out: dict[str, int] = {}
    ids = list(dict.fromkeys(root_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        sql = SQL_COUNTS.format(marks=",".join("?" * len(chunk)))
        out.update(conn.execute(sql, chunk).fetchall())
    return out


def _root(conn: sqlite3.Connection, channel_id: str, message_id: str) -> None:
    """404 ``unknown_message`` unless ``message_id`` is an undeleted message of the channel;
    400 ``validation_failed`` when it is itself a thread reply (threads do not nest)."""
    row = conn.execute(SQL_ROOT, (message_id, channel_id)).fetchone()
    if row is None:
        raise ApiError("unknown_message")
    if row["thread_id"] is not None:
        raise invalid({"message_id": "is a thread reply; threads do not nest (reply in its root's thread)"})


def list_replies(
    conn: sqlite3.Connection, channel_id: str, root_id: str, user_id: str,
    before: str | None, after: str | None, limit: int,
) -> list[dict[str, Any]]:
    """Reader: ``GET /channels/:cid/messages/:mid/thread``: [Message] replies, **oldest first**
    (a thread reads top to bottom). No cursor: the first ``limit``; ``after=X``: the ``limit``
    oldest after X; ``before=X``: the ``limit`` newest before X. Raises 404 ``unknown_channel``
    (hidden channel), ``unknown_message``; 400 for a reply as root.
    """
    need_channel(conn, channel_id, user_id)
    _root(conn, channel_id, root_id)
    where: list[str] = ["thread_id = ?", "deleted = 0"]
    args: list[object] = [root_id]
    if before is not None:
        where.append("id < ?")
        args.append(before)
    if after is not None:
        where.append("id > ?")
        args.append(after)
    newest = before is not None and after is None
    rows = conn.execute(
        f"SELECT {messages.MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)}"
        f" ORDER BY id {'DESC' if newest else 'ASC'} LIMIT ?", (*args, limit),
    ).fetchall()
    if newest:
        rows.reverse()
    return messages.render(conn, rows, user_id)


def post_reply(
    tx: Tx, channel_id: str, root_id: str, user_id: str, content: str, reply_to: str | None,
) -> dict[str, Any] | automod.Blocked:
    """Write job: ``POST /channels/:cid/messages/:mid/thread``: a reply in ``root_id``'s thread.

    Same rules as posting (SEND_MESSAGES, not timed out, mentions, automod: a hit returns the
    :class:`automod.Blocked`); checks re-run here.
    Returns the Message (``thread_id`` = root). Emits THREAD_MESSAGE_CREATE, then
    MESSAGE_UPDATE of the root, both to the channel's viewers. Raises 404
    ``unknown_channel`` / ``unknown_message``, 400 (reply as root), 403 as posting does.
    """
    need_channel_tx(tx, channel_id, user_id)  # 404 before the root lookup
    _root(tx.conn, channel_id, root_id)
    if reply_to is not None:
        target = tx.conn.execute(
            "SELECT 1 FROM messages WHERE id = ? AND (id = ? OR thread_id = ?) AND deleted = 0",
            (reply_to, root_id, root_id),
        ).fetchone()
        if target is None:
            raise ApiError("unknown_message", "The replied-to message is not in this thread")
    made = messages.insert_message(tx, channel_id, user_id, content, reply_to, thread_id=root_id)
    if isinstance(made, automod.Blocked):
        return made
    _row, data = made
    tx.emit(Event("THREAD_MESSAGE_CREATE", data, viewers_tx(tx, channel_id)))
    root = tx.conn.execute(messages.SQL_MESSAGE, (root_id,)).fetchone()
    messages.emit_update(tx, root, None)
    return data


def delete_replies(tx: Tx, root: sqlite3.Row, audience: frozenset[str]) -> int:
    """Cascade step of deleting ``root``: soft-delete each of its replies (their polls and
    events with them), sending MESSAGE_DELETE for each to ``audience``, oldest first.
    Returns how many went."""
    ids = [r[0] for r in tx.conn.execute(SQL_REPLY_IDS, (root["id"],)).fetchall()]
    for mid in ids:
        polls.delete_for_message(tx, mid)
        events.delete_for_message(tx, mid)
        messages.soft_delete(tx, mid)
        tx.emit(Event("MESSAGE_DELETE", {"id": mid, "channel_id": root["channel_id"]}, audience))
    return len(ids)
