"""Parsing of the search query ``q`` (API.md §7.2) into FTS5 MATCH expressions and filters.

User text never reaches FTS5 as syntax: every term becomes a double-quoted FTS5 string
(inner ``"`` doubled, though our words never contain one) built from the words of
:func:`~together_server.search.segment.split_words`; the only FTS5 syntax we emit is
``AND`` between terms and ``*`` after a quoted prefix.

Token rules, in the order they are tried (a token is a run without whitespace outside
double quotes; quoted and unquoted parts of one token are its *segments*):

* ``key:value`` with ``key`` one of from/in/before/after/has (any case): a filter. The
  value is the rest of the token with quotes removed (``in:"two words"``).
* a quoted segment: a phrase (its words next to each other, in order).
* an unquoted segment: ordinary text. It is cut at ``:`` (so ``content:secret`` and
  ``{content}:see`` are two terms); the words of each piece form a phrase
  (``multi-agent`` = "multi agent", ``v2.0`` = "v2 0"). A piece holding characters of a
  no-space script is searched unstemmed in ``messages_fts_raw``; other pieces with
  stemming in ``messages_fts``.
* ``pref*`` (``*`` ending a bare token, right after a word of ≥ 2 characters): a prefix
  term, unstemmed, in ``messages_fts_raw``.

Every way ``q`` can be malformed raises :class:`QueryError` (→ 400 ``invalid_query``).
The length of ``q`` (2–200) is the caller's check.
"""

from __future__ import annotations

import datetime
import re

import attrs

from .segment import char_kind, split_words

FILTER_KEYS = ("from", "in", "before", "after", "has")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MIN_PREFIX_CHARS = 2


class QueryError(ValueError):
    """``q`` is malformed; ``str(error)`` is the reason for ``errors.q``."""


@attrs.frozen
class SearchQuery:
    """A parsed ``q``.

    ``words_match`` / ``raw_match``: FTS5 MATCH expressions for ``messages_fts`` (stemmed)
    and ``messages_fts_raw`` (unstemmed), or ``None`` when there is no term for that
    table. ``from_username`` / ``in_channel``: the raw filter values (the engine folds
    them). ``before_date`` / ``after_date``: UTC days, both exclusive. ``has_link``: the
    ``has:link`` filter.
    """

    words_match: str | None = None
    raw_match: str | None = None
    from_username: str | None = None
    in_channel: str | None = None
    before_date: datetime.date | None = None
    after_date: datetime.date | None = None
    has_link: bool = False
    has_kind: str | None = None  # "file" | "image" | "video" (issue 10)

    @property
    def has_terms(self) -> bool:
        """True when some word term must match (then hits have a rank and marks)."""
        return self.words_match is not None or self.raw_match is not None


def parse_query(q: str) -> SearchQuery:
    """Parse ``q`` (API.md §7.2). Raises :class:`QueryError` when it is malformed."""
    words_terms: list[str] = []
    raw_terms: list[str] = []
    filters: dict[str, str] = {}
    for segments in _tokenize(q):
        first_quoted, first_text = segments[0]
        key, sep, rest = first_text.partition(":")
        if not first_quoted and sep and key.lower() in FILTER_KEYS:
            key = key.lower()
            if key in filters:
                raise QueryError(f"the filter {key}: is used more than once")
            value = rest + "".join(text for _, text in segments[1:])
            if "*" in value:
                raise QueryError("* may only end a word")
            if not value:
                raise QueryError(f"the filter {key}: needs a value")
            filters[key] = value
            continue
        _text_token(segments, words_terms, raw_terms)
    query = SearchQuery(
        words_match=" AND ".join(words_terms) or None,
        raw_match=" AND ".join(raw_terms) or None,
        from_username=filters.get("from"),
        in_channel=filters.get("in"),
        before_date=_date(filters, "before"),
        after_date=_date(filters, "after"),
        has_link=_has(filters) == "link",
        has_kind=None if _has(filters) in (None, "link") else _has(filters),
    )
    if not query.has_terms and not filters:
        raise QueryError("the query has no word to search for")
    return query


def _tokenize(q: str) -> list[list[tuple[bool, str]]]:
    """Tokens as lists of ``(quoted, text)`` segments. Raises on an unmatched quote."""
    tokens: list[list[tuple[bool, str]]] = []
    segments: list[tuple[bool, str]] = []
    buf: list[str] = []
    quoted = False
    for ch in q + " ":
        if ch == '"':
            if buf or quoted:
                segments.append((quoted, "".join(buf)))
            buf = []
            quoted = not quoted
        elif ch.isspace() and not quoted:
            if buf:
                segments.append((False, "".join(buf)))
                buf = []
            if segments:
                tokens.append(segments)
                segments = []
        else:
            buf.append(ch)
    if quoted:
        raise QueryError('a " has no closing "')
    return tokens


def _text_token(segments: list[tuple[bool, str]], words_terms: list[str], raw_terms: list[str]) -> None:
    last = len(segments) - 1
    for i, (quoted, text) in enumerate(segments):
        if quoted:
            if "*" in text:
                raise QueryError("* may only end a word, not a phrase")
            words = split_words(text)
            if not words:
                raise QueryError("a phrase in quotes has no word in it")
            _add_phrase(words, False, words_terms, raw_terms)
            continue
        prefix = i == last and text.endswith("*")
        body = text[:-1] if prefix else text
        if "*" in body:
            raise QueryError("* may only end a word")
        pieces = body.split(":")
        for j, piece in enumerate(pieces):
            is_prefix = prefix and j == len(pieces) - 1
            words = split_words(piece)
            if is_prefix:
                _check_prefix(piece, words)
            if words:
                _add_phrase(words, is_prefix, words_terms, raw_terms)


def _check_prefix(piece: str, words: list[tuple[str, bool]]) -> None:
    # The characters the prefix applies to: the last word, or the trailing run of
    # no-space characters (東京* is a 2-character prefix). "ab-*" has no word before "*".
    count = 0
    if piece and words and char_kind(piece[-1]) != "sep":
        for word, nospace in reversed(words):
            if not nospace:
                count = count or sum(char_kind(c) == "word" for c in word)
                break
            count += 1
    if count < MIN_PREFIX_CHARS:
        raise QueryError("* must follow a word of at least 2 characters")


def _add_phrase(
    words: list[tuple[str, bool]], prefix: bool, words_terms: list[str], raw_terms: list[str]
) -> None:
    text = " ".join(word for word, _ in words).replace('"', '""')
    raw = prefix or any(nospace for _, nospace in words)
    if raw:
        raw_terms.append(f'"{text}"' + ("*" if prefix else ""))
    else:
        words_terms.append(f'"{text}"')


def _date(filters: dict[str, str], key: str) -> datetime.date | None:
    value = filters.get(key)
    if value is None:
        return None
    if not _DATE_RE.fullmatch(value):
        raise QueryError(f"{key}: needs a date as YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{key}: {value} is not a real day") from None


HAS_VALUES = ("link", "file", "image", "video")


def _has(filters: dict[str, str]) -> str | None:
    value = filters.get("has")
    if value is None:
        return None
    if value.lower() not in HAS_VALUES:
        raise QueryError("has: accepts link, file, image or video")
    return value.lower()


__all__ = ["QueryError", "SearchQuery", "parse_query"]
