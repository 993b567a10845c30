"""Server-channel messages: post, list with id cursors, get, edit, delete (API.md §3.5).

Ids come from the writer's UUIDv7 clock, so they strictly increase in commit order and
cursor paging is exact even when many messages share a millisecond (FIELD-CASES F08).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from .. import permissions as p
from .. import records
from ..errors import ApiError
from . import attachments, audit, automod, bots, events, polls, reactions, threads, webhooks
from .access import need_bit, need_channel, need_channel_tx, need_not_timed_out_tx, viewers_tx
from .db import Event, Tx
from .paging import cursor_page

MENTION_RE = re.compile(r"(?<![A-Za-z0-9_-])@([A-Za-z0-9_-]+)")
MESSAGE_COLUMNS = (
    "id, channel_id, server_id, author_id, content, reply_to, mention_everyone, edited_at,"
    " deleted, created_at, pinned_by, pinned_at, thread_id"
)
SQL_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ? AND deleted = 0"



def parse_mentions(content: str) -> tuple[list[str], bool]:
    """Names mentioned (lower-cased, in order, once each) and whether @everyone appears."""
    names: list[str] = []
    everyone = False
    for m in MENTION_RE.finditer(content):
        name = m.group(1).rstrip("-").lower()
        if not name:
            continue
        if name == "everyone":
            everyone = True
        elif name not in names:
            names.append(name)
    return names, everyone


def _resolve_mentions(conn: sqlite3.Connection, server_id: str, names: list[str]) -> list[str]:
    if not names:
        return []
    marks = ",".join("?" * len(names))
    found = dict(conn.execute(
        f"SELECT u.username_fold, u.id FROM members m JOIN users u ON u.id = m.user_id"
        f" WHERE m.server_id = ? AND u.username_fold IN ({marks})", (server_id, *names),
    ).fetchall())
    return [found[n] for n in names if n in found]


def _mentions_of(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    marks = ",".join("?" * len(ids))
    for mid, uid in conn.execute(
        f"SELECT message_id, user_id FROM message_mentions WHERE message_id IN ({marks})"
        " ORDER BY message_id, ordinal", list(ids),
    ):
        out[mid].append(uid)
    return out


def render(conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], viewer: str | None) -> list[dict[str, Any]]:
    """Message shapes for ``rows``: mentions, reactions, thread reply counts, polls, events
    and attachments (issue 10, freshly signed URLs), each loaded in bulk by its own module
    (one query per kind per page)."""
    ids = [r["id"] for r in rows]
    mentions = _mentions_of(conn, ids)
    reacts = reactions.load(conn, ids, viewer)
    roots = [r["id"] for r in rows if r["thread_id"] is None]
    counts = threads.reply_counts(conn, roots)
    poll_of = polls.load_for_messages(conn, ids, viewer)
    event_of = events.load_for_messages(conn, ids)
    files = attachments.load(conn, ids)
    return [
        records.message(r, mentions[r["id"]], reacts.get(r["id"]), files.get(r["id"]),
                        thread_reply_count=counts.get(r["id"], 0),
                        poll=poll_of.get(r["id"]), event=event_of.get(r["id"]))
        for r in rows
    ]


def _store_mentions(tx: Tx, message_id: str, user_ids: list[str]) -> None:
    tx.conn.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
    tx.conn.executemany(
        "INSERT INTO message_mentions (message_id, user_id, ordinal) VALUES (?, ?, ?)",
        [(message_id, u, i) for i, u in enumerate(user_ids)],
    )


def insert_message(
    tx: Tx, channel_id: str, user_id: str, content: str, reply_to: str | None, thread_id: str | None = None,
    *, pending: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]] | automod.Blocked:
    """Write step: every check of §3.5 (re-run here, inside the write), automod (issue 13), then
    the row, its mention rows and ``bots.log_message`` (a bot author's post is logged, §4.7).

    Returns ``(row, Message)`` and emits nothing, so the caller (post, a thread reply, a poll,
    an event) attaches its own part and sends the event it owns; or, when automod caught the
    content, the :class:`automod.Blocked` (nothing but the automod log and action is stored;
    the caller returns it and the API answers its 400 ``automod_blocked``). Raises 404
    ``unknown_channel`` / ``unknown_message`` (``reply_to`` not an undeleted message of the
    channel), 403 ``missing_permission`` / ``timed_out``. ``thread_id`` names the thread root
    (checked by the caller). ``pending``: stored hidden until its files come (see :func:`post`).
    """
    chan, ctx, eff = need_channel_tx(tx, channel_id, user_id)
    need_bit(eff, p.Permission.SEND_MESSAGES)
    mid, now = tx.new_id()
    need_not_timed_out_tx(tx, chan["server_id"], user_id, now)
    if reply_to is not None:
        target = tx.conn.execute(
            "SELECT 1 FROM messages WHERE id = ? AND channel_id = ? AND deleted = 0", (reply_to, channel_id)
        ).fetchone()
        if target is None:
            raise ApiError("unknown_message", "The replied-to message does not exist in this channel")
    hit = automod.check(tx, chan["server_id"], user_id, eff, content, now)
    if hit is not None:
        return automod.enforce(tx, chan["server_id"], channel_id, user_id, content, hit)
    return store_message(tx, mid, now, chan["server_id"], channel_id, user_id, content, reply_to,
                         p.has(eff, p.Permission.MANAGE_MESSAGES), thread_id, pending=pending)


def store_message(
    tx: Tx, mid: str, now: str, server_id: str, channel_id: str, author_id: str, content: str,
    reply_to: str | None, may_mention_everyone: bool, thread_id: str | None = None, *, pending: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write step after the checks (``insert_message``; an incoming webhook's post): message
    ``mid`` with its mention rows, ``bots.log_message``, then ``webhooks.enqueue``
    (``message.created`` to the server's outgoing webhooks, issue 13). Returns ``(row,
    Message)``; emits nothing (the caller sends MESSAGE_CREATE or its own event). A
    ``pending`` message (issue 10) is stored hidden (``deleted = 2``) and not enqueued."""
    names, everyone = parse_mentions(content)
    everyone = everyone and may_mention_everyone
    mentioned = _resolve_mentions(tx.conn, server_id, names)
    tx.conn.execute(
        "INSERT INTO messages (id, channel_id, server_id, author_id, content, reply_to, mention_everyone,"
        " created_at, thread_id, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (mid, channel_id, server_id, author_id, content, reply_to, int(everyone), now, thread_id, 2 if pending else 0),
    )
    if mentioned:  # a new message has no mention rows to replace
        _store_mentions(tx, mid, mentioned)
    row = {
        "id": mid, "channel_id": channel_id, "server_id": server_id, "author_id": author_id,
        "content": content, "reply_to": reply_to, "mention_everyone": int(everyone), "edited_at": None,
        "deleted": 0, "created_at": now, "pinned_by": None, "pinned_at": None, "thread_id": thread_id,
    }
    bots.log_message(tx, row)  # a bot author's post is logged (§4.7; no event)
    data = records.message(row, mentioned, [])
    if not pending:
        webhooks.enqueue(tx, server_id, "message.created", data)
    return row, data


def post(
    tx: Tx, channel_id: str, user_id: str, content: str, reply_to: str | None, *,
    pending: bool = False, attach: Callable[[Tx, dict[str, Any]], list[dict[str, Any]]] | None = None,
) -> dict[str, Any] | automod.Blocked:
    """Write job: create a message (``POST /channels/:id/messages``, §3.5): :func:`insert_message`,
    then MESSAGE_CREATE to the channel's viewers. Returns the Message, or the automod Blocked.

    ``pending``: the content has no visible character (the Together web client's
    ``"\u200b"`` before it uploads files, issue 10): the message is stored hidden
    (``deleted = 2``: no list, GET, search or unread count shows it), no MESSAGE_CREATE goes
    out, and the upload announces it with its files; without a file within
    ``attachments.pending_seconds`` it is deleted (:func:`expire`). ``attach(tx, message)``:
    adds files in this same job (the one-step multipart post); its [Attachment] goes into
    the MESSAGE_CREATE.
    """
    pending = pending and attach is None
    made = insert_message(tx, channel_id, user_id, content, reply_to, pending=pending)
    if isinstance(made, automod.Blocked):
        return made
    row, data = made
    if attach is not None:
        data["attachments"] = attach(tx, data)
    elif pending:
        attachments.mark_pending(tx, row["id"], channel_id, row["created_at"], dm=False)
        return data
    tx.emit(Event("MESSAGE_CREATE", data, viewers_tx(tx, channel_id)))
    return data


def list_messages(
    conn: sqlite3.Connection, channel_id: str, user_id: str,
    before: str | None, after: str | None, limit: int,
) -> list[dict[str, Any]]:
    """The §3.5 cursor table; always returned newest first."""
    need_channel(conn, channel_id, user_id)
    rows = cursor_page(conn, table="messages", columns=MESSAGE_COLUMNS, channel_id=channel_id,
                       before=before, after=after, limit=limit, extra_where="thread_id IS NULL")
    return render(conn, rows, user_id)


def get_message(conn: sqlite3.Connection, channel_id: str, message_id: str, user_id: str) -> dict[str, Any]:
    """Reader: Message (§1.8) ``message_id`` of ``channel_id``, rendered for ``user_id`` (reactions ``me``).

    Raises 404 ``unknown_channel`` (missing or hidden channel) and 404 ``unknown_message`` (missing,
    deleted, or in another channel). ``GET /channels/:cid/messages/:mid``, API.md §3.5.
    """
    need_channel(conn, channel_id, user_id)
    row = conn.execute(SQL_MESSAGE, (message_id,)).fetchone()
    if row is None or row["channel_id"] != channel_id:
        raise ApiError("unknown_message")
    return render(conn, [row], user_id)[0]


def visible_message(conn: sqlite3.Connection, message_id: str, user_id: str) -> tuple[sqlite3.Row, int]:
    """The message and the caller's permissions in its channel; 404 when hidden."""
    row = conn.execute(SQL_MESSAGE, (message_id,)).fetchone()
    if row is None:
        raise ApiError("unknown_message")
    try:
        _chan, _ctx, eff = need_channel(conn, row["channel_id"], user_id)
    except ApiError:
        raise ApiError("unknown_message") from None
    return row, eff


def edit(tx: Tx, message_id: str, user_id: str, content: str) -> dict[str, Any] | automod.Blocked:
    """Write job: replace the content (mentions and ``mention_everyone`` recomputed, ``edited_at`` set).

    Automod checks the new content (issue 13): on a hit the old content stays (the action
    ``delete`` deletes the message) and the :class:`automod.Blocked` is returned.

    Returns the Message for the author. Raises 404 ``unknown_message`` (missing, deleted or hidden),
    403 ``missing_permission`` (not the author). Emits MESSAGE_UPDATE to the channel's viewers,
    per user when reactions exist (``me`` differs). ``PATCH /messages/:id``, API.md §3.5.
    """
    row, eff = visible_message(tx.conn, message_id, user_id)
    if row["author_id"] != user_id:
        raise ApiError("missing_permission", "Only the author may edit a message")
    hit = automod.check(tx, row["server_id"], user_id, eff, content, tx.now(), is_edit=True)
    if hit is not None:
        if hit.action == "delete":
            remove(tx, row)
        return automod.enforce(tx, row["server_id"], row["channel_id"], user_id, content, hit)
    names, everyone = parse_mentions(content)
    everyone = everyone and p.has(eff, p.Permission.MANAGE_MESSAGES)
    mentioned = _resolve_mentions(tx.conn, row["server_id"], names)
    tx.conn.execute(
        "UPDATE messages SET content = ?, mention_everyone = ?, edited_at = ? WHERE id = ?",
        (content, int(everyone), tx.now(), message_id),
    )
    _store_mentions(tx, message_id, mentioned)
    fresh = tx.conn.execute(SQL_MESSAGE, (message_id,)).fetchone()
    data = emit_update(tx, fresh, user_id)
    webhooks.enqueue(tx, row["server_id"], "message.updated", data)
    return data


def emit_update(tx: Tx, row: sqlite3.Row, user_id: str | None) -> dict[str, Any]:
    """Emit MESSAGE_UPDATE for ``row`` to its channel's viewers and return the Message as
    ``user_id`` sees it. Each receiver gets its own view when the message has reactions
    (``reactions[].me``, the poll's ``user_vote``; API.md §6.7), else one shared payload."""
    audience = viewers_tx(tx, row["channel_id"])
    data = render(tx.conn, [row], user_id)[0]
    if data["reactions"] or data["poll"] is not None:
        per_user = {uid: render(tx.conn, [row], uid)[0] for uid in audience}
        tx.emit(Event("MESSAGE_UPDATE", per_user, audience, per_user=True))
    else:
        tx.emit(Event("MESSAGE_UPDATE", data, audience))
    return data


def delete(tx: Tx, message_id: str, user_id: str) -> None:
    """Write job: soft delete (content blanked at once); author, owner or MANAGE_MESSAGES.

    Cascades, in this order, each an explicit call: a root's thread replies (each with its
    MESSAGE_DELETE), the message's poll and event, then MESSAGE_DELETE of the message, then
    (for a thread reply) MESSAGE_UPDATE of its root with the new ``thread_reply_count``.
    Raises 404 ``unknown_message``, 403 ``missing_permission``. ``DELETE /messages/:id``, §3.5.
    """
    row, eff = visible_message(tx.conn, message_id, user_id)
    if row["author_id"] != user_id and not p.has(eff, p.Permission.MANAGE_MESSAGES):
        raise ApiError("missing_permission", "You may not delete this message")
    if row["author_id"] != user_id:  # a moderator's delete
        audit.record(tx, row["server_id"], user_id, "message_delete", target_type="message", target_id=message_id,
                     changes={"channel_id": row["channel_id"], "author_id": row["author_id"]})
    remove(tx, row)


def remove(tx: Tx, row: Any) -> None:
    """Write step: delete message ``row`` with everything that goes with it, each an explicit
    call, in this order: a root's thread replies (each with its MESSAGE_DELETE), the
    message's poll and event, the message itself (blanked, unpinned, mentions dropped) with
    MESSAGE_DELETE, and for a thread reply MESSAGE_UPDATE of its root (the new count)."""
    audience = viewers_tx(tx, row["channel_id"])
    if row["thread_id"] is None:
        threads.delete_replies(tx, row, audience)
    polls.delete_for_message(tx, row["id"])
    events.delete_for_message(tx, row["id"])
    soft_delete(tx, row["id"])
    tx.emit(Event("MESSAGE_DELETE", {"id": row["id"], "channel_id": row["channel_id"]}, audience))
    webhooks.enqueue(tx, row["server_id"], "message.deleted", {"id": row["id"], "channel_id": row["channel_id"]})
    if row["thread_id"] is not None:
        root = tx.conn.execute(SQL_MESSAGE, (row["thread_id"],)).fetchone()
        if root is not None:
            emit_update(tx, root, None)


def soft_delete(tx: Tx, message_id: str) -> None:
    """Blank one message's content, unpin it, drop its mention rows and release its
    attachments (gone from every answer now; bytes purged later, issue 10). No event."""
    tx.conn.execute(
        "UPDATE messages SET deleted = 1, content = '', pinned_at = NULL, pinned_by = NULL WHERE id = ?",
        (message_id,),
    )
    tx.conn.execute("DELETE FROM message_mentions WHERE message_id = ?", (message_id,))
    attachments.release_for_message(tx, message_id)


def expire(tx: Tx, message_id: str) -> None:
    """A pending message (no visible content) got no file in time: delete it; only its
    author saw it (the POST answer), so MESSAGE_DELETE goes to the author (issue 10)."""
    row = tx.conn.execute("SELECT channel_id, author_id FROM messages WHERE id = ? AND deleted = 2",
                          (message_id,)).fetchone()
    if row is not None:
        soft_delete(tx, message_id)
        tx.emit(Event("MESSAGE_DELETE", {"id": message_id, "channel_id": row["channel_id"]}, {row["author_id"]}))
