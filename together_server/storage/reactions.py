"""Reactions on server-channel messages (API.md §4.9, Message ``reactions`` of §1.8).

``messages.render`` calls :func:`load`, so every Message shape (lists, GET, pins,
MESSAGE_UPDATE with a per-receiver ``me``) carries ``reactions``. Emoji are compared byte for byte after NFC; the distinct-emoji limit is
checked inside the write, and the single writer makes a race at the limit have exactly
one winner.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from .. import permissions as p
from ..errors import ApiError, invalid
from . import emojis as emojis_store
from . import perms
from .access import need_bit, need_channel, need_not_timed_out
from .db import Event, Tx

MAX_EMOJI_BYTES = 64

# One row per (message, emoji): count, whether the viewer is among them, first use.
_SQL_LOAD = """
SELECT message_id, emoji, count(*) AS n, max(user_id = :viewer) AS me, min(added) AS first
FROM reactions WHERE message_id IN ({marks})
GROUP BY message_id, emoji
ORDER BY message_id, first
"""


def parse_emoji(raw_segment: str) -> str:
    """A raw (still percent-encoded) path segment -> the NFC emoji string.

    ``%2F`` decodes to part of the emoji. 400 validation_failed (``errors.emoji``) when
    the bytes are not UTF-8, hold a control character (category Cc) or a surrogate, or
    are not 1-64 bytes after NFC.
    """
    try:
        text = unquote_to_bytes(raw_segment).decode("utf-8")
    except UnicodeDecodeError:
        raise invalid({"emoji": "must be valid UTF-8"}) from None
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise invalid({"emoji": "must not contain control characters"})
    text = unicodedata.normalize("NFC", text)
    if not 1 <= len(text.encode("utf-8")) <= MAX_EMOJI_BYTES:
        raise invalid({"emoji": f"must be 1-{MAX_EMOJI_BYTES} bytes of UTF-8 after NFC"})
    return text


def load(conn: sqlite3.Connection, message_ids: Sequence[str], viewer: str | None) -> dict[str, list[dict[str, Any]]]:
    """``{message_id: [{emoji, count, me}]}`` ordered by each emoji's first use; messages
    without reactions are absent. ``viewer`` None gives ``me: false`` everywhere."""
    out: dict[str, list[dict[str, Any]]] = {}
    ids = list(dict.fromkeys(message_ids))
    # SQLite's default limit is 32766 bound parameters; pages are at most 100 messages.
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        params: dict[str, Any] = {f"m{i}": mid for i, mid in enumerate(chunk)}
        params["viewer"] = viewer or ""
        sql = _SQL_LOAD.format(marks=",".join(f":m{i}" for i in range(len(chunk))))
        for row in conn.execute(sql, params):
            out.setdefault(row["message_id"], []).append(
                {"emoji": row["emoji"], "count": row["n"], "me": bool(row["me"])}
            )
    return out


def _target(conn: sqlite3.Connection, channel_id: str, message_id: str, user_id: str) -> tuple[str, int]:
    """``(server_id, effective_perms)``: 404 unknown_channel when the caller cannot view
    the channel, 404 unknown_message when the message is not in it or is deleted."""
    chan, _ctx, eff = need_channel(conn, channel_id, user_id)
    found = conn.execute(
        "SELECT 1 FROM messages WHERE id = ? AND channel_id = ? AND deleted = 0", (message_id, channel_id)
    ).fetchone()
    if found is None:
        raise ApiError("unknown_message")
    return chan["server_id"], eff


def list_reactions(conn: sqlite3.Connection, channel_id: str, message_id: str, user_id: str) -> list[dict[str, Any]]:
    """``GET …/reactions``: ``[{emoji, count, me}]`` by each emoji's first use."""
    _target(conn, channel_id, message_id, user_id)
    return load(conn, [message_id], user_id).get(message_id, [])


