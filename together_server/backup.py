"""Backups, restores and health checks of a data directory (issue 13, operator commands).

Archive format: one uncompressed tar (``.tar``) holding

* ``together.db``: a consistent snapshot made with SQLite's online backup API in ONE step
  (one read transaction: the running server keeps writing; in WAL mode nothing waits), so
  it holds exactly the transactions committed before the snapshot began;
* ``blobs/ab/cd/<sha256>``: every attachment blob the snapshot references (``attachments.sha256``
  and ``thumb_sha256``, issue 10), each checked against its name while it is copied;
* ``jwt-secret`` when the data directory has one (sessions survive a restore);
* ``manifest.json``: format, versions, counts, the database's SHA-256.

The snapshot is verified (``PRAGMA integrity_check`` and the schema version) before the
archive is written; the archive appears under its name only when complete (written as
``<name>.partial``, then renamed). :func:`restore` verifies the archive the same way before
it replaces anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

from . import __version__

FORMAT = "together-backup/1"
DB_NAME = "together.db"
SECRET_NAME = "jwt-secret"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup, restore or check that cannot go on; the message is the one line shown."""


class Progress:
    """A one-line byte progress bar on a terminal (nothing on other streams)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        frac = 1.0 if total <= 0 else min(1.0, done / total)
        filled = int(frac * 30)
        mb = done / 1e6
        rate = mb / max(time.monotonic() - self.started, 1e-6)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {frac:4.0%} {mb:,.0f} MB "
                          f"({rate:,.0f} MB/s)")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def blob_path(root: Path, sha: str) -> Path:
    """Where blob ``sha`` lives under ``root`` (``blobs/ab/cd/<sha256>``, issue 10)."""
    return root / "blobs" / sha[:2] / sha[2:4] / sha


def referenced_blobs(conn: sqlite3.Connection) -> list[str]:
    """The blob hashes the database references: attachments, thumbnails and custom emoji images
    (none before the attachments table exists)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attachments'").fetchone() is None:
        return []
    cols = {r[1] for r in conn.execute("PRAGMA table_info(attachments)")}
    parts = ["SELECT sha256 AS h FROM attachments"]
    if "thumb_sha256" in cols:
        parts.append("SELECT thumb_sha256 FROM attachments WHERE thumb_sha256 IS NOT NULL")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'custom_emojis'").fetchone():
        parts.append("SELECT sha256 FROM custom_emojis")  # custom emoji images (issue 12)
    return sorted({r[0] for r in conn.execute(" UNION ".join(parts))})


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        (v,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    except sqlite3.Error:
        return 0
    return int(v)


def integrity(conn: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check`` problems (empty = healthy)."""
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def snapshot(db_path: Path, dest: Path, progress: Callable[[int, int], None]) -> None:
    """Copy the live database at ``db_path`` to ``dest`` with the backup API in one step
    (one consistent read snapshot); ``progress(done_bytes, total_bytes)`` is fed from the
    growing destination file while the copy runs."""
    src = sqlite3.connect(str(db_path), timeout=30, check_same_thread=False)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        page_size, pages = src.execute("PRAGMA page_size").fetchone()[0], src.execute("PRAGMA page_count").fetchone()[0]
        total = page_size * pages
        dst = sqlite3.connect(str(dest), check_same_thread=False)
        done = threading.Event()
        error: list[BaseException] = []

        def copy() -> None:
            try:
                src.backup(dst, pages=-1)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                error.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=copy, name="together-backup")
        worker.start()
        while not done.wait(0.2):
            with contextlib.suppress(OSError):
                progress(dest.stat().st_size, total)
        worker.join()
        dst.close()
        if error:
            raise error[0]
        progress(total, total)
    finally:
        src.close()


def _add_file(tar: tarfile.TarFile, path: Path, name: str, *, expect_sha: str | None = None,
              progress: Callable[[int], None] | None = None) -> str:
    """Stream ``path`` into the archive as ``name``; returns its SHA-256 (checked when given)."""
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    h = hashlib.sha256()

    class Hashing(io.RawIOBase):
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def readinto(self, b: Any) -> int:
            n = self.fh.readinto(b)
            if n:
                h.update(memoryview(b)[:n])
                if progress is not None:
                    progress(n)
            return n or 0

        def readable(self) -> bool:
            return True

    with path.open("rb") as fh:
        tar.addfile(info, io.BufferedReader(Hashing(fh), CHUNK))
    digest = h.hexdigest()
    if expect_sha is not None and digest != expect_sha:
        raise BackupError(f"blob {expect_sha} is damaged (its content hashes to {digest})")
    return digest


def default_output(now: float | None = None) -> Path:
    return Path(time.strftime("together-backup-%Y%m%d-%H%M%S.tar", time.localtime(now)))


def backup(data_dir: Path, output: Path, *, stream: TextIO | None = None) -> dict[str, Any]:
    """Write a verified backup archive of ``data_dir`` to ``output``; returns the manifest.

    Works while the server runs. Raises BackupError (no database, integrity failure, a
    referenced blob missing or damaged, the output exists, disk errors) with one line."""
    db_path = data_dir / DB_NAME
    if not db_path.exists():
        raise BackupError(f"no database at {db_path}")
    if output.exists():
        raise BackupError(f"{output} exists; choose another --output")
    if not output.parent.is_dir():
        raise BackupError(f"{output.parent} is not a directory; create it first or choose another --output")
    partial = output.with_name(output.name + ".partial")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix=".together-backup-", dir=output.parent) as tmp:
        copy = Path(tmp) / DB_NAME
        bar = Progress("snapshot", stream)
        snapshot(db_path, copy, bar)
        bar.finish()
        conn = sqlite3.connect(str(copy))
        try:
            problems = integrity(conn)
            if problems:
                raise BackupError(f"the snapshot failed its integrity check: {problems[0]}")
            version = schema_version(conn)
            blobs = referenced_blobs(conn)
            (messages,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        finally:
            conn.close()
        missing = [sha for sha in blobs if not blob_path(data_dir, sha).is_file()]
        if missing:
            raise BackupError(f"{len(missing)} referenced attachment blob(s) are missing from {data_dir / 'blobs'}"
                              f" (first: {missing[0]}); run `together-server check`")
        total = copy.stat().st_size + sum(blob_path(data_dir, s).stat().st_size for s in blobs)
        bar = Progress("archive ", stream)
        written = 0

        def step(n: int) -> None:
            nonlocal written
            written += n
            bar(written, total)

        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                db_sha = _add_file(tar, copy, DB_NAME, progress=step)
                for sha in blobs:
                    rel = blob_path(Path(), sha)
                    _add_file(tar, data_dir / rel, rel.as_posix(), expect_sha=sha, progress=step)
                if (data_dir / SECRET_NAME).is_file():
                    _add_file(tar, data_dir / SECRET_NAME, SECRET_NAME)
                manifest = {
                    "format": FORMAT, "server_version": __version__, "schema_version": version,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "messages": messages, "blobs": len(blobs), "database_bytes": copy.stat().st_size,
                    "database_sha256": db_sha,
                }
                raw = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime = len(raw), int(started)
                tar.addfile(info, io.BytesIO(raw))
            bar.finish()
            with open(partial, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, output)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
    return manifest


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for m in tar:
        name = m.name
        if name.startswith("/") or ".." in Path(name).parts or not (m.isfile()):
            raise BackupError(f"the archive holds an unexpected entry {name!r}")
        yield m


def restore(archive: Path, data_dir: Path, *, force: bool, stream: TextIO | None = None) -> dict[str, Any]:
    """Restore ``archive`` into the stopped ``data_dir``; returns its manifest.

    Refuses (BackupError) when the data directory already holds a database and ``force`` is
    false, when the archive is not ours, or when its database fails the integrity check or
    its recorded hash; nothing in ``data_dir`` changes until every check passed. The caller
    holds the data directory's lock."""
    if not archive.is_file():
        raise BackupError(f"no backup archive at {archive}")
    if (data_dir / DB_NAME).exists() and not force:
        raise BackupError(f"{data_dir / DB_NAME} exists; add --force to replace it with the backup")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".together-restore-", dir=data_dir) as tmp:
        stage = Path(tmp)
        try:
            with tarfile.open(archive, "r:") as tar:
                for m in _members(tar):
                    target = stage / m.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(m)
                    assert src is not None
                    with src, target.open("wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
        except (tarfile.TarError, EOFError) as exc:
            raise BackupError(f"{archive} is not a readable backup archive: {exc}") from None
        mpath = stage / "manifest.json"
        if not mpath.is_file() or not (stage / DB_NAME).is_file():
            raise BackupError(f"{archive} is not a together-server backup (no manifest or database)")
        manifest = orjson.loads(mpath.read_bytes())
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{archive} has an unknown format {manifest.get('format')!r}")
        if _file_sha256(stage / DB_NAME) != manifest.get("database_sha256"):
            raise BackupError("the archived database does not match its recorded SHA-256 (damaged archive)")
        conn = sqlite3.connect(str(stage / DB_NAME))
        try:
            problems = integrity(conn)
            blobs = referenced_blobs(conn)
        finally:
            conn.close()
        if problems:
            raise BackupError(f"the archived database failed its integrity check: {problems[0]}")
        for sha in blobs:
            p = blob_path(stage, sha)
            if not p.is_file() or _file_sha256(p) != sha:
                raise BackupError(f"blob {sha} is missing or damaged in the archive")
        # every check passed: replace
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (data_dir / (DB_NAME + suffix)).unlink()
        os.replace(stage / DB_NAME, data_dir / DB_NAME)
        os.chmod(data_dir / DB_NAME, 0o600)
        if (stage / SECRET_NAME).is_file():
            os.replace(stage / SECRET_NAME, data_dir / SECRET_NAME)
            os.chmod(data_dir / SECRET_NAME, 0o600)
        for sha in blobs:
            dest = blob_path(data_dir, sha)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(blob_path(stage, sha), dest)
    return manifest


def check(data_dir: Path, *, known_version: int) -> tuple[bool, list[str]]:
    """Health of ``data_dir`` (the server may run): integrity, schema version, blobs
    (missing, orphaned), free disk space. Returns ``(healthy, lines)``."""
    db_path = data_dir / DB_NAME
    if not db_path.exists():
        raise BackupError(f"no database at {db_path}")
    lines: list[str] = []
    healthy = True
    conn = sqlite3.connect(str(db_path), timeout=30)
    conn.execute("PRAGMA query_only = 1")
    try:
        problems = integrity(conn)
        version = schema_version(conn)
        blobs = set(referenced_blobs(conn))
    finally:
        conn.close()
    if problems:
        healthy = False
        lines.append(f"FAIL integrity: {len(problems)} problem(s), first: {problems[0]}")
    else:
        lines.append("ok   integrity: the database passes PRAGMA integrity_check")
    if version == known_version:
        lines.append(f"ok   schema: version {version}")
    elif version < known_version:
        lines.append(f"ok   schema: version {version}; the server will migrate it to {known_version} at start")
    else:
        healthy = False
        lines.append(f"FAIL schema: version {version} is newer than this server knows ({known_version})")
    on_disk: set[str] = set()
    root = data_dir / "blobs"
    if root.is_dir():
        for path in root.glob("*/*/*"):
            if path.is_file() and len(path.name) == 64:
                on_disk.add(path.name)
    missing, orphaned = blobs - on_disk, on_disk - blobs
    if missing:
        healthy = False
        lines.append(f"FAIL blobs: {len(missing)} referenced attachment blob(s) missing (first: {min(missing)})")
    else:
        lines.append(f"ok   blobs: {len(blobs)} referenced, all present")
    if orphaned:
        lines.append(f"warn blobs: {len(orphaned)} orphaned blob(s) nothing references (safe to delete)")
    st = os.statvfs(data_dir)
    free, size = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    db_bytes = db_path.stat().st_size
    if free < max(db_bytes, 100 << 20):
        healthy = False
        lines.append(f"FAIL disk: {free / 1e6:,.0f} MB free, less than the database ({db_bytes / 1e6:,.0f} MB)"
                     " or 100 MB: a backup or VACUUM would not fit")
    else:
        lines.append(f"ok   disk: {free / 1e9:,.1f} GB free of {size / 1e9:,.1f} GB")
    return healthy, lines
