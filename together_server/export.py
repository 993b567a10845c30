"""Server export (issue 13): a ZIP of one server's data, streamed as it is written.

Layout (the Together reference's, plus attachment metadata)::

    <slug>-<id>/server.json      {id, name, owner_id, icon_url, is_public, created_at}
    <slug>-<id>/channels.json    [{id, name, type, position, category, topic, created_at}]
    <slug>-<id>/members.json     [{user_id, username, joined_at, role_ids}]
    <slug>-<id>/roles.json       [{id, name, permissions, color, position}]
    <slug>-<id>/messages/<channel-slug>-<channel-id>.jsonl
                                 one JSON object per line, oldest first: {id, author_id,
                                 author_username, content, reply_to, thread_id, edited_at,
                                 created_at, pinned, attachments: [{id, filename, file_size,
                                 mime_type, sha256, width, height}]}

Everything is read in ONE read transaction on a connection of its own (a consistent
snapshot, no reader of the pool held), in a worker thread; the ZIP is written in chunks to
a bounded trio channel the HTTP response drains, so memory stays at a few chunks whatever
the server's size. No credentials, e-mails or blob bytes are exported.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import trio

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
BATCH = 500


def slug(text: str) -> str:
    """ASCII file-name slug (``general-chat``); ``x`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40] or "x"


class _Sink:
    """A write-only file object for zipfile that hands full chunks to ``emit``."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self.emit = emit
        self.buf = bytearray()

    def write(self, data: Any) -> int:
        self.buf += data
        while len(self.buf) >= CHUNK:
            self.emit(bytes(self.buf[:CHUNK]))
            del self.buf[:CHUNK]
        return len(data)

    def flush(self) -> None:
        pass

    def close_out(self) -> None:
        if self.buf:
            self.emit(bytes(self.buf))
            self.buf.clear()


def _rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, args)]


def write_zip(conn: sqlite3.Connection, server_id: str, emit: Callable[[bytes], None]) -> None:
    """Write the export of ``server_id`` through ``emit(chunk)`` (blocking; a worker thread)."""
    conn.execute("BEGIN")
    try:
        server = conn.execute("SELECT id, name, owner_id, icon_url, is_public, created_at FROM servers WHERE id = ?",
                              (server_id,)).fetchone()
        if server is None:
            return
        top = f"{slug(server['name'])}-{server_id}/"
        has_att = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attachments'").fetchone()
        msg_cols = {r[1] for r in conn.execute("PRAGMA table_info(messages)")}
        sink = _Sink(emit)
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:  # type: ignore[arg-type]
            def put(name: str, obj: Any) -> None:
                zf.writestr(top + name, orjson.dumps(obj, option=orjson.OPT_INDENT_2))

            put("server.json", {**dict(server), "is_public": bool(server["is_public"])})
            channels = _rows(conn, "SELECT id, name, type, position, category, topic, created_at FROM channels"
                                   " WHERE server_id = ? ORDER BY position, created_at, id", (server_id,))
            put("channels.json", channels)
            members = _rows(conn, "SELECT m.user_id, u.username, m.joined_at FROM members m JOIN users u"
                                  " ON u.id = m.user_id WHERE m.server_id = ? ORDER BY m.joined_at", (server_id,))
            roles_of: dict[str, list[str]] = {}
            for uid, rid in conn.execute("SELECT user_id, role_id FROM member_roles WHERE server_id = ?", (server_id,)):
                roles_of.setdefault(uid, []).append(rid)
            put("members.json", [{**m, "role_ids": roles_of.get(m["user_id"], [])} for m in members])
            put("roles.json", _rows(conn, "SELECT id, name, permissions, color, position FROM roles WHERE server_id = ?"
                                          " ORDER BY position DESC, id", (server_id,)))
            thread_col = ", m.thread_id" if "thread_id" in msg_cols else ", NULL AS thread_id"
            for ch in channels:
                if ch["type"] != "text":
                    continue
                with zf.open(f"{top}messages/{slug(ch['name'])}-{ch['id']}.jsonl", "w") as out:
                    cur = conn.execute(
                        "SELECT m.id, m.author_id, u.username AS author_username, m.content, m.reply_to"
                        f"{thread_col}, m.edited_at, m.created_at, m.pinned_at IS NOT NULL AS pinned"
                        " FROM messages m LEFT JOIN users u ON u.id = m.author_id"
                        " WHERE m.channel_id = ? AND m.deleted = 0 ORDER BY m.seq", (ch["id"],))
                    while True:
                        batch = cur.fetchmany(BATCH)
                        if not batch:
                            break
                        atts: dict[str, list[dict[str, Any]]] = {}
                        if has_att:
                            ids = [r["id"] for r in batch]
                            marks = ",".join("?" * len(ids))
                            for a in conn.execute(
                                    "SELECT message_id, id, filename, file_size, mime_type, sha256, width, height"
                                    f" FROM attachments WHERE message_id IN ({marks}) ORDER BY seq", ids):
                                d = dict(a)
                                atts.setdefault(d.pop("message_id"), []).append(d)
                        lines = []
                        for r in batch:
                            d = dict(r)
                            d["pinned"] = bool(d["pinned"])
                            d["attachments"] = atts.get(d["id"], [])
                            lines.append(orjson.dumps(d))
                        out.write(b"\n".join(lines) + b"\n")
        sink.close_out()
    finally:
        conn.execute("ROLLBACK")


async def stream(db_path: Path, connect: Callable[[Path], sqlite3.Connection], server_id: str) -> AsyncIterator[bytes]:
    """The export's bytes, produced in a worker thread, at most 8 chunks buffered. If the
    client goes away the channel closes and the thread stops at its next chunk."""
    send, receive = trio.open_memory_channel[bytes | None](8)
    token = trio.lowlevel.current_trio_token()

    def hand(chunk: bytes | None) -> None:
        trio.from_thread.run(send.send, chunk, trio_token=token)

    def produce() -> None:
        try:
            conn = connect(db_path)
            try:
                write_zip(conn, server_id, hand)
            finally:
                conn.close()
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.RunFinishedError):
            return
        except Exception:
            log.exception("export of server %s failed", server_id)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, trio.RunFinishedError):
            hand(None)

    threading.Thread(target=produce, name="together-export", daemon=True).start()
    async with receive:
        while True:
            chunk = await receive.receive()
            if chunk is None:
                break
            yield chunk
