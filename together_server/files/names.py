"""A client's file name, made safe for display and ``Content-Disposition`` (issue 10).

The name is never part of a disk path (blobs are named by their SHA-256).
"""

from __future__ import annotations

import unicodedata
import urllib.parse

MAX_NAME_BYTES = 255


def clean_filename(name: str | None, fallback: str = "file") -> str:
    """NFC, without control/format characters (Cc, Cf, Cs, Co, Zl, Zp) and path separators,
    surrounding spaces and dots removed, cut to at most 255 UTF-8 bytes on a character
    boundary (the extension kept when it is short); ``fallback`` when nothing is left."""
    text = unicodedata.normalize("NFC", name or "")
    kept = []
    for ch in text:
        if ch in ("/", "\\") or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            continue
        kept.append(ch)
    text = "".join(kept).strip().strip(".").strip()
    if not text:
        return fallback
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        keep_ext = dot and 0 < len(ext.encode("utf-8")) <= 16
        room = MAX_NAME_BYTES - (len(ext.encode("utf-8")) + 1 if keep_ext else 0)
        base = _cut(stem if keep_ext else text, room)
        text = f"{base}.{ext}" if keep_ext else base
    return text


def _cut(text: str, max_bytes: int) -> str:
    out = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return out.rstrip() or "file"


def content_disposition(kind: str, filename: str) -> str:
    """``inline`` or ``attachment`` with an ASCII ``filename`` fallback and the exact name
    as RFC 6266 / RFC 5987 ``filename*=UTF-8''...``."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%;' else "_" for ch in filename)
    quoted = urllib.parse.quote(filename, safe="")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"
