"""Access checks shared by every storage module (API.md §1.6, §4.1).

Each raises the 404 that hides what the caller may not see, or the 403 for what they can
see but not do. They take a connection, so the API layer can run them on a reader
snapshot and the writer re-runs them inside the write's transaction (§1.9).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import permissions as p
from ..errors import ApiError
from . import perms
from .perms import MemberContext

SQL_CHANNEL = (
    "SELECT c.id, c.server_id, c.name, c.type, c.position, c.category, c.topic, c.created_at"
    " FROM channels c JOIN servers s ON s.id = c.server_id AND s.deleted_at IS NULL WHERE c.id = ?"
)


def need_member(conn: sqlite3.Connection, server_id: str, user_id: str) -> MemberContext:
    """The caller's MemberContext; 404 unknown_server if not a member (or no server)."""
    ctx = perms.member_context(conn, server_id, user_id)
    if ctx is None:
        raise ApiError("unknown_server")
    return ctx


def need_server_bit(ctx: MemberContext, bit: int) -> None:
    """403 missing_permission unless the server-level permissions hold ``bit``."""
    if not p.has(perms.server_perms(ctx), bit):
        raise ApiError("missing_permission")


def need_channel(
    conn: sqlite3.Connection, channel_id: str, user_id: str, *, server_id: str | None = None
) -> tuple[sqlite3.Row, MemberContext, int]:
    """``(channel_row, ctx, effective_perms)`` for a channel the caller can view.

    404 unknown_channel when it does not exist, belongs to another server than
    ``server_id`` (nested routes), the caller is not a member, or lacks VIEW_CHANNEL.
    """
    row = conn.execute(SQL_CHANNEL, (channel_id,)).fetchone()
    if row is None or (server_id is not None and row["server_id"] != server_id):
        raise ApiError("unknown_channel")
    ctx = perms.member_context(conn, row["server_id"], user_id)
    if ctx is None:
        raise ApiError("unknown_channel")
    eff = perms.channel_perms(conn, ctx, channel_id, row["server_id"])
    if not p.has(eff, p.Permission.VIEW_CHANNEL):
        raise ApiError("unknown_channel")
    return row, ctx, eff


def need_bit(eff: int, bit: int) -> None:
    """Raise ApiError 403 ``missing_permission`` unless ``eff`` (effective permission int) holds every bit of ``bit`` (API.md §4.1)."""
    if not p.has(eff, bit):
        raise ApiError("missing_permission")


def need_not_timed_out(conn: sqlite3.Connection, server_id: str, user_id: str, now: str) -> None:
    """403 timed_out (with ``timed_out_until``) while a timeout runs (API.md §4.2)."""
    until = perms.timed_out_until(conn, server_id, user_id, now)
    if until is not None:
        raise ApiError("timed_out", extra={"timed_out_until": until})


# -- the same checks through the writer's cache (storage/writecache.py) -----------------

def need_channel_tx(tx: Any, channel_id: str, user_id: str) -> tuple[sqlite3.Row, MemberContext, int]:
    """:func:`need_channel` inside a write job, memoised until access facts change."""
    key = ("channel", channel_id, user_id)
    hit = tx.cache.get(key)
    if hit is None:
        hit = tx.cache.put(key, need_channel(tx.conn, channel_id, user_id))
    return hit  # type: ignore[no-any-return]


def viewers_tx(tx: Any, channel_id: str) -> frozenset[str]:
    """The channel's viewers (MESSAGE_* audience) inside a write job, memoised."""
    key = ("viewers", channel_id)
    hit = tx.cache.get(key)
    if hit is None:
        hit = tx.cache.put(key, perms.viewers(tx.conn, channel_id))
    return hit  # type: ignore[no-any-return]


def need_not_timed_out_tx(tx: Any, server_id: str, user_id: str, now: str) -> None:
    """:func:`need_not_timed_out` inside a write job, memoised (the expiry is compared
    with ``now`` on every call)."""
    key = ("timeout", server_id, user_id)
    hit = tx.cache.get(key)
    if hit is None:
        hit = tx.cache.put(key, (perms.timed_out_until(tx.conn, server_id, user_id, ""),))
    until = hit[0]
    if until is not None and until > now:
        raise ApiError("timed_out", extra={"timed_out_until": until})
