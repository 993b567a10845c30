"""Attachment rows: the Attachment shape, who may add or list them, adding them in one
write job, releasing them when their message, channel, server or uploader goes, and the
bounded purge of unreferenced blobs (issue 10).

The shape is ``{id, message_id, filename, file_size, mime_type, url, width, height,
created_at, thumbnail_url}``; ``url`` comes from the connection's ``together_file_url``
SQL function (a signed ``/files/...`` path, fresh at every read, storage/db.py).
Deletions are explicit calls from the function that owns them (``messages.delete`` calls
:func:`release_for_message`, and so on); each moves the blobs to ``blob_purges``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import attrs

from .. import permissions as p
from ..errors import ApiError, invalid
from .db import Event, Tx

_COLUMNS = ("id, message_id, filename, file_size, mime_type, width, height, created_at, thumb_sha256,"
            " together_file_url(id, filename) AS url")
_SQL_FOR = f"SELECT {_COLUMNS} FROM attachments WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY seq"
_SQL_INSERT = (
    "INSERT INTO attachments (id, message_id, channel_id, server_id, dm, uploader_id, filename, file_size,"
    " mime_type, sha256, width, height, thumb_sha256, thumb_type, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_SERVE = "SELECT id, filename, file_size, mime_type, sha256, thumb_sha256, thumb_type FROM attachments WHERE id = ?"
_SQL_USED = "SELECT coalesce(sum(file_size), 0) FROM attachments WHERE uploader_id = ?"


def shape(row: sqlite3.Row) -> dict[str, Any]:
    """The Attachment (issue 10) of one row selected with ``_COLUMNS``."""
    url = row["url"]
    thumb = None
    if row["mime_type"].startswith("image/"):
        thumb = url + "&size=thumb" if row["thumb_sha256"] else url
    return {
        "id": row["id"], "message_id": row["message_id"], "filename": row["filename"],
        "file_size": row["file_size"], "mime_type": row["mime_type"], "url": url,
        "width": row["width"], "height": row["height"], "created_at": row["created_at"],
        "thumbnail_url": thumb,
    }


def load(conn: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """``{message_id: [Attachment]}`` in upload order; messages without any are absent. One query."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not message_ids:
        return out
    for row in conn.execute(_SQL_FOR, (json.dumps(list(message_ids)),)):
        out.setdefault(row["message_id"], []).append(shape(row))
    return out


@attrs.frozen
class Target:
    """A message files may be added to: ids, ``dm`` (a direct message), the audience of
    its update event, and how many attachments it has already."""

    message_id: str
    channel_id: str
    server_id: str | None
    dm: bool
    audience: frozenset[str]
    count: int
    pending: bool = False  # hidden until these files come (deleted = 2, messages.post)


