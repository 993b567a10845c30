"""Text rules of API.md §1.2: control characters, visible characters, case folding."""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

_INVISIBLE_EXTRA = {0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0}
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def _default_ignorable(cp: int) -> bool:
    # Default_Ignorable_Code_Point (DerivedCoreProperties), as ranges; unicodedata lacks it.
    return (
        cp == 0x00AD or cp == 0x034F or cp == 0x061C or 0x115F <= cp <= 0x1160
        or 0x17B4 <= cp <= 0x17B5 or 0x180B <= cp <= 0x180F or 0x200B <= cp <= 0x200F
        or 0x202A <= cp <= 0x202E or 0x2060 <= cp <= 0x206F or cp == 0x3164
        or 0xFE00 <= cp <= 0xFE0F or cp == 0xFEFF or cp == 0xFFA0 or 0xFFF0 <= cp <= 0xFFF8
        or 0x1BCA0 <= cp <= 0x1BCA3 or 0x1D173 <= cp <= 0x1D17A or 0xE0000 <= cp <= 0xE0FFF
    )


def is_visible(ch: str) -> bool:
    """A character that is not White_Space, not default-ignorable, not Cc/Cf, not a filler."""
    cp = ord(ch)
    if cp in _INVISIBLE_EXTRA or ch.isspace() or _default_ignorable(cp):
        return False
    cat = unicodedata.category(ch)
    return cat not in ("Cc", "Cf", "Zs", "Zl", "Zp", "Cs")


def has_visible(text: str) -> bool:
    """True when ``text`` holds at least one visible character (see ``is_visible``; API.md §1.2)."""
    return any(is_visible(ch) for ch in text)


# Cc other than tab, LF and CR, and lone surrogates (one C-level scan, not a Python loop).
_BAD_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_bad_control(text: str) -> bool:
    """True when ``text`` holds a Cc character other than tab, LF and CR (or a surrogate)."""
    return _BAD_CONTROL.search(text) is not None


def fold(text: str) -> str:
    """The comparison key for text compared "without regard to case": casefold of NFC."""
    return unicodedata.normalize("NFC", text).casefold()


def bad_utf8_parameter(query_string: bytes) -> str | None:
    """The name of the first query parameter whose name or value is not UTF-8 once
    percent-decoded (``q=%FF%FE``), or None. The framework decodes such bytes to U+FFFD,
    which would make ``%FF%FE`` an ordinary two-character search (issue 15 §8)."""
    for part in query_string.split(b"&"):
        if b"%" not in part and part.isascii():
            continue
        key, _, value = part.partition(b"=")
        name = urllib.parse.unquote_to_bytes(key.replace(b"+", b" ")).decode("utf-8", "replace")
        for raw in (key, value):
            try:
                urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return name if raw is value and "\ufffd" not in name else "query"
    return None
