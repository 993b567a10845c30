"""Rebuilding the search index (``together-server reindex``; DESIGN.md "Search").

Needed after a change to the segmentation rules (search/segment.py), since FTS5
external-content tables are deleted from by re-tokenizing the old text: an index built
with other rules cannot be maintained. :func:`reindex` empties both FTS5 tables and
refills them from ``messages`` (undeleted rows, through the ``messages_fts_src`` view) in
batches of rowids, each batch its own transaction so the writer is never blocked long.
Run it with the daemon stopped: searches during a rebuild see a partial index.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from .segment import register_sql_functions

TABLES = ("messages_fts", "messages_fts_raw")
BATCH_ROWS = 20_000


def reindex(
    conn: sqlite3.Connection,
    progress: Callable[[int, int], None] | None = None,
    *,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Rebuild ``messages_fts`` and ``messages_fts_raw``; return the messages indexed.

    ``conn`` must be in autocommit mode (``isolation_level=None``) and not inside a
    transaction. ``progress(done, total)`` is called after each batch with counts of
    messages (``total`` counted at the start). Raises ``sqlite3.Error`` on failure; a
    failed batch is rolled back, earlier batches stay (run it again).
    """
    register_sql_functions(conn)
    total = conn.execute("SELECT count(*) FROM messages WHERE deleted = 0").fetchone()[0]
    with _transaction(conn):
        for table in TABLES:
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('delete-all')")
    if progress is not None:
        progress(0, total)
    done = 0
    last = -1
    while True:
        bound = conn.execute(
            "SELECT max(seq) FROM (SELECT seq FROM messages WHERE seq > ? ORDER BY seq LIMIT ?)",
            (last, batch_rows),
        ).fetchone()[0]
        if bound is None:
            break
        with _transaction(conn):
            for table in TABLES:
                conn.execute(
                    f"INSERT INTO {table}(rowid, body)"
                    " SELECT seq, body FROM messages_fts_src WHERE seq > ? AND seq <= ?",
                    (last, bound),
                )
            done += conn.execute(
                "SELECT count(*) FROM messages WHERE seq > ? AND seq <= ? AND deleted = 0", (last, bound)
            ).fetchone()[0]
        last = bound
        if progress is not None:
            progress(done, max(total, done))
    with _transaction(conn):
        for table in TABLES:
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
    return done


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed on success, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class ProgressBar:
    """A one-line text progress bar for the CLI: ``bar(done, total)`` redraws it.

    ``stream``: where to draw (default stderr). On a non-terminal stream it prints a
    plain line at most every 10% so logs stay short. Call :meth:`finish` at the end.
    """

    def __init__(self, label: str = "reindex", stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.width = label, width
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last_tenth = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        frac = 1.0 if total <= 0 else min(1.0, done / total)
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        filled = int(frac * self.width)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done:,}/{total:,} ({frac:.0%}) {rate:,.0f} msg/s"
        )
        if self._tty:
            self.stream.write("\r" + line)
        elif int(frac * 10) != self._last_tenth:
            self._last_tenth = int(frac * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line (terminal only)."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