def upload_target(conn: sqlite3.Connection, message_id: str, user_id: str) -> Target:
    """Who may add files (issue 10): the message's author, holding ``ATTACH_FILES`` in a
    channel they can still see and not timed out; for a DM message its author (a
    participant). 404 ``unknown_message`` (missing, deleted, hidden, DM outsider), 403
    ``missing_permission`` (not the author, no ATTACH_FILES), 403 ``timed_out``."""
    from . import dms, messages
    from .access import need_bit, need_channel, need_not_timed_out
    from .perms import viewers

    count = conn.execute("SELECT count(*) FROM attachments WHERE message_id = ?", (message_id,)).fetchone()[0]
    row = conn.execute(messages.SQL_MESSAGE, (message_id,)).fetchone()
    if row is None:  # a pending message is its author's to complete
        row = conn.execute(f"SELECT {messages.MESSAGE_COLUMNS} FROM messages WHERE id = ? AND deleted = 2 AND author_id = ?",
                           (message_id, user_id)).fetchone()
    if row is not None:
        try:
            _chan, _ctx, eff = need_channel(conn, row["channel_id"], user_id)
        except ApiError:
            raise ApiError("unknown_message") from None
        if row["author_id"] != user_id:
            raise ApiError("missing_permission", "Only the author may add files to a message")
        need_bit(eff, p.Permission.ATTACH_FILES)
        from ..clock import format_us, now_us

        need_not_timed_out(conn, row["server_id"], user_id, format_us(now_us()))
        return Target(message_id, row["channel_id"], row["server_id"], False, viewers(conn, row["channel_id"]), count,
                      pending=row["deleted"] == 2)
    dm = conn.execute(
        "SELECT channel_id, author_id, deleted FROM dm_messages WHERE id = ?1 AND (deleted = 0"
        " OR (deleted = 2 AND author_id = ?2))", (message_id, user_id),
    ).fetchone()
    if dm is None:
        raise ApiError("unknown_message")
    try:
        _dm_row, other = dms.need_participant(conn, dm["channel_id"], user_id)
    except ApiError:
        raise ApiError("unknown_message") from None
    if dm["author_id"] != user_id:
        raise ApiError("missing_permission", "Only the author may add files to a message")
    return Target(message_id, dm["channel_id"], None, True, frozenset({user_id, other}), count,
                  pending=dm["deleted"] == 2)


def list_for_message(conn: sqlite3.Connection, message_id: str, user_id: str) -> list[dict[str, Any]]:
    """``GET /messages/:id/attachments``: [Attachment] for a viewer of the message (server
    channel or DM); 404 ``unknown_message`` otherwise."""
    from . import dms, messages

    row = conn.execute(messages.SQL_MESSAGE, (message_id,)).fetchone()
    if row is not None:
        messages.visible_message(conn, message_id, user_id)
    else:
        dm = conn.execute("SELECT channel_id FROM dm_messages WHERE id = ? AND deleted = 0", (message_id,)).fetchone()
        if dm is None:
            raise ApiError("unknown_message")
        try:
            dms.need_participant(conn, dm["channel_id"], user_id)
        except ApiError:
            raise ApiError("unknown_message") from None
    return load(conn, [message_id]).get(message_id, [])


def add(tx: Tx, target: Target, user_id: str, files: Sequence[Any], *, max_files: int,
        quota: int, commit_blob: Any) -> list[dict[str, Any]]:
    """Write job part: insert one row per upload of ``files`` (api/uploads.Upload) on the
    message of ``target`` (re-checked by the caller in this job), after moving each blob
    into place with ``commit_blob(temp, sha256)``. Raises 400 ``validation_failed``
    (``errors.files``: more than ``max_files`` in all) and 413 ``payload_too_large`` (the
    uploader's ``quota`` in bytes, 0 = none). Removes the message from the pending list.
    Returns the new [Attachment]; emits nothing (the caller sends the message event)."""
    count = tx.conn.execute("SELECT count(*) FROM attachments WHERE message_id = ?", (target.message_id,)).fetchone()[0]
    if count + len(files) > max_files:
        raise invalid({"files": f"a message holds at most {max_files} files ({count} already)"})
    if quota:
        used = tx.conn.execute(_SQL_USED, (user_id,)).fetchone()[0]
        incoming = sum(f.size for f in files)
        if used + incoming > quota:
            raise ApiError("payload_too_large", f"Your files would use {used + incoming} of your {quota} bytes",
                           errors={"files": f"your quota is {quota} bytes; {used} are used"})
    ids = []
    for up in files:
        aid, now = tx.new_id()
        commit_blob(up.temp, up.sha256)
        if up.thumb is not None and up.thumb_sha256:
            commit_blob(up.thumb, up.thumb_sha256)
        tx.conn.execute(_SQL_INSERT, (
            aid, target.message_id, target.channel_id, target.server_id, int(target.dm), user_id, up.filename,
            up.size, up.mime, up.sha256, up.width, up.height, up.thumb_sha256, up.thumb_type, now,
        ))
        if not target.dm:
            seq = tx.conn.execute("SELECT seq FROM attachments WHERE id = ?", (aid,)).fetchone()[0]
            tx.conn.execute("INSERT INTO attachment_names_fts (rowid, filename) VALUES (?, ?)", (seq, up.filename))
        ids.append(aid)
    tx.conn.execute("DELETE FROM pending_messages WHERE message_id = ?", (target.message_id,))
    if target.pending:  # shown from now on; the FTS update trigger indexes it
        table = "dm_messages" if target.dm else "messages"
        tx.conn.execute(f"UPDATE {table} SET deleted = 0 WHERE id = ? AND deleted = 2", (target.message_id,))
    # the blobs are referenced again: no purge of them may run
    tx.conn.execute("DELETE FROM blob_purges WHERE sha256 IN (SELECT value FROM json_each(?))",
                    (_json([s for up in files for s in (up.sha256, up.thumb_sha256) if s]),))
    rows = load(tx.conn, [target.message_id]).get(target.message_id, [])
    return [a for a in rows if a["id"] in ids]


