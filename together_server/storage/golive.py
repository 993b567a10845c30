"""Go Live (screen share) streams in voice channels (issue 12 "Go Live").

Shape. **GoLiveSession** = ``{channel_id, broadcaster_id, quality, started_at}`` (the
Together reference's fields) plus ``server_id`` and ``username`` (ours). ``quality`` is
``480p`` | ``720p`` | ``1080p``.

A user streams from the voice channel their voice state is in, one stream at a time (the
table's key is the user). The video flows peer to peer through ``VOICE_SIGNAL`` with
``stream_type: "go_live"``, like voice; the server only says who is live. Events, to the
channel's viewers: ``GO_LIVE_START`` (GoLiveSession) when a stream starts,
``GO_LIVE_UPDATE`` (GoLiveSession) when its quality changes, ``GO_LIVE_STOP``
``{channel_id, broadcaster_id, server_id}`` when it ends: by ``DELETE``, or because the
voice state ended (leave, move, kick, lost view, session end, channel or server deleted:
``voice`` calls :func:`end_for_voice_state` in each of those steps, before its leave).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import ApiError
from .access import need_channel, viewers_tx
from .db import Event, Tx

QUALITIES = ("480p", "720p", "1080p")
SQL_BY_CHANNEL = (
    "SELECT g.user_id, g.server_id, g.channel_id, g.quality, g.started_at, u.username FROM go_live_streams g"
    " JOIN users u ON u.id = g.user_id WHERE g.channel_id = ? ORDER BY g.started_at, g.user_id"
)
SQL_BY_USER = (
    "SELECT g.user_id, g.server_id, g.channel_id, g.quality, g.started_at, u.username FROM go_live_streams g"
    " JOIN users u ON u.id = g.user_id WHERE g.user_id = ?"
)


def shape(row: sqlite3.Row) -> dict[str, Any]:
    """GoLiveSession from a ``go_live_streams`` row joined with the username."""
    return {
        "channel_id": row["channel_id"], "broadcaster_id": row["user_id"], "quality": row["quality"],
        "started_at": row["started_at"], "server_id": row["server_id"], "username": row["username"],
    }


def _stop_event(row: sqlite3.Row) -> dict[str, Any]:
    return {"channel_id": row["channel_id"], "broadcaster_id": row["user_id"], "server_id": row["server_id"]}


def streams(conn: sqlite3.Connection, channel_id: str, user_id: str) -> list[dict[str, Any]]:
    """Reader: every stream in the channel, earliest first; 404 ``unknown_channel`` when hidden,
    400 ``not_voice_channel`` for a text channel."""
    chan, _ctx, _eff = need_channel(conn, channel_id, user_id)
    if chan["type"] != "voice":
        raise ApiError("not_voice_channel")
    return [shape(r) for r in conn.execute(SQL_BY_CHANNEL, (channel_id,))]


def start(tx: Tx, channel_id: str, user_id: str, quality: str) -> tuple[dict[str, Any], bool]:
    """Write job: ``POST /channels/:id/go-live``: start (or re-set the quality of) the caller's
    stream. Returns ``(GoLiveSession, started?)``. Raises 404 ``unknown_channel``, 400
    ``not_voice_channel``, 404 ``not_in_voice`` (the caller's voice state is not in this
    channel). Emits GO_LIVE_START, or GO_LIVE_UPDATE when only the quality changed (nothing
    when nothing changed)."""
    chan, _ctx, _eff = need_channel(tx.conn, channel_id, user_id)
    if chan["type"] != "voice":
        raise ApiError("not_voice_channel")
    here = tx.conn.execute("SELECT 1 FROM voice_states WHERE user_id = ? AND channel_id = ?",
                           (user_id, channel_id)).fetchone()
    if here is None:
        raise ApiError("not_in_voice", "Join the voice channel before going live")
    old = tx.conn.execute(SQL_BY_USER, (user_id,)).fetchone()
    audience = viewers_tx(tx, channel_id)
    if old is not None and old["channel_id"] == channel_id:
        if old["quality"] == quality:
            return shape(old), False
        tx.conn.execute("UPDATE go_live_streams SET quality = ? WHERE user_id = ?", (quality, user_id))
        row = tx.conn.execute(SQL_BY_USER, (user_id,)).fetchone()
        tx.emit(Event("GO_LIVE_UPDATE", shape(row), audience))
        return shape(row), False
    if old is not None:  # a stale stream elsewhere (cannot outlive its voice state; be safe)
        end_for_voice_state(tx, user_id, None)
    tx.conn.execute(
        "INSERT INTO go_live_streams (user_id, server_id, channel_id, quality, started_at) VALUES (?, ?, ?, ?, ?)",
        (user_id, chan["server_id"], channel_id, quality, tx.now()),
    )
    row = tx.conn.execute(SQL_BY_USER, (user_id,)).fetchone()
    tx.emit(Event("GO_LIVE_START", shape(row), audience))
    return shape(row), True


def stop(tx: Tx, channel_id: str, user_id: str) -> None:
    """Write job: ``DELETE /channels/:id/go-live``: the caller's stream here ends. Raises 404
    ``unknown_channel``, 404 ``not_live`` (no stream of the caller in this channel). Emits
    GO_LIVE_STOP to the channel's viewers."""
    need_channel(tx.conn, channel_id, user_id)
    row = tx.conn.execute(SQL_BY_USER, (user_id,)).fetchone()
    if row is None or row["channel_id"] != channel_id:
        raise ApiError("not_live", "You are not streaming in this channel")
    tx.conn.execute("DELETE FROM go_live_streams WHERE user_id = ?", (user_id,))
    tx.emit(Event("GO_LIVE_STOP", _stop_event(row), viewers_tx(tx, channel_id)))


def end_for_voice_state(tx: Tx, user_id: str, audience: frozenset[str] | set[str] | None) -> None:
    """Cascade step of every end of ``user_id``'s voice state (called by ``voice``): their
    stream (if any) ends with GO_LIVE_STOP to ``audience`` (None: the channel's viewers)."""
    row = tx.conn.execute(SQL_BY_USER, (user_id,)).fetchone()
    if row is None:
        return
    tx.conn.execute("DELETE FROM go_live_streams WHERE user_id = ?", (user_id,))
    users = viewers_tx(tx, row["channel_id"]) if audience is None else audience
    if users:
        tx.emit(Event("GO_LIVE_STOP", _stop_event(row), users))
