"""Custom emoji of a server (issue 12 "Custom emoji").

Shape. **CustomEmoji** = ``{id, server_id, created_by, name, url, content_type, file_size,
created_at}`` (the Together reference's fields) plus ``width`` and ``height`` (pixels).
``url`` is ``/emojis/<id>``: the image is public by id, served without an Authorization
header (an ``<img>`` cannot send one), like a Discord CDN link; ids are not guessable in
practice but are not secrets either, so do not upload what must stay private.

Rules: ``name`` is 2-32 characters of ``a-z``, ``0-9``, ``_`` and ``-`` (what Together
clients resolve as ``:name:`` in message text), unique in its server (409
``emoji_name_taken``); a server holds at most ``limits.emojis_per_server`` (400
``limit_reached``). Creating and deleting need ``MANAGE_EMOJIS`` (owners and
``ADMINISTRATOR`` hold it). The image bytes are a content-addressed blob of the
attachments store (issue 10), checked by its sniffing and image limits.

A reaction with a custom emoji is the emoji string ``c:<emoji id>`` (the Together
client's form); it must name an emoji of the message's server (404 ``unknown_emoji``,
:func:`need_reaction_emoji`). Deleting an emoji removes the reactions made with it (each
with REACTION_REMOVE), queues its blob for the purge, and is recorded in the audit log.
Events to the server's members: ``CUSTOM_EMOJI_CREATE`` (CustomEmoji) and
``CUSTOM_EMOJI_DELETE`` ``{server_id, emoji_id}``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

from .. import permissions as p
from ..errors import ApiError
from ..ids import normalize_uuid
from . import audit, perms
from .access import need_member, need_server_bit
from .db import Event, Tx, integrity

NAME_RE = re.compile(r"^[a-z0-9_-]{2,32}$")
COLUMNS = "id, server_id, name, created_by, sha256, content_type, file_size, width, height, created_at"
SQL_BY_SERVER = f"SELECT {COLUMNS} FROM custom_emojis WHERE server_id = ? ORDER BY created_at, id"
SQL_ONE = f"SELECT {COLUMNS} FROM custom_emojis WHERE id = ?"
REACTION_PREFIX = "c:"


def shape(row: sqlite3.Row) -> dict[str, Any]:
    """CustomEmoji from a ``custom_emojis`` row."""
    return {
        "id": row["id"], "server_id": row["server_id"], "created_by": row["created_by"], "name": row["name"],
        "url": f"/emojis/{row['id']}", "content_type": row["content_type"], "file_size": row["file_size"],
        "width": row["width"], "height": row["height"], "created_at": row["created_at"],
    }


def list_emojis(conn: sqlite3.Connection, server_id: str, user_id: str) -> list[dict[str, Any]]:
    """Reader: ``GET /servers/:id/emojis``: [CustomEmoji], oldest first; 404 ``unknown_server`` for non-members."""
    need_member(conn, server_id, user_id)
    return [shape(r) for r in conn.execute(SQL_BY_SERVER, (server_id,))]


def can_create(conn: sqlite3.Connection, server_id: str, user_id: str, limit: int) -> None:
    """The checks of :func:`create` that need no image, run before the upload is read:
    404 ``unknown_server``, 403 ``missing_permission``, 400 ``limit_reached``."""
    ctx = need_member(conn, server_id, user_id)
    need_server_bit(ctx, p.Permission.MANAGE_EMOJIS)
    (count,) = conn.execute("SELECT count(*) FROM custom_emojis WHERE server_id = ?", (server_id,)).fetchone()
    if count >= limit:
        raise ApiError("limit_reached", f"A server holds at most {limit} custom emoji")


def create(
    tx: Tx, server_id: str, user_id: str, name: str, image: Any, limit: int, commit_blob: Callable[[Any, str], Any],
) -> dict[str, Any]:
    """Write job: ``POST /servers/:id/emojis``: the emoji row, after moving its image into the
    blob store with ``commit_blob(temp_path, sha256)`` (``image`` is an accepted upload:
    ``temp``, ``sha256``, ``size``, ``mime``, ``width``, ``height``). Raises what
    :func:`can_create` raises (re-checked here) and 409 ``emoji_name_taken``. Emits
    CUSTOM_EMOJI_CREATE to the members; records ``emoji_create`` in the audit log."""
    can_create(tx.conn, server_id, user_id, limit)
    if tx.conn.execute("SELECT 1 FROM custom_emojis WHERE server_id = ? AND name_fold = ?",
                       (server_id, name)).fetchone() is not None:
        raise ApiError("emoji_name_taken", f"This server already has an emoji named :{name}:")
    eid, now = tx.new_id()
    with integrity({"custom_emojis.server_id, custom_emojis.name_fold": "emoji_name_taken"}):
        tx.conn.execute(
            "INSERT INTO custom_emojis (id, server_id, name, name_fold, created_by, sha256, content_type, file_size,"
            " width, height, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (eid, server_id, name, name, user_id, image.sha256, image.mime, image.size, image.width, image.height, now),
        )
    commit_blob(image.temp, image.sha256)
    # referenced again: a purge queued for this blob must not remove it
    tx.conn.execute("DELETE FROM blob_purges WHERE sha256 = ?", (image.sha256,))
    row = tx.conn.execute(SQL_ONE, (eid,)).fetchone()
    data = shape(row)
    audit.record(tx, server_id, user_id, "emoji_create", target_type="emoji", target_id=eid,
                 changes={"name": {"old": None, "new": name}})
    tx.emit(Event("CUSTOM_EMOJI_CREATE", data, perms.member_ids(tx.conn, server_id)))
    return data


def delete(tx: Tx, server_id: str, emoji_id: str, user_id: str) -> None:
    """Write job: ``DELETE /servers/:id/emojis/:emoji_id``. Needs MANAGE_EMOJIS. In this order:
    each reaction made with it (REACTION_REMOVE to the channel's viewers), the row, its blob
    queued for the purge, ``emoji_delete`` in the audit log, CUSTOM_EMOJI_DELETE
    ``{server_id, emoji_id}`` to the members. Raises 404 ``unknown_server`` /
    ``unknown_emoji``, 403 ``missing_permission``."""
    ctx = need_member(tx.conn, server_id, user_id)
    row = tx.conn.execute(SQL_ONE, (emoji_id,)).fetchone()
    if row is None or row["server_id"] != server_id:
        raise ApiError("unknown_emoji")
    need_server_bit(ctx, p.Permission.MANAGE_EMOJIS)
    remove_reactions(tx, server_id, REACTION_PREFIX + emoji_id)
    tx.conn.execute("DELETE FROM custom_emojis WHERE id = ?", (emoji_id,))
    if tx.conn.execute("SELECT 1 FROM custom_emojis WHERE sha256 = ?", (row["sha256"],)).fetchone() is None:
        tx.conn.execute("INSERT OR IGNORE INTO blob_purges (sha256, queued_at) VALUES (?, ?)", (row["sha256"], tx.now()))
    audit.record(tx, server_id, user_id, "emoji_delete", target_type="emoji", target_id=emoji_id,
                 changes={"name": {"old": row["name"], "new": None}})
    tx.emit(Event("CUSTOM_EMOJI_DELETE", {"server_id": server_id, "emoji_id": emoji_id},
                  perms.member_ids(tx.conn, server_id)))


def remove_reactions(tx: Tx, server_id: str, emoji: str) -> int:
    """Cascade step: every reaction with ``emoji`` on the server's messages goes, each with
    REACTION_REMOVE to its channel's viewers. Returns how many went."""
    rows = tx.conn.execute(
        "SELECT r.message_id, r.user_id, m.channel_id FROM reactions r JOIN messages m ON m.id = r.message_id"
        " WHERE r.emoji = ? AND m.server_id = ? ORDER BY r.message_id, r.user_id", (emoji, server_id),
    ).fetchall()
    viewers: dict[str, frozenset[str]] = {}
    for mid, uid, cid in rows:
        tx.conn.execute("DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", (mid, emoji, uid))
        if cid not in viewers:
            viewers[cid] = frozenset(perms.viewers(tx.conn, cid))
        tx.emit(Event("REACTION_REMOVE", {"message_id": mid, "channel_id": cid, "user_id": uid, "emoji": emoji},
                      viewers[cid]))
    return len(rows)


def need_reaction_emoji(conn: sqlite3.Connection, server_id: str, emoji: str) -> None:
    """A reaction emoji of the form ``c:<uuid>`` must name a custom emoji of ``server_id``
    (404 ``unknown_emoji``); any other emoji string is left alone."""
    if not emoji.startswith(REACTION_PREFIX):
        return
    eid = normalize_uuid(emoji[len(REACTION_PREFIX):])
    if eid is None:
        return  # not the custom form: an ordinary short name that starts with "c:"
    found = conn.execute("SELECT 1 FROM custom_emojis WHERE id = ? AND server_id = ?", (eid, server_id)).fetchone()
    if found is None:
        raise ApiError("unknown_emoji", "No custom emoji of this server has that id")


def for_serving(conn: sqlite3.Connection, emoji_id: str) -> sqlite3.Row | None:
    """Reader: the row behind ``GET /emojis/:id`` (None: unknown); no access check (public by id)."""
    return conn.execute(SQL_ONE, (emoji_id,)).fetchone()  # type: ignore[no-any-return]


def referenced(conn: sqlite3.Connection, sha256: str) -> bool:
    """True when an emoji still uses blob ``sha256`` (the blob purge must keep it)."""
    return conn.execute("SELECT 1 FROM custom_emojis WHERE sha256 = ?", (sha256,)).fetchone() is not None