def emit_update(tx: Tx, target: Target) -> None:
    """Send the message's new shape with its attachments: ``MESSAGE_UPDATE`` (per receiver
    when it has reactions, whose ``me`` differs) or ``DM_MESSAGE_UPDATE`` for a DM; for a
    message that was pending (first shown now) ``MESSAGE_CREATE`` / ``DM_MESSAGE_CREATE``."""
    from . import dms, messages

    if target.dm:
        row = tx.conn.execute(f"SELECT {dms.DM_MESSAGE_COLUMNS} FROM dm_messages WHERE id = ?",
                              (target.message_id,)).fetchone()
        data = dms.direct_message(row, load(tx.conn, [target.message_id]).get(target.message_id, []))
        tx.emit(Event("DM_MESSAGE_CREATE" if target.pending else "DM_MESSAGE_UPDATE", data, target.audience))
        return
    row = tx.conn.execute(messages.SQL_MESSAGE, (target.message_id,)).fetchone()
    if target.pending:
        tx.emit(Event("MESSAGE_CREATE", messages.render(tx.conn, [row], None)[0], target.audience))
        return
    messages.emit_update(tx, row, None)


def mark_pending(tx: Tx, message_id: str, channel_id: str, created_at: str, *, dm: bool) -> None:
    """A message with no visible content waits for its files (the two-step flow)."""
    tx.conn.execute("INSERT OR IGNORE INTO pending_messages (message_id, dm, channel_id, created_at)"
                    " VALUES (?, ?, ?, ?)", (message_id, int(dm), channel_id, created_at))


def expire_pending(tx: Tx, older_than: str, limit: int = 200) -> int:
    """Delete (as their author would) up to ``limit`` pending messages created before
    ``older_than`` that still have no attachment; sends MESSAGE_DELETE / DM_MESSAGE_DELETE.
    Returns how many were handled."""
    from . import dms, messages

    rows = tx.conn.execute(
        "SELECT message_id, dm, channel_id FROM pending_messages WHERE created_at < ? ORDER BY created_at LIMIT ?",
        (older_than, limit),
    ).fetchall()
    for r in rows:
        tx.conn.execute("DELETE FROM pending_messages WHERE message_id = ?", (r["message_id"],))
        if tx.conn.execute("SELECT 1 FROM attachments WHERE message_id = ?", (r["message_id"],)).fetchone():
            continue
        if r["dm"]:
            dms.expire_dm_message(tx, r["channel_id"], r["message_id"])
        else:
            messages.expire(tx, r["message_id"])
    return len(rows)


def _json(values: list[str]) -> str:
    return json.dumps(values)


