"""Width and height of a video from its container header, without decoding (issue 10:
``width``/``height`` "for images and video when known").

Only ISO base media files (MP4, QuickTime) are read: the first video track's ``tkhd``
box. Anything else, or a damaged header, gives ``None``. Reads at most a few boxes'
headers plus the ``moov`` box (bounded by :data:`MAX_MOOV_BYTES`).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

MAX_MOOV_BYTES = 16 * 1024 * 1024
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def video_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` in pixels of the first track with a non-zero size, or ``None``."""
    try:
        with open(path, "rb") as f:
            moov = _find_top(f, b"moov")
            if moov is None:
                return None
            return _tkhd_size(moov)
    except (OSError, struct.error, ValueError):
        return None


def _find_top(f: BinaryIO, name: bytes) -> bytes | None:
    f.seek(0, 2)
    end = f.tell()
    pos = 0
    for _ in range(64):  # a file has few top-level boxes
        if pos + 8 > end:
            return None
        f.seek(pos)
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        if kind == name:
            if size > MAX_MOOV_BYTES:
                return None
            return f.read(size - header)
        pos += size
    return None


def _tkhd_size(data: bytes) -> tuple[int, int] | None:
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            return None
        body = data[pos + 8:pos + size]
        if kind in _CONTAINERS:
            found = _tkhd_size(body)
            if found is not None:
                return found
        elif kind == b"tkhd" and len(body) >= 84:
            # width and height are 16.16 fixed point, the last 8 bytes of the box
            w, h = struct.unpack_from(">II", body, len(body) - 8)
            if w >> 16 and h >> 16:
                return w >> 16, h >> 16
        pos += size
    return None
