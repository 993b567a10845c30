"""Content-addressed, durable file bytes in the data directory (issue 10, DESIGN.md seam
"blobs: put/get/delete by hash").

Layout: ``<data_dir>/blobs/ab/cd/<sha256>`` (the first two byte pairs of the hex digest
as folders), and ``<data_dir>/blobs/tmp/`` for uploads in progress (same filesystem, so a
rename is atomic). An upload is written to a temp file while being hashed, fsynced, and
renamed into place only by the write job that commits its row (:meth:`BlobStore.commit`),
so a crash at any point leaves a complete blob or none, and an unreferenced complete blob
is removed by the purge. One blob serves every identical upload.

Every method is synchronous file I/O: call it from a worker thread or the writer thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("together_server.blobs")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    """The blob folder under ``root`` (created 0700 on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def prepare(self) -> int:
        """Create the folders and remove every temp file left by an earlier run (an upload
        cut by a crash or kill). Returns how many were removed. Call once at start."""
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        removed = 0
        for entry in self.tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
        if removed:
            log.info("removed %d unfinished upload file(s) from %s", removed, self.tmp)
        return removed

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` (64 lowercase hex) lives (it may not exist)."""
        if not _HEX.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open_temp(self) -> tuple[BinaryIO, Path]:
        """A new temp file for an upload: ``(binary file open for writing, its path)``."""
        fd, name = tempfile.mkstemp(prefix="up-", dir=self.tmp)
        return os.fdopen(fd, "wb"), Path(name)

    def commit(self, temp: Path, sha256: str) -> bool:
        """Move the fsynced ``temp`` into place as blob ``sha256``; if that blob exists
        already, drop ``temp`` (dedup). The folder entry is fsynced. Returns True when a
        new blob was created. Called inside the write job that inserts the row."""
        final = self.path(sha256)
        if final.is_file():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            return False
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(temp, final)
        _fsync_dir(final.parent)
        return True

    def delete(self, sha256: str) -> bool:
        """Remove blob ``sha256``; False when it was not there."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def discard(self, *temps: Path | None) -> None:
        """Remove temp files of a refused or failed upload (missing ones are fine)."""
        for t in temps:
            if t is not None:
                with contextlib.suppress(FileNotFoundError):
                    t.unlink()

    def free_bytes(self) -> int:
        """Free bytes on the filesystem holding the blobs (for unprivileged users)."""
        st = os.statvfs(self.root if self.root.exists() else self.root.parent)
        return st.f_bavail * st.f_frsize

    def all_hashes(self) -> list[str]:
        """Every complete blob on disk (for the start-up orphan check)."""
        out = []
        for first in self.root.iterdir() if self.root.exists() else ():
            if first.name == "tmp" or not first.is_dir():
                continue
            for second in first.iterdir():
                out.extend(p.name for p in second.iterdir() if _HEX.match(p.name))
        return out


def hash_file(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of the file at ``path``."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
