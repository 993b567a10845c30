"""Segmentation of message text for the two FTS5 tables (API.md §7.2, §7.3).

FTS5's ``unicode61`` tokenizer makes one token of every run of letters and digits. That
is wrong for us in two ways, so text is pre-processed here before it is indexed or
queried (DESIGN.md "Search"):

* a change of script is a word boundary (``重跑gen-itgc后`` holds the words ``gen`` and
  ``itgc``), so a space is inserted where the script changes inside a run;
* scripts written without spaces (Han, Hiragana, Katakana, Hangul, Thai, Lao, Khmer,
  Myanmar) are indexed one token per character (with its combining marks), so that a
  2-character word is found as a phrase of two single-character tokens.

:func:`segment` only ever *inserts* spaces (and blanks out the two highlight sentinels),
so every character of the output maps back to one character of the input or to nothing;
:func:`segment_with_map` returns that map, which the highlighter uses to put marks found
in the segmented text back on the original text.

The same function must give the same output forever for a given input: FTS5 external
content tables are deleted from by re-tokenizing the old text. If this module's rules
change, run ``together-server reindex``.
"""

from __future__ import annotations

import bisect
import sqlite3
import unicodedata

# Sentinels wrapped around matches by FTS5 highlight(). They are Unicode noncharacters;
# any occurrence in user text is blanked by segment() so a marker always comes from FTS5.
MARK_OPEN = "\ufdd0"
MARK_CLOSE = "\ufdd1"

SQL_FUNCTION = "together_segment"

NOSPACE_SCRIPTS = frozenset({"han", "hiragana", "katakana", "hangul", "thai", "lao", "khmer", "myanmar"})

