"""The type of a file from its first bytes (magic numbers), never from its name or the
client's Content-Type (issue 10 "Storage and safety").

:func:`sniff` returns a MIME type or ``None`` (unknown binary). Markup (HTML, SVG, XML) is
reported as such so callers can refuse it or store it as plain text; it is never a type
that a browser would render from our answers.
"""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 8192

# (offset, magic, mime), first match wins; containers with sub-types are handled below.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (257, b"ustar", "application/x-tar"),
)
# ISO base media (MP4, QuickTime, AVIF, HEIC, M4A): the major brand at bytes 8-12.
_BRANDS = {
    b"avif": "image/avif", b"avis": "image/avif", b"heic": "image/heic", b"heix": "image/heic",
    b"mif1": "image/heif", b"msf1": "image/heif", b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4", b"M4B ": "audio/mp4", b"F4A ": "audio/mp4",
}
_MARKUP = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<svg", b"<?xml",
           b"<!--", b"<style", b"<object", b"<embed", b"<meta", b"<a ", b"<img", b"<div", b"<table")
# Control characters that plain text does not hold (tab, LF, FF, CR and ESC are allowed).
_BINARY_CONTROLS = frozenset(set(range(0, 9)) | {11} | set(range(14, 27)) | set(range(28, 32)) | {127})


def sniff_bytes(head: bytes) -> str | None:
    """The MIME type of a file starting with ``head`` (pass at least the first 8 KiB)."""
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return _BRANDS.get(head[8:12], "video/mp4")
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12])
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM or Matroska, told by the DocType
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    for offset, magic, mime in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return mime
    if len(head) >= 2 and head[0] == 0xFF and head[1] in (0xFB, 0xF3, 0xF2, 0xE3, 0xFA):
        return "audio/mpeg"  # an MPEG audio frame without an ID3 tag
    return _sniff_text(head)


def _sniff_text(head: bytes) -> str | None:
    """``text/plain`` for UTF-8 (or UTF-16 with a BOM) text, the markup type for markup."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = head[:len(head) - len(head) % 2].decode("utf-16")
        except UnicodeDecodeError:
            return None
        body = text.encode("utf-8", "surrogatepass")
    else:
        body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            # a multi-byte character cut by the end of the head is still text
            if exc.start < len(body) - 3 or len(head) < HEAD_BYTES:
                return None
    if any(b in _BINARY_CONTROLS for b in body):
        return None
    start = body.lstrip().lower()
    if start.startswith(_MARKUP) or b"<script" in body.lower() or b"<html" in body.lower():
        if start.startswith(b"<svg") or b"<svg" in start[:512]:
            return "image/svg+xml"
        return "text/xml" if start.startswith(b"<?xml") and b"<html" not in start[:512] else "text/html"
    return "text/plain"


def sniff(path: str | Path) -> str | None:
    """The MIME type of the file at ``path`` from its first 8 KiB, or ``None`` when unknown.

    Raises ``OSError`` when the file cannot be read. An empty file is ``None``.
    """
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    return sniff_bytes(head) if head else None


#: Markup that is stored and served as plain text (never rendered): see api/attachments.
MARKUP_TYPES = frozenset({"text/html", "image/svg+xml", "text/xml"})
