"""Threads (issue 12): replies under a root, counts, live THREAD_MESSAGE_CREATE, search,
read state and mentions, and deletion with the root."""

from __future__ import annotations

from typing import Any

from conftest import Api, Users
from test_gateway_client import connect
from test_gateway_events import kinds, seen_before_sentinel

from together_server.daemon import Running


def thread(channel_id: str, message_id: str) -> str:
    return f"/channels/{channel_id}/messages/{message_id}/thread"


async def pair(users: Users) -> tuple[Api, Api, dict[str, Any], dict[str, Any]]:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Threads")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, srv, chan


async def test_reply_list_count_and_live_events(shared: Running, users: Users) -> None:
    alice, bob, _srv, chan = await pair(users)
    c = chan["id"]
    root = await alice.send(c, "Which map tonight?")
    assert root["thread_id"] is None and root["thread_reply_count"] == 0
    async with connect(shared.url, alice.token) as ga:
        await seen_before_sentinel(ga, alice)
        r = await bob.post(thread(c, root["id"]), json={"content": "Dust 2, obviously"})
        assert r.status_code == 201, r.text
        reply = r.json()
        assert reply["thread_id"] == root["id"] and reply["channel_id"] == c
        got = await seen_before_sentinel(ga, alice)
        # never MESSAGE_CREATE: a Together client would show the reply in the channel
        assert kinds(got) == ["THREAD_MESSAGE_CREATE", "MESSAGE_UPDATE"]
        assert got[0]["d"]["id"] == reply["id"] and got[0]["d"]["thread_id"] == root["id"]
        assert got[1]["d"]["id"] == root["id"] and got[1]["d"]["thread_reply_count"] == 1
    second = (await alice.post(thread(c, root["id"]), json={"content": "fine", "reply_to": reply["id"]})).json()
    listed = (await bob.get(thread(c, root["id"]))).json()
    assert [m["id"] for m in listed] == [reply["id"], second["id"]]  # oldest first
    assert listed[1]["reply_to"] == reply["id"]
    page = (await bob.get(f"/channels/{c}/messages")).json()
    assert [m["id"] for m in page] == [root["id"]]  # replies stay out of the channel list
    assert page[0]["thread_reply_count"] == 2
    assert (await bob.get(f"/channels/{c}/messages/{reply['id']}")).json()["thread_id"] == root["id"]
    after = (await bob.get(thread(c, root["id"]), params={"after": reply["id"]})).json()
    assert [m["id"] for m in after] == [second["id"]]
    before = (await bob.get(thread(c, root["id"]), params={"before": second["id"], "limit": 1})).json()
    assert [m["id"] for m in before] == [reply["id"]]


async def test_refusals(users: Users) -> None:
    alice, bob, srv, chan = await pair(users)
    carol = await users.new("carol")
    c = chan["id"]
    root = await alice.send(c, "root")
    reply = (await bob.post(thread(c, root["id"]), json={"content": "r"})).json()
    r = await bob.post(thread(c, reply["id"]), json={"content": "nested"})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await carol.get(thread(c, root["id"]))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    r = await bob.post(thread(c, root["id"]), json={"content": "   "})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    other = await alice.channel(srv["id"], "other")
    r = await bob.post(thread(other["id"], root["id"]), json={"content": "wrong channel"})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await bob.get(thread(c, "not-a-uuid"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    elsewhere = await alice.send(other["id"], "elsewhere")
    r = await bob.post(thread(c, root["id"]), json={"content": "x", "reply_to": elsewhere["id"]})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")


async def test_search_read_state_and_mentions(shared: Running, users: Users) -> None:
    alice, bob, srv, chan = await pair(users)
    c = chan["id"]
    root = await alice.send(c, "root message")
    await bob.post(f"/channels/{c}/ack")
    await alice.post(thread(c, root["id"]), json={"content": f"zanzibar plans @{bob.user['username']}"})
    hits = (await bob.get(f"/servers/{srv['id']}/search", params={"q": "zanzibar"})).json()
    assert [h["content"] for h in hits["results"]] == [f"zanzibar plans @{bob.user['username']}"]
    async with connect(shared.url, bob.token) as gb:
        ready = gb.ready
        assert {"channel_id": c, "unread_count": 1} in ready["unread_counts"]
        assert {"channel_id": c, "count": 1} in ready["mention_counts"]
    assert (await bob.post(f"/channels/{c}/ack")).status_code == 204
    async with connect(shared.url, bob.token) as gb:
        assert all(u["channel_id"] != c for u in gb.ready["unread_counts"])
        assert all(u["channel_id"] != c for u in gb.ready["mention_counts"])


async def test_delete_root_deletes_replies(users: Users, record: Any) -> None:
    alice, bob, srv, chan = await pair(users)
    c = chan["id"]
    root = await alice.send(c, "root to go")
    replies = [(await bob.post(thread(c, root["id"]), json={"content": f"quokka {i}"})).json() for i in range(3)]
    # deleting one reply updates the root's count
    rb = record(bob)
    assert (await bob.delete(f"/messages/{replies[0]['id']}")).status_code == 204
    assert rb.types() == ["MESSAGE_DELETE", "MESSAGE_UPDATE"]
    assert rb.of("MESSAGE_UPDATE")[0]["thread_reply_count"] == 2
    rb.clear()
    assert (await alice.delete(f"/messages/{root['id']}")).status_code == 204
    assert rb.of("MESSAGE_DELETE") == [{"id": m["id"], "channel_id": c} for m in (*replies[1:], root)]
    for m in replies:
        r = await bob.get(f"/channels/{c}/messages/{m['id']}")
        assert r.status_code == 404
    hits = (await bob.get(f"/servers/{srv['id']}/search", params={"q": "quokka"})).json()
    assert hits["results"] == []
    r = await bob.get(thread(c, root["id"]))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