def list_users(conn: sqlite3.Connection, channel_id: str, message_id: str, user_id: str, emoji: str,
               limit: int = 100) -> list[dict[str, Any]]:
    """``GET …/reactions/:emoji`` (extension, issue 11 "who reacted"): the users who reacted
    with ``emoji``, by username (case-insensitive), at most ``limit`` (100): ``[{id, username, avatar_url,
    is_bot}]``; ``[]`` when nobody did. 404 unknown_channel / unknown_message as for the list."""
    _target(conn, channel_id, message_id, user_id)
    rows = conn.execute(
        "SELECT u.id, u.username, u.avatar_url, u.is_bot FROM reactions r JOIN users u ON u.id = r.user_id"
        " WHERE r.message_id = ? AND r.emoji = ? ORDER BY u.username COLLATE NOCASE, u.id LIMIT ?", (message_id, emoji, limit)).fetchall()
    return [{"id": r[0], "username": r[1], "avatar_url": r[2], "is_bot": bool(r[3])} for r in rows]


def add(tx: Tx, channel_id: str, message_id: str, user_id: str, emoji: str, limit: int) -> bool:
    """``PUT …/reactions/:emoji``. Returns True when added (REACTION_ADD sent), False when
    the caller had already reacted with it. Order: 404 -> 403 missing_permission
    (ADD_REACTIONS) -> 403 timed_out -> 404 unknown_emoji (``c:<id>`` naming no custom emoji
    of this server, issue 12) -> 400 limit_reached (``limit`` distinct emoji)."""
    server_id, eff = _target(tx.conn, channel_id, message_id, user_id)
    need_bit(eff, p.Permission.ADD_REACTIONS)
    added, now = tx.new_id()
    need_not_timed_out(tx.conn, server_id, user_id, now)
    emojis_store.need_reaction_emoji(tx.conn, server_id, emoji)
    mine = tx.conn.execute(
        "SELECT 1 FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", (message_id, emoji, user_id)
    ).fetchone()
    if mine is not None:
        return False
    # emoji -> its first use, for every emoji on the message
    emojis = dict(tx.conn.execute(
        "SELECT emoji, min(added) FROM reactions WHERE message_id = ? GROUP BY emoji", (message_id,)).fetchall())
    if emoji not in emojis and len(emojis) >= limit:
        raise ApiError("limit_reached", f"A message holds at most {limit} distinct reactions")
    # A later reactor inherits the emoji's first use, so the emoji keeps its place in the
    # list while anyone still reacts with it (even after the first reactor removed theirs).
    added = emojis.get(emoji, added)
    tx.conn.execute(
        "INSERT INTO reactions (message_id, emoji, user_id, added) VALUES (?, ?, ?, ?)",
        (message_id, emoji, user_id, added),
    )
    tx.emit(Event("REACTION_ADD", {"message_id": message_id, "channel_id": channel_id, "user_id": user_id,
                                   "emoji": emoji}, perms.viewers(tx.conn, channel_id)))
    return True


def remove(tx: Tx, channel_id: str, message_id: str, actor_id: str, emoji: str, target_id: str | None = None) -> None:
    """``DELETE …/reactions/:emoji[/:user_id]``: the caller's own reaction (anyone who can
    view), or ``target_id``'s (owner or MANAGE_MESSAGES; removing your own through this
    form needs nothing more). 404 unknown_reaction when there is no such reaction.
    Sends REACTION_REMOVE with the ``user_id`` whose reaction went."""
    _server_id, eff = _target(tx.conn, channel_id, message_id, actor_id)
    whose = actor_id if target_id is None else target_id
    if whose != actor_id:
        need_bit(eff, p.Permission.MANAGE_MESSAGES)
    cur = tx.conn.execute(
        "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", (message_id, emoji, whose)
    )
    if cur.rowcount == 0:
        raise ApiError("unknown_reaction")
    tx.emit(Event("REACTION_REMOVE", {"message_id": message_id, "channel_id": channel_id, "user_id": whose,
                                      "emoji": emoji}, perms.viewers(tx.conn, channel_id)))
