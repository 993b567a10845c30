"""``GET /servers/:id/search`` against the real daemon (API.md §7; FIELD-CASES F01-F06)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Api, Users, corpus


async def search(api: Api, server_id: str, q: str, **params: Any) -> Any:
    r = await api.get(f"/servers/{server_id}/search", params={"q": q, **params})
    assert r.status_code < 500, r.text
    return r


@pytest.fixture
async def world(users: Users) -> dict[str, Any]:
    owner, a, x = await users.new("owner"), await users.new("a"), await users.new("x")
    s = await owner.server("Search land")
    c = await owner.channel(s["id"], "general")
    await owner.invite_and_join(s["id"], a)
    s2 = await x.server("Elsewhere")
    c2 = await x.channel(s2["id"], "other")
    return {"owner": owner, "a": a, "x": x, "s": s["id"], "c": c["id"], "s2": s2["id"], "c2": c2["id"]}


async def test_f01_hyphens_and_dots(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    m = await a.send(c, "we shipped the multi-agent build for release v2.0, see spec 38.101")
    for q in ("multi-agent", "v2.0", "38.101"):
        r = await search(a, s, q)
        assert r.status_code == 200
        assert [h["id"] for h in r.json()["results"]] == [m["id"]], q
    for q in ("state-of-the-art", "-leading"):
        r = await search(a, s, q)
        assert r.status_code == 200 and r.json()["results"] == [], q
        assert "fts" not in r.text.lower()


async def test_f02_quotes_and_apostrophes(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    m = await a.send(c, 'don\'t panic, the "quoted" word is here')
    for q in ("don't", '"quoted"'):
        r = await search(a, s, q)
        assert r.status_code == 200 and [h["id"] for h in r.json()["results"]] == [m["id"]], q
    for q in ('"unterminated', 'foo"bar', '""'):
        r = await search(a, s, q)
        assert r.status_code == 400 and r.json()["code"] == "invalid_query" and "q" in r.json()["errors"], q
    r = await search(a, s, "'")
    assert r.status_code == 400 and r.json()["code"] == "validation_failed" and "q" in r.json()["errors"]


async def test_f04_colon_is_not_a_column_filter(world: dict[str, Any]) -> None:
    a, x, s, c, c2 = world["a"], world["x"], world["s"], world["c"], world["c2"]
    m = await a.send(c, "see grammar::fa and content: secret")
    await x.send(c2, "content secret see anything")
    for q in ("grammar::fa", "content:secret", "{content}:see"):
        r = await search(a, s, q)
        assert r.status_code == 200 and [h["id"] for h in r.json()["results"]] == [m["id"]], q
    for q in ("author_id:anything", f"channel_id:{c2}"):
        r = await search(a, s, q)
        assert r.status_code == 200 and r.json()["results"] == [], q


async def test_f05_scripts_without_spaces(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    lines = ["静默模式已开启", "明天开会讨论播客", "東京タワーに行く", "重跑gen-itgc后", "สวัสดีครับทุกคน", "안녕하세요 여러분"]
    ids = {text: (await a.send(c, text))["id"] for text in lines}
    cases = {"静默": lines[0], "播客": lines[1], "タワー": lines[2], "東京タワー": lines[2], "itgc": lines[3],
             "สวัสดี": lines[4], "ทุกคน": lines[4], "하세": lines[5]}
    for q, text in cases.items():
        r = await search(a, s, q)
        assert r.status_code == 200
        assert [h["id"] for h in r.json()["results"]] == [ids[text]], q
    r = await search(a, s, "静默")
    assert "<mark>静默</mark>" in r.json()["results"][0]["highlight"]


async def test_f06_deleted_messages_vanish(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    m = await a.send(c, "launch code zebra4711")
    assert (await search(a, s, "zebra4711")).json()["total"] == 1
    assert (await a.delete(f"/messages/{m['id']}")).status_code == 204
    for extra in ({}, {"channel_id": c}, {"limit": "1"}):
        body = (await search(a, s, "zebra4711", **extra)).json()
        assert body["results"] == [] and body["total"] == 0 and body["has_more"] is False


async def test_edit_is_found_by_new_text_only(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    m = await a.send(c, "original walrus text")
    assert (await a.patch(f"/messages/{m['id']}", json={"content": "replacement narwhal text"})).status_code == 200
    assert (await search(a, s, "walrus")).json()["total"] == 0
    assert [h["id"] for h in (await search(a, s, "narwhal")).json()["results"]] == [m["id"]]


async def test_hidden_channel_and_outsiders(world: dict[str, Any]) -> None:
    owner, a, x, s = world["owner"], world["a"], world["x"], world["s"]
    secret = await owner.channel(s, "staff")
    r = await owner.put(f"/channels/{secret['id']}/overrides", json={"role_id": s, "allow": 0, "deny": 1})
    assert r.status_code == 200, r.text
    await owner.send(secret["id"], "quokka plans for the staff")
    assert (await search(owner, s, "quokka")).json()["total"] == 1
    body = (await search(a, s, "quokka")).json()
    assert body["results"] == [] and body["total"] == 0
    r = await search(a, s, "quokka", channel_id=secret["id"])
    assert r.status_code == 404 and r.json()["code"] == "unknown_channel"
    r = await search(x, s, "quokka")
    assert r.status_code == 404 and r.json()["code"] == "unknown_server"
    anon = Api(a.base_url)
    assert (await search(anon, s, "quokka")).status_code == 401
    await anon.aclose()


async def test_parameters_and_paging(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    ids = [(await a.send(c, f"pagination penguin number {i}"))["id"] for i in range(7)]
    seen: list[str] = []
    before = None
    while True:
        params = {"limit": "3", **({"before": before} if before else {})}
        body = (await search(a, s, "penguin", **params)).json()
        assert body["total"] == 7
        seen += [h["id"] for h in body["results"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        before = body["next_cursor"]
    assert seen == ids[::-1]
    rel = (await search(a, s, "penguin", sort="relevance", limit="5")).json()
    assert rel["next_offset"] == 5 and rel["next_cursor"] is None
    for bad in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"sort": "oldest"},
                {"sort": "relevance", "before": ids[0]}, {"offset": "3"}, {"channel_id": "nope"},
                {"sort": "relevance", "offset": "1001"}):
        r = await search(a, s, "penguin", **bad)
        assert r.status_code == 400 and r.json()["code"] == "validation_failed", bad
    assert (await search(a, s, "x" * 201)).status_code == 400
    assert (await search(a, s, "from:" + a.user["username"] + " penguin")).json()["total"] == 7
    assert (await search(a, s, "in:GENERAL penguin")).json()["total"] == 7
    assert (await search(a, s, "in:nowhere penguin")).json()["total"] == 0


async def test_real_corpus_lines_are_found(world: dict[str, Any]) -> None:
    a, s, c = world["a"], world["s"], world["c"]
    intl = [line.split("\t", 1) for line in corpus("chat-lines-intl.txt")]
    picks = {}
    for lang in ("ja", "zh", "ru", "he", "fa", "ko"):
        text = next(t for lg, t in intl if lg == lang and len(t) >= 6)
        picks[lang] = (text, (await a.send(c, text))["id"])
    for lang, (text, mid) in picks.items():
        words = [w for w in text.split() if len(w) >= 3 and w.isalpha()]
        q = words[0] if words and lang in ("ru", "he", "fa") else text[:2]
        body = (await search(a, s, q)).json()
        assert mid in [h["id"] for h in body["results"]], (lang, q, text)


async def test_invalid_utf8_in_q_is_400_like_every_parameter(world: dict[str, Any]) -> None:
    """Issue 15 §8: `q=%FF%FE` was searched as two U+FFFD characters (200, no hits)."""
    a, s, c = world["a"], world["s"], world["c"]
    await a.send(c, "caf\u00e9 is served")
    for raw, field in (("q=%FF%FE", "q"), ("q=caf%C3", "q"), ("q=ok%20word&sort=%FF", "sort"),
                       ("q=fine&limit=%FE", "limit"), ("q=fine&%FF=1", "query")):
        r = await a.get(f"/servers/{s}/search?{raw}")
        assert r.status_code == 400, (raw, r.text)
        assert r.json()["code"] == "validation_failed" and field in r.json()["errors"], raw
    # valid percent-encoded UTF-8 still works; U+FFFD written as UTF-8 reaches the query parser
    r = await a.get(f"/servers/{s}/search?q=caf%C3%A9")
    assert r.status_code == 200 and len(r.json()["results"]) == 1
    r = await a.get(f"/servers/{s}/search?q=%EF%BF%BD%EF%BF%BD")
    assert r.status_code == 400 and r.json()["code"] == "invalid_query", r.text
