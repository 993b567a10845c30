"""Real files for the attachment tests, made in memory (no binary fixtures in the repo)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png(w: int = 64, h: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg_with_gps(w: int = 800, h: int = 600, orientation: int = 6) -> bytes:
    """A JPEG whose EXIF holds GPS coordinates, a camera model and an orientation."""
    im = Image.new("RGB", (w, h), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0110] = "SpyCam 3000"  # Model
    exif[0x0112] = orientation
    gps = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    return buf.getvalue()


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mp4(width: int = 1280, height: int = 720) -> bytes:
    """An MP4 header (ftyp + moov with one track header) and a little mdat."""
    ftyp = _box(b"ftyp", b"isom" + b"\x00\x00\x02\x00" + b"isomiso2avc1mp41")
    tkhd = b"\x00\x00\x00\x03" + b"\x00" * 76 + struct.pack(">II", width << 16, height << 16)
    trak = _box(b"trak", _box(b"tkhd", tkhd))
    moov = _box(b"moov", _box(b"mvhd", b"\x00" * 100) + trak)
    return ftyp + moov + _box(b"mdat", b"\x00" * 1024)


def pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def png_bomb(w: int = 10_000, h: int = 10_000) -> bytes:
    """A tiny PNG whose header claims w x h pixels (100 megapixels by default)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((w + 7) // 8)
    idat = zlib.compress(row * 16, 9)  # a few rows are enough: the header is what we refuse
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
TEXT = "Carte pour ce soir : salle B, 20 h — apportez vos câbles 🎮\n".encode()
