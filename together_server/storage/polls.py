"""Polls: a question with 2-10 options, carried by a message (issue 12 "Polls").

Shapes. **Poll** = ``{id, question, options: [{id, text, votes}], total_votes,
user_vote, user_votes, multi_choice, ends_at, closed, message_id, channel_id}``:
``total_votes`` counts voters (each voter once, also in a multi-choice poll);
``user_vote`` is the caller's option id (their first, by option order, in a
multi-choice poll) or null, and ``user_votes`` all of them (our addition). Who voted for
what is not shown to others, as in the Together reference: counts and your own choice.

Creating a poll posts a message (same rules as posting: SEND_MESSAGES, not timed out)
whose ``poll`` field carries it, sent as MESSAGE_CREATE. A vote (``POST /polls/:id/vote``)
sets the caller's choice: ``option_id`` (one option; ``null`` withdraws) or
``option_ids`` (the whole set; ``[]`` withdraws; more than one only in a multi-choice
poll). A poll whose ``ends_at`` has passed is closed: votes get 400 ``poll_closed``.
Each change sends ``POLL_VOTE`` ``{poll_id, channel_id, updated_poll}`` to the channel's
viewers, each with their own ``user_vote``. Deleting the message deletes the poll
(:func:`delete_for_message`, called by ``messages.delete``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..errors import ApiError, invalid
from . import automod, messages
from .access import need_channel, need_not_timed_out, viewers_tx
from .db import Event, Tx

SQL_POLL = (
    "SELECT p.id, p.message_id, p.channel_id, p.question, p.multi_choice, p.ends_at, p.closed_at"
    " FROM polls p JOIN messages m ON m.id = p.message_id AND m.deleted = 0 WHERE p.id = ?"
)
SQL_POLLS_OF_MESSAGES = (
    "SELECT id, message_id, channel_id, question, multi_choice, ends_at, closed_at FROM polls"
    " WHERE message_id IN ({marks})"
)
SQL_OPTIONS = (
    "SELECT o.poll_id, o.id, o.text, (SELECT count(*) FROM poll_votes v WHERE v.option_id = o.id) AS votes"
    " FROM poll_options o WHERE o.poll_id IN ({marks}) ORDER BY o.poll_id, o.position"
)
SQL_VOTERS = "SELECT poll_id, count(DISTINCT user_id) FROM poll_votes WHERE poll_id IN ({marks}) GROUP BY poll_id"
SQL_MINE = "SELECT poll_id, option_id FROM poll_votes WHERE poll_id IN ({marks}) AND user_id = ?"


def _closed(row: sqlite3.Row, now: str) -> bool:
    return row["closed_at"] is not None or (row["ends_at"] is not None and row["ends_at"] <= now)


def _render(conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], viewer: str | None, now: str) -> dict[str, dict[str, Any]]:
    """``{poll_id: Poll}`` for ``rows`` (polls rows), as ``viewer`` sees them."""
    if not rows:
        return {}
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    options: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for poll_id, oid, text, votes in conn.execute(SQL_OPTIONS.format(marks=marks), ids):
        options[poll_id].append({"id": oid, "text": text, "votes": votes})
    voters = dict(conn.execute(SQL_VOTERS.format(marks=marks), ids).fetchall())
    mine: dict[str, set[str]] = {}
    if viewer is not None:
        for poll_id, oid in conn.execute(SQL_MINE.format(marks=marks), (*ids, viewer)):
            mine.setdefault(poll_id, set()).add(oid)
    out = {}
    for r in rows:
        chosen = [o["id"] for o in options[r["id"]] if o["id"] in mine.get(r["id"], ())]
        out[r["id"]] = {
            "id": r["id"],
            "question": r["question"],
            "options": options[r["id"]],
            "total_votes": voters.get(r["id"], 0),
            "user_vote": chosen[0] if chosen else None,
            "user_votes": chosen,
            "multi_choice": bool(r["multi_choice"]),
            "ends_at": r["ends_at"],
            "closed": _closed(r, now),
            "message_id": r["message_id"],
            "channel_id": r["channel_id"],
        }
    return out


def load_for_messages(conn: sqlite3.Connection, message_ids: Sequence[str], viewer: str | None) -> dict[str, dict[str, Any]]:
    """``{message_id: Poll}`` for the messages that carry a poll (message rendering)."""
    if not message_ids:
        return {}
    from ..clock import now_ts

    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute(SQL_POLLS_OF_MESSAGES.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
        for poll in _render(conn, rows, viewer, now_ts()).values():
            out[poll["message_id"]] = poll
    return out


def _visible_poll(conn: sqlite3.Connection, poll_id: str, user_id: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    """``(poll row, channel row)``; 404 ``unknown_poll`` when missing, deleted or hidden."""
    row = conn.execute(SQL_POLL, (poll_id,)).fetchone()
    if row is None:
        raise ApiError("unknown_poll")
    try:
        chan, _ctx, _eff = need_channel(conn, row["channel_id"], user_id)
    except ApiError:
        raise ApiError("unknown_poll") from None
    return row, chan


def get_poll(conn: sqlite3.Connection, poll_id: str, user_id: str, now: str) -> dict[str, Any]:
    """Reader: ``GET /polls/:id``: the Poll as ``user_id`` sees it; 404 ``unknown_poll``."""
    row, _chan = _visible_poll(conn, poll_id, user_id)
    return _render(conn, [row], user_id, now)[row["id"]]


def create(
    tx: Tx, channel_id: str, user_id: str, question: str, options: list[str], multi_choice: bool,
    ends_at: str | None,
) -> dict[str, Any] | automod.Blocked:
    """Write job: ``POST /channels/:id/polls``: the message (content = the question) and
    its poll in one transaction; returns the Message with ``poll``. ``ends_at`` must be in
    the future (400). Emits MESSAGE_CREATE to the channel's viewers. Raises what posting
    raises (404 ``unknown_channel``, 403 ``missing_permission`` / ``timed_out``); the automod
    Blocked when automod caught the content."""
    if ends_at is not None and ends_at <= tx.now():
        raise invalid({"ends_at": "must be in the future"})
    made = messages.insert_message(tx, channel_id, user_id, f"\N{BAR CHART} Poll: {question}", None)
    if isinstance(made, automod.Blocked):
        return made
    row, data = made
    poll_id, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO polls (id, message_id, channel_id, question, multi_choice, ends_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", (poll_id, row["id"], channel_id, question, int(multi_choice), ends_at, now),
    )
    for position, text in enumerate(options):
        oid, _ = tx.new_id()
        tx.conn.execute("INSERT INTO poll_options (id, poll_id, position, text) VALUES (?, ?, ?, ?)",
                        (oid, poll_id, position, text))
    poll_row = tx.conn.execute(SQL_POLL, (poll_id,)).fetchone()
    data["poll"] = _render(tx.conn, [poll_row], None, now)[poll_id]
    tx.emit(Event("MESSAGE_CREATE", data, viewers_tx(tx, channel_id)))
    return {**data, "poll": _render(tx.conn, [poll_row], user_id, now)[poll_id]}


def vote(tx: Tx, poll_id: str, user_id: str, option_ids: list[str]) -> dict[str, Any]:
    """Write job: ``POST /polls/:id/vote``: the caller's choice becomes ``option_ids``
    (``[]`` withdraws). Returns the Poll as the caller sees it. Order: 404 ``unknown_poll``
    -> 403 ``timed_out`` -> 400 ``poll_closed`` -> 400 ``validation_failed`` (an option of
    another poll; several options in a single-choice poll). Emits POLL_VOTE (per receiver)
    when the choice changed."""
    row, chan = _visible_poll(tx.conn, poll_id, user_id)
    now = tx.now()
    need_not_timed_out(tx.conn, chan["server_id"], user_id, now)
    if _closed(row, now):
        raise ApiError("poll_closed")
    valid = {r[0] for r in tx.conn.execute("SELECT id FROM poll_options WHERE poll_id = ?", (poll_id,))}
    wanted = list(dict.fromkeys(option_ids))
    if any(o not in valid for o in wanted):
        raise invalid({"option_id": "is not an option of this poll"})
    if len(wanted) > 1 and not row["multi_choice"]:
        raise invalid({"option_ids": "this poll allows one choice"})
    before = {r[0] for r in tx.conn.execute(
        "SELECT option_id FROM poll_votes WHERE poll_id = ? AND user_id = ?", (poll_id, user_id))}
    if before != set(wanted):
        tx.conn.execute("DELETE FROM poll_votes WHERE poll_id = ? AND user_id = ?", (poll_id, user_id))
        tx.conn.executemany(
            "INSERT INTO poll_votes (poll_id, option_id, user_id, voted_at) VALUES (?, ?, ?, ?)",
            [(poll_id, o, user_id, now) for o in wanted],
        )
        audience = viewers_tx(tx, row["channel_id"])
        base = _render(tx.conn, [row], None, now)[poll_id]
        order = [o["id"] for o in base["options"]]
        chosen_by: dict[str, set[str]] = {}
        for uid, oid in tx.conn.execute("SELECT user_id, option_id FROM poll_votes WHERE poll_id = ?", (poll_id,)):
            chosen_by.setdefault(uid, set()).add(oid)
        per_user = {}
        for uid in audience:
            chosen = [o for o in order if o in chosen_by.get(uid, ())]
            view = {**base, "user_vote": chosen[0] if chosen else None, "user_votes": chosen}
            per_user[uid] = {"poll_id": poll_id, "channel_id": row["channel_id"], "updated_poll": view}
        tx.emit(Event("POLL_VOTE", per_user, audience, per_user=True))
    return _render(tx.conn, [row], user_id, now)[poll_id]


def delete_for_message(tx: Tx, message_id: str) -> None:
    """Cascade step of deleting a message: its poll, options and votes go (no event of
    their own: MESSAGE_DELETE says it)."""
    tx.conn.execute("DELETE FROM polls WHERE message_id = ?", (message_id,))
