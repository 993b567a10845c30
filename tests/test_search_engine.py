"""Search against a real SQLite file with the real migrations (API.md §7; FIELD-CASES F01,
F02, F04, F05, F06)."""

from __future__ import annotations

import io
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from together_server.search.engine import search_messages
from together_server.search.highlight import build_highlight
from together_server.search.query import QueryError, parse_query
from together_server.search.reindex import ProgressBar, reindex
from together_server.storage.db import apply_migrations

INTL = SHARED_DATA / "chat-lines-intl.txt"


class World:
    """A database with users, servers S and S2, channels C, V (in S) and C2 (in S2)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._n = itertools.count(1)
        self.users: dict[str, str] = {}
        for name in ("alice", "Bob", "x"):
            uid = self._id()
            self.users[name] = uid
            conn.execute(
                "INSERT INTO users(id, username, username_fold, created_at) VALUES (?, ?, ?, ?)",
                (uid, name, name.casefold(), self._ts()),
            )
        self.s, self.s2 = self.server("S"), self.server("S2")
        self.c = self.channel(self.s, "Général")
        self.v = self.channel(self.s, "voice", kind="voice")
        self.c2 = self.channel(self.s2, "général")

    def _id(self) -> str:
        n = next(self._n)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-8{h[17:20]}-{h[20:]}"

    def _ts(self, day: int = 1) -> str:
        return f"2026-03-{day:02d}T10:00:00.{next(self._n):06d}Z"

    def server(self, name: str) -> str:
        sid = self._id()
        self.conn.execute(
            "INSERT INTO servers(id, name, owner_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (sid, name, self.users["alice"], self._ts(), self._ts()),
        )
        return sid

    def channel(self, server: str, name: str, kind: str = "text") -> str:
        cid = self._id()
        self.conn.execute(
            "INSERT INTO channels(id, server_id, name, name_fold, type, position, created_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?)",
            (cid, server, name, name.casefold(), kind, self._ts()),
        )
        return cid

    def post(self, content: str, channel: str | None = None, author: str = "alice", day: int = 1) -> str:
        channel = channel or self.c
        server = self.s2 if channel == self.c2 else self.s
        mid = self._id()
        self.conn.execute(
            "INSERT INTO messages(id, channel_id, server_id, author_id, content, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (mid, channel, server, self.users[author], content, self._ts(day)),
        )
        return mid

    def delete(self, mid: str) -> None:
        self.conn.execute("UPDATE messages SET deleted = 1, content = '' WHERE id = ?", (mid,))

    def edit(self, mid: str, content: str) -> None:
        self.conn.execute("UPDATE messages SET content = ?, edited_at = 'x' WHERE id = ?", (content, mid))

    def search(self, q: str, *, server: str | None = None, viewable: list[str] | None = None,
               channel_id: str | None = None, before: str | None = None, limit: int = 50,
               sort: str = "newest", offset: int = 0) -> dict[str, Any]:
        server = server or self.s
        if viewable is None:
            viewable = [self.c, self.v] if server == self.s else [self.c2]
        return search_messages(
            self.conn, server_id=server, viewable_channel_ids=viewable, query=parse_query(q),
            channel_id=channel_id, before=before, limit=limit, sort=sort, offset=offset,
        )

    def ids(self, q: str, **kw: Any) -> list[str]:
        return [r["id"] for r in self.search(q, **kw)["results"]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    conn = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    apply_migrations(conn)  # registers together_segment, applies 0001, 0002, ...
    yield World(conn)
    conn.close()


def test_f01_hyphens_and_dots(world: World) -> None:
    mid = world.post("we shipped the multi-agent build for release v2.0, see spec 38.101")
    for q in ("multi-agent", "v2.0", "38.101"):
        assert world.ids(q) == [mid], q
    for q in ("state-of-the-art", "-leading"):
        r = world.search(q)
        assert r["results"] == [] and r["total"] == 0


def test_f02_quotes_and_apostrophes(world: World) -> None:
    mid = world.post('don\'t panic, the "quoted" word is here')
    assert world.ids("don't") == [mid]
    assert world.ids('"quoted"') == [mid]
    for q in ('"unterminated', 'foo"bar', '""'):
        with pytest.raises(QueryError):
            parse_query(q)


def test_f04_colon_is_not_a_field_filter(world: World) -> None:
    mid = world.post("see grammar::fa and content: secret")
    world.post("content secret see anything", channel=world.c2, author="x")
    for q in ("grammar::fa", "content:secret", "{content}:see"):
        assert world.ids(q) == [mid], q
    assert world.ids("author_id:anything") == []
    assert world.ids(f"channel_id:{world.c2}") == []
    assert world.ids("anything") == []  # nothing from S2, ever


F05 = ["静默模式已开启", "明天开会讨论播客", "東京タワーに行く", "重跑gen-itgc后", "สวัสดีครับทุกคน", "안녕하세요 여러분"]


@pytest.mark.parametrize(
    ("q", "index", "marked"),
    [
        ("静默", 0, "<mark>静默</mark>"),
        ("播客", 1, "<mark>播客</mark>"),
        ("タワー", 2, "<mark>タワー</mark>"),
        ("東京タワー", 2, "<mark>東京タワー</mark>"),
        ("itgc", 3, "<mark>itgc</mark>"),
        ("gen", 3, "<mark>gen</mark>"),
        ("重跑", 3, "<mark>重跑</mark>"),
        ("后", 3, "<mark>后</mark>"),
        ("สวัสดี", 4, "<mark>สวัสดี</mark>"),
        ("ทุกคน", 4, "<mark>ทุกคน</mark>"),
        ("하세", 5, "<mark>하세</mark>"),
    ],
)
def test_f05_scripts_without_spaces(world: World, q: str, index: int, marked: str) -> None:
    ids = [world.post(text) for text in F05]
    world.post("latin text still works")
    r = world.search(q)
    assert [x["id"] for x in r["results"]] == [ids[index]]
    assert marked in r["results"][0]["highlight"]
    assert world.ids("latin") != []


def test_f05_with_real_lines(world: World) -> None:
    lines = [line.split("\t", 1) for line in INTL.read_text(encoding="utf-8").splitlines()]
    picked = {}
    for lang, text in lines:
        if lang in ("zh", "ja", "ko", "th") and lang not in picked and len(text) >= 6:
            picked[lang] = text
    ids = {lang: world.post(text) for lang, text in picked.items()}
    for lang, text in picked.items():
        needle = text[2:4]
        if not all(ch.isalpha() for ch in needle):
            continue
        hits = world.ids(needle)
        assert ids[lang] in hits, (lang, needle)


def test_f06_deleted_messages_leave_the_index(world: World) -> None:
    mid = world.post("launch code zebra4711")
    assert world.search("zebra4711")["total"] == 1
    world.delete(mid)
    for kw in ({}, {"channel_id": world.c}, {"limit": 1}, {"sort": "relevance"}):
        r = world.search("zebra4711", **kw)
        assert (r["results"], r["total"], r["has_more"]) == ([], 0, False), kw
    conn = world.conn
    assert conn.execute("SELECT content FROM messages WHERE id = ?", (mid,)).fetchone()[0] == ""
    for table in ("messages_fts", "messages_fts_raw"):
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH '\"zebra4711\"'").fetchone()[0] == 0
        conn.execute(f"CREATE VIRTUAL TABLE temp.v_{table} USING fts5vocab(main, {table}, 'row')")
        assert conn.execute(f"SELECT count(*) FROM temp.v_{table} WHERE term LIKE 'zebra%'").fetchone()[0] == 0
        conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


def test_edit_is_found_by_new_text_only(world: World) -> None:
    mid = world.post("old words here")
    world.edit(mid, "fresh content now")
    assert world.ids("old") == []
    assert world.ids("fresh") == [mid]
    world.edit(mid, "fresh content now")  # unchanged edit keeps it indexed once
    assert world.search("fresh")["total"] == 1


def test_hard_delete_and_tombstoned_server(world: World) -> None:
    mid = world.post("purge me later")
    world.conn.execute("UPDATE servers SET deleted_at = 'x' WHERE id = ?", (world.s,))
    assert world.search("purge")["results"] == []
    world.conn.execute("DELETE FROM messages WHERE id = ?", (mid,))
    world.conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")


def test_stemming_case_and_diacritics(world: World) -> None:
    a = world.post("I was Running late")
    b = world.post("she runs daily")
    c = world.post("un café noir")
    assert set(world.ids("run")) == {a, b}
    assert set(world.ids("running")) == {a, b}
    assert world.ids("RUNNING") == world.ids("running")
    assert world.ids("cafe") == [c]
    assert world.ids("CAFÉ") == [c]
    d = world.post("cafe\u0301 décomposé")  # NFD text is found too
    assert set(world.ids("café")) == {c, d}


@pytest.mark.parametrize("lang", ["ru", "uk", "he", "fa", "ur", "hi", "de", "tr"])
def test_words_of_other_scripts(world: World, lang: str) -> None:
    lines = [t for lg, t in (line.split("\t", 1) for line in INTL.read_text(encoding="utf-8").splitlines()) if lg == lang]
    text = next(t for t in lines if len(t.split()) >= 3)
    mid = world.post(text)
    word = max(text.split(), key=len).strip(".,!?؟،:;\"'()")
    hits = world.search(word)["results"]
    assert [h["id"] for h in hits] == [mid], word
    assert "<mark>" in hits[0]["highlight"]


def test_phrase_and_prefix(world: World) -> None:
    a = world.post("the quick brown fox")
    b = world.post("brown quick things")
    assert world.ids('"quick brown"') == [a]
    assert set(world.ids("quick brown")) == {a, b}
    g = world.post("the next generation is here")
    assert world.ids("generat*") == [g]
    assert world.ids("runn*") == []
    r = world.post("Running fast")
    assert world.ids("runn*") == [r]
    assert world.ids("RUNN*") == [r]
    assert "<mark>Running</mark>" in world.search("runn*")["results"][0]["highlight"]


def test_filters(world: World) -> None:
    a = world.post("hello world", author="alice", day=5)
    b = world.post("hello https://example.org", author="Bob", day=10)
    v = world.post("hello from voice HTTP://X.ORG", channel=world.v, author="Bob", day=20)
    assert world.ids("hello from:bob") == [v, b]
    assert world.ids("from:BOB") == [v, b]
    assert world.ids("from:nobody hello") == []
    assert world.ids("has:link") == [v, b]
    assert world.ids("in:général hello") == [b, a]
    assert world.ids("in:GÉNÉRAL") == [b, a]
    assert world.ids("in:nowhere") == []
    assert world.ids("in:voice", channel_id=world.c) == []
    assert world.ids("hello", channel_id=world.v) == [v]
    assert world.ids("before:2026-03-10") == [a]
    assert world.ids("after:2026-03-10") == [v]
    assert world.ids("after:2026-03-05 before:2026-03-20") == [b]
    assert world.ids("after:2026-03-04 before:2026-03-20") == [b, a]
    assert world.ids("hello before:2026-03-10") == [a]
    assert world.ids("hello after:2026-03-05") == [v, b]
    assert world.ids("hello after:2026-03-20") == []
    assert world.ids("after:9999-12-31") == []
    assert world.ids("before:0001-01-01") == []
    # a channel the caller may not view is never searched
    assert world.ids("hello", viewable=[world.c]) == [b, a]
    assert world.ids("hello", viewable=[]) == []


def test_paging_with_cursor_never_repeats_or_skips(world: World) -> None:
    ids = [world.post(f"needle number {i}") for i in range(37)]
    world.post("other text")
    full = world.ids("needle", limit=100)
    assert full == ids[::-1]
    seen: list[str] = []
    before = None
    while True:
        r = world.search("needle", limit=7, before=before)
        assert r["total"] == 37 and r["next_offset"] is None
        seen += [x["id"] for x in r["results"]]
        if not r["has_more"]:
            assert r["next_cursor"] is None
            break
        before = r["next_cursor"]
        assert before == seen[-1]
    assert seen == full
    # filter-only queries page the same way
    seen = []
    before = None
    while True:
        r = world.search("from:alice", limit=5, before=before)
        seen += [x["id"] for x in r["results"]]
        if not r["has_more"]:
            break
        before = r["next_cursor"]
    assert len(seen) == len(set(seen)) == 38


def test_relevance_with_offset(world: World) -> None:
    weak = [world.post(f"apple and many other words to dilute the score {i}") for i in range(12)]
    strong = world.post("apple apple apple")
    r = world.search("apple", sort="relevance", limit=5)
    assert r["results"][0]["id"] == strong
    assert r["next_cursor"] is None and r["has_more"] and r["next_offset"] == 5
    ranks = [x["rank"] for x in r["results"]]
    assert ranks == sorted(ranks, reverse=True) and all(x > 0 for x in ranks)
    seen = [x["id"] for x in r["results"]]
    offset = r["next_offset"]
    while offset is not None:
        page = world.search("apple", sort="relevance", limit=5, offset=offset)
        seen += [x["id"] for x in page["results"]]
        offset = page["next_offset"]
    assert sorted(seen) == sorted([*weak, strong])
    # ties are newest first
    tied = world.search("apple", sort="relevance", limit=20)["results"][1:]
    assert [x["id"] for x in tied] == weak[::-1]
    assert world.search("apple", sort="relevance", offset=1000)["results"] == []
    fo = world.search("from:alice", sort="relevance", limit=3)
    assert all(x["rank"] == 0 for x in fo["results"]) and fo["next_offset"] == 3


def test_total_is_capped(world: World) -> None:
    world.conn.execute("BEGIN")
    for i in range(1005):
        world.post(f"common word {i}")
    world.conn.execute("COMMIT")
    r = world.search("common", limit=100)
    assert r["total"] == 1000 and r["has_more"]
    last = world.search("common", sort="relevance", limit=100, offset=950)
    assert last["has_more"] is False and last["next_offset"] is None


def test_highlight_escapes_html(world: World) -> None:
    world.post("Deploy notes: see https://example.org <3 & \"x\" 'y' <mark>evil</mark>")
    h = world.search("deploy")["results"][0]["highlight"]
    assert h == (
        "<mark>Deploy</mark> notes: see https://example.org &lt;3 &amp; &quot;x&quot; &#x27;y&#x27; "
        "&lt;mark&gt;evil&lt;/mark&gt;"
    )
    h = world.search("mark")["results"][0]["highlight"]
    assert "&lt;<mark>mark</mark>&gt;" in h
    r = world.search("has:link")["results"][0]
    assert "<mark>" not in r["highlight"] and r["rank"] == 0


def test_long_message_excerpt(world: World) -> None:
    words = [f"w{i}" for i in range(100)]
    words[60] = "target"
    world.post(" ".join(words))
    h = world.search("target")["results"][0]["highlight"]
    assert h.startswith("…") and h.endswith("…") and "<mark>target</mark>" in h
    assert 30 <= len(h.split()) <= 40
    start = world.search("w1")["results"][0]["highlight"]
    assert not start.startswith("…") and start.endswith("…")
    cjk = "字" * 300 + "静默" + "字" * 300
    world.post(cjk)
    h = world.search("静默")["results"][0]["highlight"]
    assert "<mark>静默</mark>" in h and h.startswith("…") and len(h) < 100


def test_highlight_ignores_mismatched_fts_output() -> None:
    assert build_highlight("a <b>", ["\ufdd0x\ufdd1"]) == "a &lt;b&gt;"
    assert build_highlight("नमस्ते", ["\ufdd0नमस\ufdd1्\ufdd0त\ufdd1े"]) == "<mark>नमस्ते</mark>"


def test_sentinel_characters_in_content(world: World) -> None:
    world.post("odd \ufdd0 sentinel \ufdd1 text <x>")
    h = world.search("sentinel")["results"][0]["highlight"]
    assert h == "odd \ufdd0 <mark>sentinel</mark> \ufdd1 text &lt;x&gt;"


def test_reindex_rebuilds_both_tables(world: World) -> None:
    keep = world.post("keep this searchable 静默")
    gone = world.post("deleted thing")
    world.delete(gone)
    world.conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
    assert world.ids("keep") == []
    calls: list[tuple[int, int]] = []
    assert reindex(world.conn, lambda d, t: calls.append((d, t)), batch_rows=1) == 1
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)
    assert world.ids("keep") == [keep] and world.ids("静默") == [keep]
    assert world.ids("deleted") == []
    for table in ("messages_fts", "messages_fts_raw"):
        world.conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


def test_progress_bar_output() -> None:
    out = io.StringIO()
    bar = ProgressBar(stream=out)
    for done in range(0, 101, 5):
        bar(done, 100)
    bar.finish()
    text = out.getvalue()
    assert "100/100 (100%)" in text and text.count("\n") == 11


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    conn = sqlite3.connect(str(tmp_path_factory.mktemp("h") / "h.db"), isolation_level=None)
    apply_migrations(conn)
    w = World(conn)
    for text in ["plain words here", "静默模式已开启", "AND OR NOT NEAR \"quoted\" * ^ - :", "emoji 😀 text", *F05]:
        w.post(text)
    yield w
    conn.close()


_chars = st.sampled_from(list('"*:-^+(){}NEARANDORNOT ab\t静默ทุกคน😀\u0301é.,\'') + ["from:", "in:", "has:link",
                                                                                 "before:2026-01-01", "x*"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(min_size=2, max_size=200), st.lists(_chars, min_size=1, max_size=60).map("".join)),
       st.sampled_from(["newest", "relevance"]))
def test_any_parsed_query_runs(shared_world: World, q: str, sort: str) -> None:
    try:
        parse_query(q)
    except QueryError:
        return
    r = shared_world.search(q, sort=sort, limit=3)
    assert set(r) == {"results", "total", "has_more", "next_cursor", "next_offset"}