def _release(tx: Tx, where: str, params: tuple[Any, ...]) -> int:
    """Delete the attachment rows matching ``where`` and queue their blobs for the purge."""
    rows = tx.conn.execute(f"DELETE FROM attachments WHERE {where} RETURNING seq, sha256, thumb_sha256, dm",
                           params).fetchall()
    if not rows:
        return 0
    now = tx.now()
    shas = {s for r in rows for s in (r["sha256"], r["thumb_sha256"]) if s}
    tx.conn.executemany("INSERT OR IGNORE INTO blob_purges (sha256, queued_at) VALUES (?, ?)",
                        [(s, now) for s in shas])
    tx.conn.executemany("DELETE FROM attachment_names_fts WHERE rowid = ?", [(r["seq"],) for r in rows if not r["dm"]])
    return len(rows)


def release_for_message(tx: Tx, message_id: str) -> int:
    """The message was deleted: its attachments leave every answer now."""
    tx.conn.execute("DELETE FROM pending_messages WHERE message_id = ?", (message_id,))
    return _release(tx, "message_id = ?", (message_id,))


def release_for_channel(tx: Tx, channel_id: str) -> int:
    """A server channel or a DM channel was deleted."""
    tx.conn.execute("DELETE FROM pending_messages WHERE channel_id = ?", (channel_id,))
    return _release(tx, "channel_id = ?", (channel_id,))


def release_for_server(tx: Tx, server_id: str) -> int:
    """A server was deleted (called from the tombstone purge and the delete itself)."""
    return _release(tx, "server_id = ?", (server_id,))


def release_for_user(tx: Tx, user_id: str) -> int:
    """An account was deleted: every file it uploaded goes."""
    return _release(tx, "uploader_id = ?", (user_id,))


def used_bytes(conn: sqlite3.Connection, user_id: str) -> int:
    """Bytes of live attachments uploaded by ``user_id`` (the quota's measure)."""
    return int(conn.execute(_SQL_USED, (user_id,)).fetchone()[0])


def for_serving(conn: sqlite3.Connection, attachment_id: str) -> sqlite3.Row | None:
    """The row ``GET /files/...`` needs, or None (deleted or never existed)."""
    return conn.execute(_SQL_SERVE, (attachment_id,)).fetchone()  # type: ignore[no-any-return]


# Is blob ?1 still used: by an attachment, its thumbnail, or a custom emoji (issue 12)?
SQL_BLOB_USED = (
    "SELECT 1 FROM attachments WHERE sha256 = ?1 UNION ALL SELECT 1 FROM attachments WHERE thumb_sha256 = ?1"
    " UNION ALL SELECT 1 FROM custom_emojis WHERE sha256 = ?1 LIMIT 1"
)


def purge_blobs(tx: Tx, delete_blob: Any, limit: int = 100) -> int:
    """Write job: remove up to ``limit`` queued blobs that no attachment or custom emoji
    references any more (``delete_blob(sha256)`` removes the file, inside this job, so no upload can
    re-reference a blob between the check and the removal). Returns how many queue
    entries were handled (0 = nothing left)."""
    rows = tx.conn.execute("SELECT sha256 FROM blob_purges ORDER BY queued_at LIMIT ?", (limit,)).fetchall()
    for (sha,) in rows:
        tx.conn.execute("DELETE FROM blob_purges WHERE sha256 = ?", (sha,))
        used = tx.conn.execute(SQL_BLOB_USED, (sha,)).fetchone()
        if used is None:
            delete_blob(sha)
    return len(rows)


def queue_orphans(tx: Tx, hashes: Sequence[str]) -> int:
    """Start-up check: queue blobs found on disk that no row references (a crash between
    a blob's rename and its row's commit). Returns how many were queued."""
    queued = 0
    now = tx.now()
    for sha in hashes:
        used = tx.conn.execute(SQL_BLOB_USED, (sha,)).fetchone()
        if used is None:
            tx.conn.execute("INSERT OR IGNORE INTO blob_purges (sha256, queued_at) VALUES (?, ?)", (sha, now))
            queued += 1
    return queued