# (first code point, last code point, script), sorted. Coarse blocks, enough to find
# script changes; anything unlisted is "other". Digits and other shared characters are
# "common" and never make a boundary.
_RANGES: list[tuple[int, int, str]] = sorted([
    (0x0030, 0x0039, "common"),
    (0x0041, 0x02FF, "latin"),
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0530, 0x058F, "armenian"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"),
    (0x0700, 0x074F, "syriac"),
    (0x0750, 0x077F, "arabic"),
    (0x0780, 0x07BF, "thaana"),
    (0x08A0, 0x08FF, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0980, 0x09FF, "bengali"),
    (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"),
    (0x0B00, 0x0B7F, "oriya"),
    (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"),
    (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"),
    (0x0D80, 0x0DFF, "sinhala"),
    (0x0E00, 0x0E7F, "thai"),
    (0x0E80, 0x0EFF, "lao"),
    (0x0F00, 0x0FFF, "tibetan"),
    (0x1000, 0x109F, "myanmar"),
    (0x10A0, 0x10FF, "georgian"),
    (0x1100, 0x11FF, "hangul"),
    (0x1200, 0x139F, "ethiopic"),
    (0x13A0, 0x13FF, "cherokee"),
    (0x1780, 0x17FF, "khmer"),
    (0x1800, 0x18AF, "mongolian"),
    (0x19E0, 0x19FF, "khmer"),
    (0x1C80, 0x1C8F, "cyrillic"),
    (0x1D00, 0x1DBF, "latin"),
    (0x1E00, 0x1EFF, "latin"),
    (0x1F00, 0x1FFF, "greek"),
    (0x2C60, 0x2C7F, "latin"),
    (0x2D00, 0x2D2F, "georgian"),
    (0x2DE0, 0x2DFF, "cyrillic"),
    (0x2E80, 0x2FDF, "han"),
    (0x3005, 0x3007, "han"),
    (0x3021, 0x3029, "han"),
    (0x3038, 0x303B, "han"),
    (0x3040, 0x309F, "hiragana"),
    (0x30A0, 0x30FF, "katakana"),
    (0x3100, 0x312F, "bopomofo"),
    (0x3130, 0x318F, "hangul"),
    (0x31F0, 0x31FF, "katakana"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
    (0xA640, 0xA69F, "cyrillic"),
    (0xA720, 0xA7FF, "latin"),
    (0xA960, 0xA97F, "hangul"),
    (0xA9E0, 0xA9FF, "myanmar"),
    (0xAA60, 0xAA7F, "myanmar"),
    (0xAB30, 0xAB6F, "latin"),
    (0xAC00, 0xD7FF, "hangul"),
    (0xF900, 0xFAFF, "han"),
    (0xFB1D, 0xFB4F, "hebrew"),
    (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
    (0xFF10, 0xFF19, "common"),
    (0xFF21, 0xFF3A, "latin"),
    (0xFF41, 0xFF5A, "latin"),
    (0xFF66, 0xFF9F, "katakana"),
    (0xFFA0, 0xFFDC, "hangul"),
    (0x1B000, 0x1B16F, "hiragana"),
    (0x20000, 0x3134F, "han"),
])
_STARTS = [r[0] for r in _RANGES]


def script_of(ch: str) -> str:
    """The coarse script name of one character (``"latin"``, ``"han"``, ``"other"``...)."""
    cp = ord(ch)
    i = bisect.bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _RANGES[i][1]:
        return _RANGES[i][2]
    return "other"


def char_kind(ch: str) -> str:
    """``"word"`` (letter, digit, private use), ``"mark"`` (combining) or ``"sep"``.

    Mirrors unicode61's token characters (``L* N* Co``); combining marks stay with the
    character before them (unicode61 drops them, which is also what we want).
    """
    if ch in (MARK_OPEN, MARK_CLOSE):
        return "sep"
    cat = unicodedata.category(ch)
    first = cat[0]
    if first in "LN" or cat == "Co":
        return "word"
    if first == "M":
        return "mark"
    return "sep"


_CLASS_CACHE: dict[str, tuple[str, str]] = {}
_LAST: tuple[str, str] = ("", "")


def _classify(ch: str) -> tuple[str, str]:
    # Memoized (kind, script): the per-character work dominates indexing time.
    found = _CLASS_CACHE.get(ch)
    if found is None:
        found = (char_kind(ch), script_of(ch))
        if len(_CLASS_CACHE) < 200_000:
            _CLASS_CACHE[ch] = found
    return found


def segment_with_map(text: str) -> tuple[str, list[int]]:
    """``(segmented, origin)``: ``origin[i]`` is the index in ``text`` of ``segmented[i]``,
    or ``-1`` for an inserted space. See the module docstring for the rules."""
    if text.isascii():
        # Fast path: ASCII holds only Latin letters and shared digits, so nothing changes.
        return text, list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    word_script = ""  # script of the current run of word characters; "" outside a run
    for i, ch in enumerate(text):
        kind, script = _classify(ch)
        if kind == "sep":
            word_script = ""
            out.append(" " if ch in (MARK_OPEN, MARK_CLOSE) else ch)
            origin.append(i)
            continue
        if kind == "word":
            if word_script:
                if (
                    script in NOSPACE_SCRIPTS
                    or word_script in NOSPACE_SCRIPTS
                    or (script != "common" and word_script != "common" and script != word_script)
                ):
                    out.append(" ")
                    origin.append(-1)
                    word_script = script
                elif word_script == "common":
                    word_script = script
            else:
                word_script = script
        elif not word_script:
            word_script = "common"  # a stray mark starts a run of its own kind
        out.append(ch)
        origin.append(i)
    return "".join(out), origin


def segment(text: str) -> str:
    """The text as indexed by both FTS5 tables (spaces inserted, sentinels blanked)."""
    if text is None:  # SQL NULL
        return ""
    global _LAST
    if text.isascii():
        return text
    last = _LAST  # each trigger segments the same text twice, once per table
    if last[0] == text:
        return last[1]
    result = segment_with_map(text)[0]
    _LAST = (text, result)  # one tuple store: safe across threads
    return result


def split_words(text: str) -> list[tuple[str, bool]]:
    """The tokens FTS5 will see in ``segment(text)``, in order, as ``[(token, nospace)]``.

    A token is a run of word characters (with their combining marks); ``nospace`` is true
    for a single character of a no-space script. Runs made only of marks are dropped.
    """
    units: list[tuple[str, bool]] = []
    cur: list[str] = []
    for ch in segment(text) + " ":
        if ch == " " or char_kind(ch) == "sep":
            if cur and any(char_kind(c) == "word" for c in cur):
                unit = "".join(cur)
                units.append((unit, script_of(_first_word_char(unit)) in NOSPACE_SCRIPTS))
            cur = []
        else:
            cur.append(ch)
    return units


def _first_word_char(unit: str) -> str:
    return next(c for c in unit if char_kind(c) == "word")


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """Register ``together_segment(text) -> text`` (deterministic) on ``conn``.

    Must be called on every connection that writes ``messages`` (the FTS triggers call
    it) or reads highlights (the FTS content view calls it), before migrations run.
    """
    conn.create_function(SQL_FUNCTION, 1, segment, deterministic=True)
