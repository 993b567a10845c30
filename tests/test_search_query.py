"""The search query parser (API.md §7.2): every token kind and every invalid_query case."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_server.search.query import QueryError, SearchQuery, parse_query
from together_server.search.segment import segment, segment_with_map, split_words


def test_bare_word_goes_to_the_stemmed_table() -> None:
    q = parse_query("running")
    assert q == SearchQuery(words_match='"running"')
    assert q.has_terms


@pytest.mark.parametrize(
    ("q", "words"),
    [
        ("multi-agent", '"multi agent"'),
        ("v2.0", '"v2 0"'),
        ("38.101", '"38 101"'),
        ("-leading", '"leading"'),
        ("don't", '"don t"'),
        ("content:secret", '"content" AND "secret"'),
        ("{content}:see", '"content" AND "see"'),
        ("grammar::fa", '"grammar" AND "fa"'),
        ("http://x.org", '"http" AND "x org"'),
        ('"quoted"', '"quoted"'),
        ('"two words"', '"two words"'),
        ("alpha beta", '"alpha" AND "beta"'),
        ("NEAR(a b) AND OR NOT ^x +y", '"NEAR a" AND "b" AND "AND" AND "OR" AND "NOT" AND "x" AND "y"'),
        ('foo"bar baz"', '"foo" AND "bar baz"'),
        ("café", '"café"'),
    ],
)
def test_text_tokens(q: str, words: str) -> None:
    assert parse_query(q).words_match == words
    assert parse_query(q).raw_match is None


@pytest.mark.parametrize(
    ("q", "raw"),
    [
        ("静默", '"静 默"'),
        ("東京タワー", '"東 京 タ ワ ー"'),
        ("하세", '"하 세"'),
        ("สวัสดี", '"ส วั ส ดี"'),
        ("重跑gen-itgc后", '"重 跑 gen itgc 后"'),
        ("generat*", '"generat"*'),
        ("runn*", '"runn"*'),
        ("東京*", '"東 京"*'),
        ("multi-ag*", '"multi ag"*'),
    ],
)
def test_raw_table_tokens(q: str, raw: str) -> None:
    assert parse_query(q).raw_match == raw


def test_mixed_terms_split_by_table() -> None:
    q = parse_query("静默 running gen*")
    assert q.words_match == '"running"'
    assert q.raw_match == '"静 默" AND "gen"*'


def test_filters() -> None:
    q = parse_query('FROM:Alice In:"my chan" before:2026-03-14 after:2026-01-01 Has:LINK word')
    assert q.from_username == "Alice"
    assert q.in_channel == "my chan"
    assert q.before_date == datetime.date(2026, 3, 14)
    assert q.after_date == datetime.date(2026, 1, 1)
    assert q.has_link
    assert q.words_match == '"word"'


def test_filter_only_query_is_allowed() -> None:
    q = parse_query("from:alice has:link")
    assert not q.has_terms
    assert q.from_username == "alice" and q.has_link


def test_unknown_key_is_text() -> None:
    assert parse_query("author_id:anything").words_match == '"author id" AND "anything"'
    assert parse_query("channel_id:0190f5c0-aaaa").words_match == '"channel id" AND "0190f5c0 aaaa"'


def test_filter_value_keeps_colons() -> None:
    assert parse_query("in:a:b").in_channel == "a:b"


@pytest.mark.parametrize(
    "q",
    [
        '"unterminated',
        'foo"bar',
        'a "b" c"',
        '""',
        '"!!"',
        '"  "',
        "from:",
        'from:""',
        "in:",
        "has:",
        "has:pic",
        "has:links",
        "before:2026-02-30",
        "before:2026-2-3",
        "after:26-01-01",
        "after:yesterday",
        "before:２０２６-０１-０１",
        "before:0000-01-01",
        "from:a from:b",
        "in:x IN:y",
        "has:link has:link",
        "a*b",
        "*ab",
        "ab**",
        "a*",
        "*",
        "東*",
        "ab-*",
        '"ab*"',
        "in:ab*",
        "?!",
        "!! ??",
        "'''",
        "-- ^^",
    ],
)
def test_invalid_queries(q: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(q)
    assert str(info.value)


def test_quote_count_does_not_decide() -> None:
    # F02: the answer never depends on how many quotes there are, only on where.
    assert parse_query('"a" "b"').words_match == '"a" AND "b"'
    with pytest.raises(QueryError):
        parse_query('"a" "b')


def test_segmentation_script_changes() -> None:
    assert segment("重跑gen-itgc后") == "重 跑 gen-itgc 后"
    assert segment("plain ascii stays") == "plain ascii stays"
    assert segment("abcжd") == "abc ж d"
    assert segment("v2 2я") == "v2 2я"
    text, origin = segment_with_map("東京x")
    assert text == "東 京 x" and origin == [0, -1, 1, -1, 2]
    assert split_words("สวัสดี") == [("ส", True), ("วั", True), ("ส", True), ("ดี", True)]


def test_sentinels_in_text_are_blanked() -> None:
    assert segment("a\ufdd0b\ufdd1c") == "a b c"


_FTS_CHARS = list('"*:-^+()NEARANDORNOT{}[],.\'’`~!@#$%&=|\\/?<>;_') + [
    " ", "\t", "\u3000", "😀", "👍", "\U0001F3FD", "静", "默", "ส", "ั", "\u0301", "é", "ж", "ש", "ف", "\ufdd0", "\ufdd1", "\ue000",
]
_query_text = st.one_of(
    st.text(min_size=1, max_size=200),
    st.lists(st.sampled_from(_FTS_CHARS + list("abc xyz")), min_size=1, max_size=200).map("".join),
    st.lists(
        st.sampled_from(["from:", "in:", "has:", "before:", "after:", "AND", "OR", "NOT", "NEAR", '"', "*", "-", "^",
                         "ab", "2026-01-01", "link", " ", ":", "東京", "x*", "y"]),
        min_size=1, max_size=30,
    ).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(_query_text)
def test_parse_raises_only_query_error(q: str) -> None:
    try:
        parsed = parse_query(q)
    except QueryError as exc:
        assert str(exc)
        return
    assert parsed.has_terms or any(
        v is not None and v is not False
        for v in (parsed.from_username, parsed.in_channel, parsed.before_date, parsed.after_date, parsed.has_link)
    )


def test_two_hundred_punctuation_chars() -> None:
    with pytest.raises(QueryError):
        parse_query("!?.,;" * 40)
