"""Messages: shape, replies, mentions, edit/delete rules, cursor pagination and the
end-to-end corpus round trip (API.md §1.7, §1.8, §3.5). Field cases F08, F24, F25, F28
(REST parts).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from conftest import Api, Users, corpus
from test_core_badinput import check_error

from together_server.clock import parse_ts

ZERO = "00000000-0000-7000-8000-000000000000"
MAX_ID = "ffffffff-ffff-7fff-bfff-ffffffffffff"


@pytest.fixture
async def room(users: Users) -> dict[str, Any]:
    owner, a, b, x = [await users.new(n) for n in ("o", "a", "b", "x")]
    srv = await owner.server("Room")
    chan = await owner.channel(srv["id"])
    for api in (a, b):
        await owner.invite_and_join(srv["id"], api)
    return {"o": owner, "a": a, "b": b, "x": x, "srv": srv, "chan": chan}


async def list_page(api: Api, cid: str, **params: Any) -> list[dict[str, Any]]:
    r = await api.get(f"/channels/{cid}/messages", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_message_shape_replies_and_mentions(room: dict[str, Any]) -> None:
    o, a, b, x, cid = room["o"], room["a"], room["b"], room["x"], room["chan"]["id"]
    m1 = await a.send(cid, "first")
    assert set(m1) == {"id", "channel_id", "author_id", "content", "reply_to", "mention_user_ids",
                       "mention_everyone", "thread_id", "thread_reply_count", "edited_at", "deleted",
                       "created_at", "pinned", "pinned_by", "pinned_at", "poll", "event", "reactions",
                       "attachments"}
    assert (m1["thread_id"], m1["thread_reply_count"], m1["deleted"], m1["pinned"], m1["poll"], m1["event"],
            m1["reactions"], m1["edited_at"]) == (None, 0, False, False, None, None, [], None)
    bname, xname = b.user["username"], x.user["username"]
    m2 = await a.send(cid, f"@{bname.upper()}'s idea, cc @{xname} a@{bname}.org @everyone", reply_to=m1["id"])
    assert m2["reply_to"] == m1["id"] and m2["mention_user_ids"] == [b.id]
    assert m2["mention_everyone"] is False  # a plain member may not
    m3 = await o.send(cid, "@EveryOne listen")
    assert m3["mention_everyone"] is True
    check_error(await a.post(f"/channels/{cid}/messages", json={"content": "r", "reply_to": ZERO}), 404,
                "unknown_message")
    other = await x.server("elsewhere")
    xc = await x.channel(other["id"])
    xm = await x.send(xc["id"], "not here")
    check_error(await a.post(f"/channels/{cid}/messages", json={"content": "r", "reply_to": xm["id"]}), 404,
                "unknown_message")
    got = (await b.get(f"/channels/{cid}/messages/{m2['id']}")).json()
    assert got == m2
    check_error(await b.get(f"/channels/{xc['id']}/messages/{xm['id']}"), 404, "unknown_channel")
    check_error(await x.get(f"/channels/{xc['id']}/messages/{m1['id']}"), 404, "unknown_message")
    # a reply stays when its target is deleted
    assert (await a.delete(f"/messages/{m1['id']}")).status_code == 204
    assert (await b.get(f"/channels/{cid}/messages/{m2['id']}")).json()["reply_to"] == m1["id"]
    check_error(await a.post(f"/channels/{cid}/messages", json={"content": "r", "reply_to": m1["id"]}), 404,
                "unknown_message")
    # edits recompute mentions and set edited_at
    r = await a.patch(f"/messages/{m2['id']}", json={"content": "now @" + o.user["username"]})
    assert r.status_code == 200
    edited = r.json()
    assert edited["mention_user_ids"] == [o.id] and edited["edited_at"] is not None
    assert edited["reply_to"] == m1["id"]
    r = await a.patch(f"/messages/{m2['id']}", json={"content": edited["content"], "reply_to": None})
    assert parse_ts(r.json()["edited_at"]) >= parse_ts(edited["edited_at"])


async def test_f28_others_messages(room: dict[str, Any]) -> None:
    o, a, b, x, cid = room["o"], room["a"], room["b"], room["x"], room["chan"]["id"]
    m = await a.send(cid, "mine")
    check_error(await b.patch(f"/messages/{m['id']}", json={"content": "pwned"}), 403, "missing_permission")
    check_error(await b.delete(f"/messages/{m['id']}"), 403, "missing_permission")
    check_error(await x.patch(f"/messages/{m['id']}", json={"content": "pwned"}), 404, "unknown_message")
    check_error(await x.delete(f"/messages/{m['id']}"), 404, "unknown_message")
    check_error(await o.patch(f"/messages/{m['id']}", json={"content": "owner edit"}), 403, "missing_permission")
    got = (await a.get(f"/channels/{cid}/messages/{m['id']}")).json()
    assert got["content"] == "mine" and got["author_id"] == a.id and got["edited_at"] is None
    assert (await a.delete(f"/messages/{m['id']}")).status_code == 204
    check_error(await a.patch(f"/messages/{m['id']}", json={"content": "back"}), 404, "unknown_message")
    check_error(await a.delete(f"/messages/{m['id']}"), 404, "unknown_message")
    check_error(await a.get(f"/channels/{cid}/messages/{m['id']}"), 404, "unknown_message")
    assert m["id"] not in [x["id"] for x in await list_page(a, cid)]
    # the owner deletes anyone's message
    m2 = await b.send(cid, "moderate me")
    assert (await o.delete(f"/messages/{m2['id']}")).status_code == 204
    check_error(await b.get(f"/channels/{cid}/messages/{m2['id']}"), 404, "unknown_message")


INVISIBLE = ["\u200b", "\u200b\u200c\u2060", " \n\t ", "\u3164", "\u2800", "\u115f\u1160\uffa0", "\ufeff",
             "\u00a0\u2003", "\u180e", "\U000e0020", "\u034f", "\u061c"]


async def test_f24_invisible_content_and_names(room: dict[str, Any]) -> None:
    o, a, cid, sid = room["o"], room["a"], room["chan"]["id"], room["srv"]["id"]
    m = await a.send(cid, "visible")
    before = await list_page(a, cid)
    for text in INVISIBLE:
        # Accepted but hidden: it waits for files (issue 10's two-step upload) and is never
        # listed, announced or searchable without them (test_attachments.py covers the rest).
        r = await a.post(f"/channels/{cid}/messages", json={"content": text})
        assert r.status_code == 201, r.text
        assert (await a.get(f"/channels/{cid}/messages/{r.json()['id']}")).status_code == 404
    check_error(await a.patch(f"/messages/{m['id']}", json={"content": "\u200b"}), 400, "validation_failed", "content")
    assert await list_page(a, cid) == before
    for name in ("   ", "\u200b", "\u3164"):
        check_error(await o.post("/servers", json={"name": name}), 400, "validation_failed", "name")
        check_error(await o.post(f"/servers/{sid}/channels", json={"name": name, "type": "text"}), 400,
                    "validation_failed", "name")
        check_error(await o.patch(f"/servers/{sid}", json={"name": name}), 400, "validation_failed", "name")
        check_error(await o.patch(f"/channels/{cid}", json={"name": name}), 400, "validation_failed", "name")
    for ok in ("👨\u200d👩\u200d👧", "a\u200b", " x ", "\u0301", "ﷺ"):
        assert (await a.send(cid, ok))["content"] == ok


async def test_f25_code_point_lengths(room: dict[str, Any]) -> None:
    o, a, cid, sid = room["o"], room["a"], room["chan"]["id"], room["srv"]["id"]
    family = "👨\u200d👩\u200d👧\u200d👦"
    for content, status in (("😀" * 4000, 201), ("😀" * 4001, 400), ("a" * 4000, 201), ("a" * 4001, 400),
                            ("a" * 3993 + family, 201), ("a" * 3994 + family, 400)):
        r = await a.post(f"/channels/{cid}/messages", json={"content": content})
        assert r.status_code == status, (len(content), r.text[:200])
        if status == 201:
            assert r.json()["content"] == content
            got = (await a.get(f"/channels/{cid}/messages/{r.json()['id']}")).json()
            assert got["content"].encode("utf-8") == content.encode("utf-8")
        else:
            check_error(r, 400, "validation_failed", "content")
    r = await o.patch(f"/servers/{sid}", json={"name": "🎉" * 100})
    assert r.status_code == 200 and r.json()["name"] == "🎉" * 100
    check_error(await o.patch(f"/servers/{sid}", json={"name": "🎉" * 101}), 400, "validation_failed", "name")


async def test_f08_concurrent_posters_page_exactly(room: dict[str, Any], users: Users) -> None:
    o, a, b, srv = room["o"], room["a"], room["b"], room["srv"]
    fourth = await users.new("p4")  # a bot once bots exist
    await o.invite_and_join(srv["id"], fourth)
    chan = await o.channel(srv["id"], "busy")
    cid = chan["id"]
    acked: list[str] = []

    async def poster(api: Api, tag: str) -> None:
        for i in range(10):
            acked.append((await api.send(cid, f"{tag}-{i}"))["id"])

    async with trio.open_nursery() as nursery:
        for api, tag in ((a, "A"), (b, "B"), (o, "O"), (fourth, "P")):
            nursery.start_soon(poster, api, tag)
    full = await list_page(a, cid, limit=100)
    ids = [m["id"] for m in full]
    assert len(ids) == 40 and set(ids) == set(acked)
    assert ids == sorted(ids, reverse=True)
    times = [parse_ts(m["created_at"]) for m in reversed(full)]
    assert times == sorted(times)
    for _ in range(2):  # walking again gives the same sequence
        walked: list[str] = []
        page = await list_page(a, cid, limit=7)
        while page:
            walked += [m["id"] for m in page]
            page = await list_page(a, cid, limit=7, before=page[-1]["id"])
        assert walked == ids
    # forward paging with after= (each page newest first), then reversed, is the same list
    forward: list[str] = []
    page = await list_page(a, cid, limit=7, after=ZERO)
    while page:
        assert [m["id"] for m in page] == sorted((m["id"] for m in page), reverse=True)
        forward += [m["id"] for m in reversed(page)]
        page = await list_page(a, cid, limit=7, after=page[0]["id"])
    assert forward == ids[::-1]


async def test_pagination_edges(room: dict[str, Any]) -> None:
    a, cid = room["a"], room["chan"]["id"]
    sent = [await a.send(cid, f"m{i}") for i in range(12)]
    ids = [m["id"] for m in sent]  # oldest first
    newest_first = ids[::-1]
    assert [m["id"] for m in await list_page(a, cid)] == newest_first
    assert [m["id"] for m in await list_page(a, cid, limit=3)] == newest_first[:3]
    assert [m["id"] for m in await list_page(a, cid, before=ids[5], limit=3)] == [ids[4], ids[3], ids[2]]
    assert [m["id"] for m in await list_page(a, cid, after=ids[5], limit=3)] == [ids[8], ids[7], ids[6]]
    assert [m["id"] for m in await list_page(a, cid, after=ids[2], before=ids[9], limit=4)] == \
        [ids[6], ids[5], ids[4], ids[3]]
    assert [m["id"] for m in await list_page(a, cid, after=ids[2], before=ids[5])] == [ids[4], ids[3]]
    assert await list_page(a, cid, after=ids[5], before=ids[5]) == []
    assert await list_page(a, cid, after=ids[8], before=ids[2]) == []
    assert await list_page(a, cid, before=ids[0]) == []
    assert await list_page(a, cid, after=ids[-1]) == []
    # clamping: 0 and negatives are 1, above 100 is 100
    for limit, n in ((0, 1), (-5, 1), (-2147483648, 1), (1, 1), (100, 12), (101, 12), (2147483647, 12)):
        assert len(await list_page(a, cid, limit=limit)) == n
    for bad in ("1.0", "abc", "", "1e2", "+5", " 5", "2147483648", "-2147483649", "99999999999999999999", "0x10"):
        check_error(await a.get(f"/channels/{cid}/messages", params={"limit": bad}), 400, "validation_failed",
                    "limit")
    # cursors naming no message are compared as ids
    assert [m["id"] for m in await list_page(a, cid, before=MAX_ID, limit=2)] == newest_first[:2]
    assert [m["id"] for m in await list_page(a, cid, after=ZERO, limit=2)] == [ids[1], ids[0]]
    assert [m["id"] for m in await list_page(a, cid, before=MAX_ID.upper(), limit=1)] == newest_first[:1]
    # a deleted message is skipped, and still works as a cursor
    await a.delete(f"/messages/{ids[4]}")
    assert [m["id"] for m in await list_page(a, cid, before=ids[6], limit=3)] == [ids[5], ids[3], ids[2]]
    assert [m["id"] for m in await list_page(a, cid, before=ids[4], limit=2)] == [ids[3], ids[2]]
    # a cursor from another channel is just an id too
    other = await room["o"].channel(room["srv"]["id"], "other")
    assert await list_page(a, other["id"], before=ids[-1]) == []


async def test_corpus_round_trip_two_users(room: dict[str, Any]) -> None:
    """A few hundred real lines (emoji, RTL, CJK), posted alternately, read back byte for byte."""
    a, b, srv = room["a"], room["b"], room["srv"]
    chan = await room["o"].channel(srv["id"], "corpus")
    cid = chan["id"]
    lines = list(corpus("chat-lines-en.txt")[:150])
    intl = corpus("chat-lines-intl.txt")
    lines += [line.split("\t", 1)[1] for line in intl[:: len(intl) // 150] if "\t" in line]
    # the corpus holds no emoji: decorate some real lines with a few (ZWJ sequences, flags, skin tones)
    emoji = ["😀", "👨\u200d👩\u200d👧\u200d👦", "🇯🇵", "👍🏽", "❤️", "🧑\u200d💻"]
    lines += [f"{e} {line} {e}" for e, line in zip(emoji * 5, lines[::10], strict=False)]
    lines = [line for line in lines if line.strip()]
    assert len(lines) >= 200
    assert any("\u0600" <= ch <= "\u06ff" or "\u0590" <= ch <= "\u05ff" for line in lines for ch in line)
    assert any("\u4e00" <= ch <= "\u9fff" or "\u3040" <= ch <= "\u30ff" for line in lines for ch in line)
    assert any(ord(ch) >= 0x1F300 for line in lines for ch in line)
    posted = []
    for i, line in enumerate(lines):
        m = await (a if i % 2 == 0 else b).send(cid, line)
        assert m["content"] == line
        posted.append(m)
    got: list[dict[str, Any]] = []
    page = await list_page(b, cid, limit=100)
    while page:
        got += page
        page = await list_page(b, cid, limit=100, before=page[-1]["id"])
    got.reverse()
    assert [m["id"] for m in got] == [m["id"] for m in posted]
    assert [m["content"].encode("utf-8") for m in got] == [line.encode("utf-8") for line in lines]
    assert [m["author_id"] for m in got] == [(a if i % 2 == 0 else b).id for i in range(len(lines))]
