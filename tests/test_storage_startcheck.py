"""Damaged or unexpected files at start (issue 15 §5): `together-server serve` as a real
process refuses with exit status 1 and ONE line naming the file, never a traceback.

Permission cases run the server without privileges: as root (the test machines) through
``setpriv`` with every capability dropped, so file modes apply to it as to any user.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_core_cli import FAST_ARGON, serving

from together_server import __version__
from together_server.storage import startcheck
from together_server.storage.db import apply_migrations, migration_files

NEWEST = max(v for v, _n, _s in migration_files())


def conf(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "t.toml"
    path.write_text(f'[server]\nport = 0\ndata_dir = "{tmp_path / "data"}"\n' + FAST_ARGON + extra,
                    encoding="utf-8")
    return path


def unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.fail("running as root: these tests need setpriv (util-linux) to drop capabilities")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]


def refused(tmp_path: Path, *args: str, wrap: list[str] | None = None, extra: str = "") -> str:
    """Run serve; it must exit 1 with exactly one stderr line; returns that line."""
    cmd = [*(wrap or []), sys.executable, "-m", "together_server", "serve", "--config", str(conf(tmp_path, extra)),
           *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("together-server: ")
    return lines[0]


def make_db(tmp_path: Path, rows: int = 0) -> Path:
    """A database with this version's schema (and ``rows`` filler rows in their own table),
    checkpointed into the main file (rollback journal), as a stopped server leaves it."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    path = data / "together.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    apply_migrations(conn)
    if rows:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("CREATE INDEX filler_body ON filler (body)")
        rng = random.Random(15)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO filler (body) VALUES (?)",
                         [("".join(rng.choice("abcdefgh ") for _ in range(400)),) for _ in range(rows)])
        conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return path


def test_damaged_pages_refuse_to_start(tmp_path: Path) -> None:
    path = make_db(tmp_path, rows=3000)
    size = path.stat().st_size
    pages = size // 4096
    with open(path, "r+b") as fh:  # garbage over a few pages in the middle (page 1 intact)
        rng = random.Random(5)
        for page in (pages // 2, pages // 2 + 1, pages - 3):
            fh.seek(page * 4096)
            fh.write(rng.randbytes(4096))
    line = refused(tmp_path)
    assert f"the database {path} is damaged (quick_check: " in line
    assert "together-server check" in line and "together-server restore" in line
    # the admin can still choose to start it (e.g. to export what is readable)
    assert "--skip-quick-check" in subprocess.run(
        [sys.executable, "-m", "together_server", "serve", "--help"], capture_output=True, text=True).stdout


def test_random_header_is_not_a_database(tmp_path: Path) -> None:
    path = make_db(tmp_path)
    with open(path, "r+b") as fh:
        fh.write(random.Random(1).randbytes(100))
    line = refused(tmp_path)
    assert line == (f"together-server: the database {path} is not a SQLite database (its first bytes are "
                    "not the SQLite header): it is damaged or not ours; restore a backup, or move it away "
                    "to start afresh")


def test_newer_user_version_names_both_versions(tmp_path: Path) -> None:
    path = make_db(tmp_path)
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA user_version = 9999")
    conn.close()
    line = refused(tmp_path)
    assert f"the database {path} was written by a newer together-server (schema version 9999)" in line
    assert f"this is together-server {__version__} (schema version {NEWEST})" in line
    # reindex (which migrates too) refuses it the same way
    proc = subprocess.run([sys.executable, "-m", "together_server", "reindex", "--config", str(conf(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [line], proc.stderr


def test_unknown_migration_row_names_it(tmp_path: Path) -> None:
    path = make_db(tmp_path)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                 "(42, '0042_from_the_future.sql', '2030-01-01T00:00:00.000Z')")
    conn.close()
    line = refused(tmp_path)
    assert "migrations this version does not have: 0042 0042_from_the_future.sql" in line
    assert f"together-server {__version__} (schema version {NEWEST})" in line


def test_empty_database_refused_unless_init(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "together.db").write_bytes(b"")
    line = refused(tmp_path)
    assert line == (f"together-server: the database {data / 'together.db'} is empty (0 bytes) where a "
                    "database was expected: restore it from a backup, or start once with `together-server "
                    "serve --init` to create a new, empty instance in it")
    with serving(["--config", str(conf(tmp_path)), "--init"]) as proc:
        url = proc.url()
        r = httpx.post(f"{url}/auth/register", json={"username": "alice", "password": "correct horse"})
        assert r.status_code == 201
        assert proc.stop(signal.SIGTERM) == 0
    assert (data / "together.db").stat().st_size > 0
    # an existing database is untouched by --init
    with serving(["--config", str(conf(tmp_path)), "--init"]) as proc:
        url = proc.url()
        r = httpx.post(f"{url}/auth/login", json={"username": "alice", "password": "correct horse"})
        assert r.status_code == 200
        assert proc.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("case", ["db_unreadable", "db_read_only", "wal_read_only", "data_dir_read_only",
                                  "secret_unreadable", "lock_unwritable"])
def test_file_and_permission_errors_are_one_line(tmp_path: Path, case: str) -> None:
    data = tmp_path / "data"
    # a first, privileged start creates everything (database, WAL, secret, lock file)
    with serving(["--config", str(conf(tmp_path))]) as proc:
        proc.url()
        assert proc.stop(signal.SIGTERM) == 0
    db = data / "together.db"
    wal = data / "together.db-wal"
    if case == "wal_read_only":
        wal.write_bytes(b"")
    target, mode, expected = {
        "db_unreadable": (db, 0o000, f"cannot read the database {db}: Permission denied"),
        "db_read_only": (db, 0o400, f"cannot write the database file {db}: permission denied"),
        "wal_read_only": (wal, 0o400, f"cannot write the database file {wal}: permission denied"),
        "data_dir_read_only": (data, 0o500, f"cannot write in the data directory {data}: permission denied"),
        "lock_unwritable": (data / "together.lock", 0o400,
                            f"cannot open the lock file {data / 'together.lock'}: Permission denied"),
        "secret_unreadable": (data / "jwt-secret", 0o000,
                              f"cannot read or create the JWT secret {data / 'jwt-secret'}: Permission denied"),
    }[case]
    os.chmod(target, mode)
    try:
        line = refused(tmp_path, wrap=unprivileged())
    finally:
        os.chmod(target, 0o700 if target.is_dir() else 0o600)
    assert expected in line, line


def test_quick_check_is_bounded_in_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A check cut short by quick_check_max_seconds warns and lets the start go on."""
    path = make_db(tmp_path, rows=3000)
    conn = sqlite3.connect(str(path))
    try:
        took = startcheck.quick_check(conn, path, max_seconds=0.0)
        assert took < 1.0
        assert "quick_check of" in caplog.text and "stopped after" in caplog.text
        assert startcheck.quick_check(conn, path, max_seconds=60.0) < 60  # the whole check: ok
    finally:
        conn.close()
