"""Scheduled events: a named start time in a server, carried by a message (issue 12).

Shape. **ServerEvent** = ``{id, server_id, channel_id, message_id, name, description,
starts_at, ends_at, created_by, created_at}`` (the Together reference's fields plus
``server_id``, ``channel_id``, ``message_id`` and ``ends_at``, our additions).

Creating one posts a message (same rules as posting) whose ``event`` field carries it,
sent as MESSAGE_CREATE to the channel's viewers. ``GET /servers/:id/events`` lists the
events of channels the caller can view: upcoming ones first (soonest first; an event
that has started but not ended counts as upcoming), then past ones (most recent first),
at most :data:`LIST_LIMIT`. Deleting the message deletes the event
(:func:`delete_for_message`, called by ``messages.delete``). The Together client offers no
RSVP, so there is none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..errors import ApiError, invalid
from . import automod, messages, perms
from .access import need_member, viewers_tx
from .db import Event, Tx

LIST_LIMIT = 100
COLUMNS = (
    "e.id, e.server_id, e.channel_id, e.message_id, e.name, e.description, e.starts_at, e.ends_at,"
    " e.created_by, e.created_at"
)
SQL_OF_MESSAGES = f"SELECT {COLUMNS} FROM server_events e WHERE e.message_id IN ({{marks}})"
SQL_OF_SERVER = (
    f"SELECT {COLUMNS} FROM server_events e JOIN messages m ON m.id = e.message_id AND m.deleted = 0"
    " WHERE e.server_id = ?"
)


def shape(row: sqlite3.Row) -> dict[str, Any]:
    """ServerEvent from a ``server_events`` row."""
    return {k: row[k] for k in (
        "id", "server_id", "channel_id", "message_id", "name", "description", "starts_at", "ends_at",
        "created_by", "created_at")}


def load_for_messages(conn: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{message_id: ServerEvent}`` for the messages that carry an event (message rendering)."""
    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(SQL_OF_MESSAGES.format(marks=",".join("?" * len(chunk))), chunk):
            out[row["message_id"]] = shape(row)
    return out


def list_events(conn: sqlite3.Connection, server_id: str, user_id: str, now: str) -> list[dict[str, Any]]:
    """Reader: ``GET /servers/:id/events``: [ServerEvent] in channels the caller can view,
    upcoming first (soonest first), then past (latest first), at most LIST_LIMIT; ties by id.
    404 ``unknown_server`` for non-members."""
    need_member(conn, server_id, user_id)
    visible = set(perms.visible_channel_ids(conn, server_id, user_id))
    rows = [r for r in conn.execute(SQL_OF_SERVER, (server_id,)) if r["channel_id"] in visible]

    def upcoming(r: sqlite3.Row) -> bool:
        return bool(r["starts_at"] > now or (r["ends_at"] is not None and r["ends_at"] > now))

    ahead = sorted((r for r in rows if upcoming(r)), key=lambda r: (r["starts_at"], r["id"]))
    past = sorted((r for r in rows if not upcoming(r)), key=lambda r: (r["starts_at"], r["id"]), reverse=True)
    return [shape(r) for r in (ahead + past)[:LIST_LIMIT]]


def create(
    tx: Tx, channel_id: str, user_id: str, name: str, description: str | None, starts_at: str, ends_at: str | None,
) -> dict[str, Any] | automod.Blocked:
    """Write job: ``POST /channels/:id/events``: the message and its event in one
    transaction; returns the Message with ``event``. ``ends_at`` must be after
    ``starts_at`` (400). Emits MESSAGE_CREATE to the channel's viewers. Raises what
    posting raises (404 ``unknown_channel``, 403 ``missing_permission`` / ``timed_out``); the automod
    Blocked when automod caught the content."""
    if ends_at is not None and ends_at <= starts_at:
        raise invalid({"ends_at": "must be after starts_at"})
    when = starts_at[:16].replace("T", " ") + " UTC"
    made = messages.insert_message(tx, channel_id, user_id, f"\N{CALENDAR} Event: {name} ({when})", None)
    if isinstance(made, automod.Blocked):
        return made
    row, data = made
    event_id, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO server_events (id, message_id, server_id, channel_id, name, description, starts_at, ends_at,"
        " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id, row["id"], row["server_id"], channel_id, name, description, starts_at, ends_at, user_id, now),
    )
    found = tx.conn.execute(SQL_OF_MESSAGES.format(marks="?"), (row["id"],)).fetchone()
    if found is None:  # pragma: no cover - inserted just above
        raise ApiError("internal_error")
    data["event"] = shape(found)
    tx.emit(Event("MESSAGE_CREATE", data, viewers_tx(tx, channel_id)))
    return data


def delete_for_message(tx: Tx, message_id: str) -> None:
    """Cascade step of deleting a message: its event goes (MESSAGE_DELETE says it)."""
    tx.conn.execute("DELETE FROM server_events WHERE message_id = ?", (message_id,))
