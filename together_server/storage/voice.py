"""Voice states (API.md §4.6) and their ``VOICE_STATE_UPDATE`` events (§6.7).

A voice state is one row per user, bound to one gateway session id (kept in memory by
the gateway hub; this module only stores the id). Every write takes a :class:`Tx`,
re-checks access inside the transaction and emits its events with audiences taken
there. The ``end_for_*`` steps are called by the functions that own those changes:
``servers.remove_member`` (audience after the removal), ``servers.delete_server`` and
``channels.delete_channel`` (audience before the deletion), ``overrides.emit_with_visibility``
(a lost VIEW_CHANNEL). This module imports no sibling that calls it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import permissions as p
from ..errors import ApiError
from . import golive, perms
from .access import need_bit, need_channel, need_not_timed_out
from .db import Event, Tx

FLAGS = ("self_mute", "self_deaf", "self_video", "self_screen")
COLUMNS = "v.user_id, v.server_id, v.channel_id, v.session_id, v.self_mute, v.self_deaf, v.self_video, v.self_screen, v.joined_at"
SQL_BY_USER = f"SELECT {COLUMNS}, u.username FROM voice_states v JOIN users u ON u.id = v.user_id WHERE v.user_id = ?"
SQL_BY_CHANNEL = (
    f"SELECT {COLUMNS}, u.username FROM voice_states v JOIN users u ON u.id = v.user_id"
    " WHERE v.channel_id = ? ORDER BY v.joined_at, v.user_id"
)
SQL_BY_SERVER = (
    f"SELECT {COLUMNS}, u.username FROM voice_states v JOIN users u ON u.id = v.user_id"
    " WHERE v.server_id = ? ORDER BY v.joined_at, v.user_id"
)
SQL_BY_SESSION = f"SELECT {COLUMNS}, u.username FROM voice_states v JOIN users u ON u.id = v.user_id WHERE v.session_id = ?"
SQL_INSERT = (
    "INSERT INTO voice_states (user_id, server_id, channel_id, session_id, joined_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
SQL_DELETE = "DELETE FROM voice_states WHERE user_id = ?"
SQL_USERNAME = "SELECT username FROM users WHERE id = ?"


def state(row: sqlite3.Row, *, username: bool = True) -> dict[str, Any]:
    """VoiceState (§1.8), with ``username`` for lists and events."""
    out: dict[str, Any] = {
        "user_id": row["user_id"], "server_id": row["server_id"], "channel_id": row["channel_id"],
        **{f: bool(row[f]) for f in FLAGS},
        "server_mute": False, "server_deaf": False, "joined_at": row["joined_at"],
    }
    if username:
        out["username"] = row["username"]
    return out


def left(row: sqlite3.Row) -> dict[str, Any]:
    """The leave shape (§4.6): no channel, no joined_at, every flag false."""
    return {
        "user_id": row["user_id"], "server_id": row["server_id"], "channel_id": None,
        **dict.fromkeys(FLAGS, False), "server_mute": False, "server_deaf": False,
        "joined_at": None, "username": row["username"],
    }


def _emit_leave(tx: Tx, row: sqlite3.Row, audience: frozenset[str] | set[str] | None = None) -> None:
    users = perms.viewers(tx.conn, row["channel_id"]) if audience is None else audience
    tx.emit(Event("VOICE_STATE_UPDATE", left(row), users))


def _end(tx: Tx, row: sqlite3.Row, audience: frozenset[str] | set[str] | None = None) -> None:
    """The one way a voice state ends: its Go Live stream ends first (GO_LIVE_STOP), then
    the row goes and the VOICE_STATE_UPDATE leave is sent, both to ``audience`` (None: the
    channel's viewers)."""
    users = perms.viewers(tx.conn, row["channel_id"]) if audience is None else audience
    golive.end_for_voice_state(tx, row["user_id"], users)
    tx.conn.execute(SQL_DELETE, (row["user_id"],))
    tx.emit(Event("VOICE_STATE_UPDATE", left(row), users))


def _current(conn: sqlite3.Connection, user_id: str) -> sqlite3.Row | None:
    return conn.execute(SQL_BY_USER, (user_id,)).fetchone()  # type: ignore[no-any-return]


# -- reads -----------------------------------------------------------------------------

def list_states(conn: sqlite3.Connection, channel_id: str, user_id: str) -> list[dict[str, Any]]:
    """GET /channels/:id/voice: [VoiceState + username], earliest joined_at first."""
    need_channel(conn, channel_id, user_id)
    return [state(r) for r in conn.execute(SQL_BY_CHANNEL, (channel_id,))]


def states_in_server(
    conn: sqlite3.Connection, server_id: str, visible_channel_ids: set[str]
) -> list[dict[str, Any]]:
    """READY's ``voice_states`` for one server: states in channels the caller can view."""
    return [state(r) for r in conn.execute(SQL_BY_SERVER, (server_id,)) if r["channel_id"] in visible_channel_ids]


def signal_target(
    conn: sqlite3.Connection, from_user: str, from_session: str, to_user: str
) -> str | None:
    """The target's voice session id when a VOICE_SIGNAL may be relayed (§6.3), else None.

    The sender's state must be bound to ``from_session`` and both must be in the same
    voice channel (of a live server) now.
    """
    if from_user == to_user:
        return None
    row = conn.execute(
        "SELECT t.session_id FROM voice_states f JOIN voice_states t ON t.channel_id = f.channel_id"
        " JOIN servers s ON s.id = f.server_id AND s.deleted_at IS NULL"
        " WHERE f.user_id = ? AND f.session_id = ? AND t.user_id = ?",
        (from_user, from_session, to_user),
    ).fetchone()
    return None if row is None else str(row[0])


# -- writes ----------------------------------------------------------------------------

def join(tx: Tx, channel_id: str, user_id: str, session_id: str | None) -> tuple[dict[str, Any], bool]:
    """POST /channels/:id/voice -> (VoiceState without username, created?).

    Already in this channel: rebinds to ``session_id``, no event (200). In another
    channel: moves (flags reset, joined_at now): a leave to the old channel's viewers who
    cannot view the new one (all of them when the server changes), then the join.
    Raises 404 unknown_channel, 400 not_voice_channel, 403 missing_permission/timed_out,
    then 400 no_gateway_session when ``session_id`` is None (no live session to bind).
    """
    chan, _ctx, eff = need_channel(tx.conn, channel_id, user_id)
    if chan["type"] != "voice":
        raise ApiError("not_voice_channel")
    need_bit(eff, p.Permission.CONNECT_VOICE)
    now = tx.now()
    need_not_timed_out(tx.conn, chan["server_id"], user_id, now)
    if session_id is None:
        raise ApiError("no_gateway_session")
    old = _current(tx.conn, user_id)
    if old is not None and old["channel_id"] == channel_id:
        tx.conn.execute("UPDATE voice_states SET session_id = ? WHERE user_id = ?", (session_id, user_id))
        return state(_current(tx.conn, user_id), username=False), False  # type: ignore[arg-type]
    new_viewers = perms.viewers(tx.conn, channel_id)
    if old is not None:
        # the stream stays in the channel it was started in: it ends with the move
        golive.end_for_voice_state(tx, user_id, perms.viewers(tx.conn, old["channel_id"]))
        tx.conn.execute(SQL_DELETE, (user_id,))
        old_viewers = perms.viewers(tx.conn, old["channel_id"])
        if old["server_id"] == chan["server_id"]:
            old_viewers = old_viewers - new_viewers
        if old_viewers:
            _emit_leave(tx, old, old_viewers)
    tx.conn.execute(SQL_INSERT, (user_id, chan["server_id"], channel_id, session_id, now))
    row = _current(tx.conn, user_id)
    assert row is not None
    tx.emit(Event("VOICE_STATE_UPDATE", state(row), new_viewers))
    return state(row, username=False), True


def _participant(tx: Tx, channel_id: str, user_id: str) -> sqlite3.Row:
    need_channel(tx.conn, channel_id, user_id)
    row = _current(tx.conn, user_id)
    if row is None or row["channel_id"] != channel_id:
        raise ApiError("not_in_voice")
    return row


def update(tx: Tx, channel_id: str, user_id: str, changes: dict[str, bool]) -> dict[str, Any]:
    """PATCH /channels/:id/voice: set self flags; 404 unknown_channel / not_in_voice."""
    _participant(tx, channel_id, user_id)
    if changes:
        cols = ", ".join(f"{k} = ?" for k in changes if k in FLAGS)
        tx.conn.execute(f"UPDATE voice_states SET {cols} WHERE user_id = ?",
                        (*(int(v) for k, v in changes.items() if k in FLAGS), user_id))
    row = _current(tx.conn, user_id)
    assert row is not None
    tx.emit(Event("VOICE_STATE_UPDATE", state(row), perms.viewers(tx.conn, channel_id)))
    return state(row, username=False)


def leave(tx: Tx, channel_id: str, user_id: str) -> None:
    """DELETE /channels/:id/voice; 404 unknown_channel / not_in_voice."""
    row = _participant(tx, channel_id, user_id)
    _end(tx, row)


def end_session(tx: Tx, session_id: str) -> int:
    """The gateway session ``session_id`` ended: its voice state (if any) leaves (§6.5)."""
    rows = tx.conn.execute(SQL_BY_SESSION, (session_id,)).fetchall()
    for row in rows:
        _end(tx, row)
    return len(rows)


def end_for_member(tx: Tx, server_id: str, user_id: str) -> None:
    """Step of ``servers.remove_member``: ``user_id``'s voice state in ``server_id`` (if any) ends;
    the VOICE_STATE_UPDATE leave goes to the channel's viewers after the removal (§4.6)."""
    row = _current(tx.conn, user_id)
    if row is not None and row["server_id"] == server_id:
        _end(tx, row)


def end_for_channel(tx: Tx, channel_id: str) -> None:
    """Step of ``channels.delete_channel``, before the delete: every voice state in the channel
    ends, each leave to the channel's viewers (§4.6)."""
    rows = tx.conn.execute(SQL_BY_CHANNEL, (channel_id,)).fetchall()
    if rows:
        audience = perms.viewers(tx.conn, channel_id)
        for row in rows:
            _end(tx, row, audience)


def end_for_server(tx: Tx, server_id: str, audience: set[str]) -> None:
    """Step of ``servers.delete_server``, before the tombstone: every voice state of the server
    ends, each leave to ``audience`` (its members, taken before the deletion; §4.6)."""
    for row in tx.conn.execute(SQL_BY_SERVER, (server_id,)).fetchall():
        _end(tx, row, audience)


def end_for_lost_view(tx: Tx, channel_id: str, user_id: str) -> None:
    """Step of ``overrides.emit_with_visibility``: ``user_id`` lost VIEW_CHANNEL on ``channel_id``;
    their voice state there ends, the leave to the channel's viewers and the user (§4.6, §6.7)."""
    row = _current(tx.conn, user_id)
    if row is not None and row["channel_id"] == channel_id:
        _end(tx, row, perms.viewers(tx.conn, channel_id) | {user_id})
