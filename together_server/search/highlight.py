"""The ``highlight`` field of a search hit (API.md §7.4).

FTS5 ``highlight()`` wraps matches in the sentinels ``MARK_OPEN``/``MARK_CLOSE`` inside
the *segmented* text (search/segment.py). We read the marked spans out of that, map them
back onto the original content through the segmentation map, stretch them over trailing
combining marks (unicode61 drops those, so ``नमस्ते`` is matched as ``नमस`` + ``त``), cut an
excerpt if the message is long, HTML-escape the text and only then write ``<mark>`` tags.
Because the tags are added after escaping, no user text can produce markup.
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Iterable

from .segment import (
    MARK_CLOSE,
    MARK_OPEN,
    NOSPACE_SCRIPTS,
    char_kind,
    script_of,
    segment_with_map,
)

EXCERPT_WORDS = 35  # "longer than about 35 words" (§7.4)
WORDS_BEFORE_MATCH = 8  # words of context kept before the first match
EXCERPT_MAX_CHARS = 400  # also cap excerpts of text with few, very long words
ELLIPSIS = "…"


def marked_positions(content: str, marked_texts: Iterable[str | None]) -> list[bool]:
    """Which characters of ``content`` are inside a match.

    ``marked_texts``: outputs of FTS5 ``highlight(table, 0, MARK_OPEN, MARK_CLOSE)`` for
    this row (``None`` for a table that took no part). An output that does not fit the
    content (it changed underneath) is ignored rather than trusted.
    """
    seg, origin = segment_with_map(content)
    flags = [False] * len(content)
    for marked in marked_texts:
        if not marked:
            continue
        spans: list[tuple[int, int]] = []
        pos = 0
        start = -1
        for ch in marked:
            if ch == MARK_OPEN:
                start = pos
            elif ch == MARK_CLOSE:
                if start >= 0:
                    spans.append((start, pos))
                start = -1
            else:
                pos += 1
        if pos != len(seg):
            continue
        for a, b in spans:
            for i in range(a, b):
                if origin[i] >= 0:
                    flags[origin[i]] = True
    # Stretch each match over the combining marks that follow it.
    for i in range(1, len(content)):
        if flags[i - 1] and not flags[i] and char_kind(content[i]) == "mark":
            flags[i] = True
    return flags


def build_highlight(content: str, marked_texts: Iterable[str | None]) -> str:
    """The §7.4 ``highlight`` HTML for ``content``: escaped text, matches in ``<mark>``,
    cut to an excerpt around the first match (with ``…``) when the message is long."""
    flags = marked_positions(content, marked_texts)
    start, end = excerpt_bounds(content, flags)
    out: list[str] = [ELLIPSIS] if start > 0 else []
    i = start
    while i < end:
        j = i
        while j < end and flags[j] == flags[i]:
            j += 1
        piece = html.escape(content[i:j], quote=True)
        out.append(f"<mark>{piece}</mark>" if flags[i] else piece)
        i = j
    if end < len(content):
        out.append(ELLIPSIS)
    return "".join(out)


def excerpt_bounds(content: str, flags: list[bool]) -> tuple[int, int]:
    """``(start, end)`` character offsets of the excerpt to show (the whole text if short).

    Words are runs between whitespace, except that each character of a no-space script
    counts as a word. The window holds :data:`EXCERPT_WORDS` words and starts a few words
    before the first match; ends are trimmed of whitespace.
    """
    starts = _word_starts(content)
    n = len(starts)
    if n <= EXCERPT_WORDS and len(content) <= EXCERPT_MAX_CHARS:
        return 0, len(content)
    first = next((i for i, f in enumerate(flags) if f), 0)
    unit = max(0, bisect.bisect_right(starts, first) - 1)
    lo = max(0, unit - WORDS_BEFORE_MATCH)
    hi = min(n, lo + EXCERPT_WORDS)
    lo = max(0, hi - EXCERPT_WORDS)
    start = starts[lo] if n else 0
    end = starts[hi] if hi < n else len(content)
    if end - start > EXCERPT_MAX_CHARS:
        # Few but huge words: fall back to a character window around the first match.
        start = max(start, min(first - EXCERPT_MAX_CHARS // 4, end - EXCERPT_MAX_CHARS))
        end = min(end, start + EXCERPT_MAX_CHARS)
        # Never cut a character from its combining marks.
        while start > 0 and char_kind(content[start]) == "mark":
            start -= 1
        while end < len(content) and char_kind(content[end]) == "mark":
            end += 1
    while start < end and content[start].isspace():
        start += 1
    while end > start and content[end - 1].isspace():
        end -= 1
    return start, end


def _word_starts(content: str) -> list[int]:
    starts: list[int] = []
    prev_space = True
    prev_nospace = False
    for i, ch in enumerate(content):
        if ch.isspace():
            prev_space, prev_nospace = True, False
            continue
        kind = char_kind(ch)
        nospace = kind == "word" and script_of(ch) in NOSPACE_SCRIPTS
        if prev_space or (kind != "mark" and (nospace or prev_nospace)):
            starts.append(i)
        prev_space = False
        if kind != "mark":
            prev_nospace = nospace
    return starts

