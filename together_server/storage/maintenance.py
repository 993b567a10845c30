"""Background WAL checkpoints, so the write-ahead log returns to a small size (issue 15 §7).

SQLite's own auto-checkpoint runs on the committing connection and never shrinks the file:
a reader that holds an old snapshot (an outside ``sqlite3`` shell in ``BEGIN; SELECT …``)
keeps the checkpoint from reaching the end of the log, the log grows to tens of MB, and it
stayed that size until a restart. Two settings fix that together:

* every connection sets ``PRAGMA journal_size_limit`` (``database.journal_size_limit_bytes``):
  when the writer restarts a fully checkpointed log it truncates the file to that size;
* :class:`Checkpointer` runs every ``database.checkpoint_interval_seconds`` on its own
  connection with a zero busy timeout (it never waits and never blocks the writer): a
  ``PASSIVE`` checkpoint, then a ``TRUNCATE`` one (the file back to 0 bytes) when the log
  was idle for the interval (no frame written since the last run).

``daemon.py`` starts the job; nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import trio

log = logging.getLogger(__name__)


@attrs.define
class CheckpointResult:
    """One checkpoint: ``mode`` (PASSIVE | TRUNCATE), ``busy`` (it could not finish: a reader or
    the writer was in the way), WAL ``frames`` and frames ``checkpointed`` (-1 when unknown),
    ``wal_bytes`` (the -wal file's size afterwards)."""

    mode: str
    busy: bool
    frames: int
    checkpointed: int
    wal_bytes: int


class Checkpointer:
    """Checkpoints the WAL of the database at ``db.path`` from a dedicated connection.

    ``open()`` / ``close()`` run in a worker thread (file I/O); ``tick()`` is the background
    job: awaitable, never raises for SQLite errors (``on_error(exc)`` gets them, e.g. a full
    disk for the storage health), returns the :class:`CheckpointResult` or None when skipped.
    """

    def __init__(self, db: Any, *, journal_size_limit: int, on_error: Any = None) -> None:
        self.db = db
        self.path: Path = db.path
        self.journal_size_limit = journal_size_limit
        self.on_error = on_error or (lambda exc: None)
        self.last: CheckpointResult | None = None
        self._conn: sqlite3.Connection | None = None
        self._frames_seen = -1
        self._lock = trio.Lock()

    def _open_sync(self) -> None:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=0)
        conn.execute("PRAGMA busy_timeout = 0")  # never wait: the next tick tries again
        conn.execute(f"PRAGMA journal_size_limit = {int(self.journal_size_limit)}")
        self._conn = conn

    async def open(self) -> None:
        await trio.to_thread.run_sync(self._open_sync)

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await trio.to_thread.run_sync(conn.close)

    def wal_bytes(self) -> int:
        """The -wal file's size in bytes (0 when absent). Blocking: call from a thread."""
        try:
            return os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return 0

    def _checkpoint(self, mode: str) -> CheckpointResult:
        assert self._conn is not None
        busy, frames, done = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return CheckpointResult(mode, bool(busy), frames, done, self.wal_bytes())

    async def tick(self) -> CheckpointResult | None:
        """One background checkpoint: PASSIVE; then, when the log is idle (fully checkpointed
        and no frame added since the last tick: empty commits add none) but not empty,
        TRUNCATE it to 0 bytes. Returns the last result (None when closed or on an error)."""
        async with self._lock:
            if self._conn is None:
                return None
            try:
                result = await trio.to_thread.run_sync(self._checkpoint, "PASSIVE")
                idle = not result.busy and result.frames == result.checkpointed == self._frames_seen
                self._frames_seen = result.frames
                if idle and result.wal_bytes > 0:
                    result = await trio.to_thread.run_sync(self._checkpoint, "TRUNCATE")
            except sqlite3.Error as exc:
                self.on_error(exc)
                return None
        self.last = result
        log.debug("checkpoint %s: busy=%s frames=%d checkpointed=%d wal=%d bytes",
                  result.mode, result.busy, result.frames, result.checkpointed, result.wal_bytes)
        return result

def _touch(tx: Any) -> None:
    """A one-page write that changes nothing: page 1's user_version rewritten as it is."""
    version = tx.conn.execute("PRAGMA user_version").fetchone()[0]
    tx.conn.execute(f"PRAGMA user_version = {int(version)}")


async def recheck_storage(db: Any) -> None:
    """Background job: while storage health reports a problem (disk full, outside lock), try a
    one-page write, so ``GET /health`` turns ok as soon as space returns even when no client
    writes (issue 15 §4: recovery is automatic). Refusals are counted, not logged again."""
    from ..errors import ApiError

    if db.health.problem is None:
        return
    with contextlib.suppress(ApiError):
        await db.write(_touch)
