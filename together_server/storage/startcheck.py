"""Checks of the database file before the server uses it (issue 15 §5).

Each refusal is a :class:`StartRefused` whose message is ONE line naming the file, what is
wrong with it and what to do; the daemon prints it and exits 1:

* :func:`check_file` (before any connection): a directory, an unreadable or read-only file
  or folder, a file that does not start with the SQLite header, and an empty (0-byte) file
  where a database was expected (a fresh instance would silently replace the admin's data)
  unless ``allow_empty`` (``together-server serve --init``).
* :func:`check_version`: a database written by a newer together-server (``PRAGMA
  user_version`` above the newest migration here, or a ``schema_migrations`` row this
  version does not know) names both versions.
* :func:`quick_check`: ``PRAGMA quick_check`` bounded in time by a progress handler; a
  damaged database refuses with the first problem SQLite reports. A check cut short by the
  time bound logs a warning and lets the start go on (huge files; ``database.quick_check_*``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from pathlib import Path

log = logging.getLogger("together_server.storage")

SQLITE_HEADER = b"SQLite format 3\x00"


def _recover_hint() -> str:
    """How to recover from a damaged database (issue 15 §5): the check command, then a backup."""
    return ("run `together-server check` for the details, then `together-server restore <backup>`"
            " (or salvage what is readable with `sqlite3 <file> .recover`)")


class StartRefused(RuntimeError):
    """The database cannot be used; the message is one line for the admin."""


def _access(path: Path, mode: int) -> bool:
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def check_file(path: Path, *, allow_empty: bool) -> bool:
    """Refuse a database file the server cannot use. Returns True when ``path`` is a 0-byte file
    accepted because ``allow_empty`` (it is initialised as a new database). Blocking."""
    folder = path.parent
    if not _access(folder, os.W_OK | os.X_OK):
        raise StartRefused(f"cannot write in the data directory {folder}: permission denied "
                           "(the server keeps its database, WAL and lock file there)")
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StartRefused(f"cannot open the database {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StartRefused(f"the database {path} is not a regular file; move it away")
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise StartRefused(f"cannot read the database {path}: {exc.strerror}") from None
    for suffix in ("", "-wal", "-shm"):
        f = Path(f"{path}{suffix}")
        if f.exists() and not _access(f, os.R_OK | os.W_OK):
            raise StartRefused(f"cannot write the database file {f}: permission denied (it must be "
                               "readable and writable by the user running the server)")
    if st.st_size == 0:
        if allow_empty:
            log.warning("%s is empty: initialising a new database in it (--init)", path)
            return True
        raise StartRefused(
            f"the database {path} is empty (0 bytes) where a database was expected: restore it "
            "from a backup, or start once with `together-server serve --init` to create a new, "
            "empty instance in it")
    if not header.startswith(SQLITE_HEADER) or len(header) < 100:
        raise StartRefused(
            f"the database {path} is not a SQLite database (its first bytes are not the SQLite "
            f"header): it is damaged or not ours; restore a backup, or move it away to start afresh")
    return False


def check_version(conn: sqlite3.Connection, path: Path, known: dict[int, str], program_version: str) -> None:
    """Refuse a database written by a newer together-server. ``known``: migration number ->
    file name of this version."""
    newest = max(known) if known else 0
    user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    unknown: list[str] = []
    if has_table:
        for version, name in conn.execute("SELECT version, name FROM schema_migrations ORDER BY version"):
            if version not in known:
                unknown.append(f"{version:04d} {name}")
    if user_version > newest or unknown:
        theirs = f"schema version {user_version}" if user_version > newest else "schema version ?"
        if unknown:
            theirs += f", migrations this version does not have: {', '.join(unknown[:3])}"
            if len(unknown) > 3:
                theirs += f" and {len(unknown) - 3} more"
        raise StartRefused(
            f"the database {path} was written by a newer together-server ({theirs}); this is "
            f"together-server {program_version} (schema version {newest}): upgrade together-server, "
            "or restore a backup made by this version")


def quick_check(conn: sqlite3.Connection, path: Path, max_seconds: float) -> float:
    """``PRAGMA quick_check`` for at most ``max_seconds``; refuses a damaged database. Returns
    the seconds it took (logs a warning instead when the time bound cut it short)."""
    started = time.monotonic()
    deadline = started + max_seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        rows = [row[0] for row in conn.execute("PRAGMA quick_check(20)")]
    except sqlite3.OperationalError as exc:
        if "interrupt" not in str(exc):
            raise
        log.warning("quick_check of %s stopped after %.0f s (database.quick_check_max_seconds): "
                    "the file was not fully checked; run `together-server check` when convenient",
                    path, max_seconds)
        return time.monotonic() - started
    except sqlite3.DatabaseError as exc:
        raise StartRefused(f"the database {path} is damaged ({exc}): {_recover_hint()}") from None
    finally:
        conn.set_progress_handler(None, 0)
    if rows != ["ok"]:
        problems = [line.strip() for row in rows for line in str(row).splitlines()
                    if line.strip() and not line.startswith("***")] or ["not ok"]
        first = problems[0]
        more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
        raise StartRefused(f"the database {path} is damaged (quick_check: {first}{more}): {_recover_hint()}")
    return time.monotonic() - started
