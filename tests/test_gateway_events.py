"""Dispatch events and their audiences (API.md §6.7, FIELD-CASES F16, F17): who gets each
event, who must not, and ordering under concurrent posts.

"Must not receive" is checked without timing: each observer then makes a change only it
(and its co-members) hear about (``USER_UPDATE`` of its own bio). Events reach every
session in commit order, so anything not seen before that sentinel never comes.
"""

from __future__ import annotations

import itertools
from typing import Any

import trio
from conftest import Api, Users
from test_gateway_client import Gw, connect

from together_server.daemon import Running

_marks = itertools.count()


async def seen_before_sentinel(gw: Gw, api: Api) -> list[dict[str, Any]]:
    """Dispatches ``gw`` gets before its own sentinel (others' USER_UPDATEs left out)."""
    mark = f"sentinel {next(_marks)}"
    r = await api.patch("/users/@me", json={"bio": mark})
    assert r.status_code == 200, r.text
    _, skipped = await gw.until("USER_UPDATE", lambda d: d["id"] == api.id and d["bio"] == mark)
    return [m for m in skipped if m["op"] == "DISPATCH" and m["t"] != "USER_UPDATE"]


def kinds(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["t"] for m in msgs]


async def trio_of(users: Users) -> tuple[Api, Api, Api, dict[str, Any], dict[str, Any]]:
    """alice owns a server with #general; bob is a member; carol is an outsider."""
    alice, bob, carol = await users.new("alice"), await users.new("bob"), await users.new("carol")
    srv = await alice.server("Events")
    chan = await alice.channel(srv["id"], "general")
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, carol, srv, chan


async def test_message_events_reach_viewers_only(shared: Running, users: Users) -> None:
    alice, bob, carol, srv, chan = await trio_of(users)
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb, \
            connect(shared.url, carol.token) as gc:
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            await seen_before_sentinel(gw, api)  # presence chatter of the connects
        m = await alice.send(chan["id"], "hello @" + bob.user["username"])
        r = await bob.patch(f"/messages/{m['id']}", json={"content": "nope"})
        assert r.status_code == 403
        r = await alice.patch(f"/messages/{m['id']}", json={"content": "edited"})
        assert r.status_code == 200
        r = await alice.delete(f"/messages/{m['id']}")
        assert r.status_code == 204
        for gw, api in ((ga, alice), (gb, bob)):
            got = await seen_before_sentinel(gw, api)
            assert kinds(got) == ["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"]
            assert got[0]["d"]["id"] == m["id"] and got[0]["d"]["mention_user_ids"] == [bob.id]
            assert got[1]["d"]["content"] == "edited"
            assert got[2]["d"] == {"id": m["id"], "channel_id": chan["id"]}
        assert await seen_before_sentinel(gc, carol) == []


async def test_server_channel_member_events(shared: Running, users: Users) -> None:
    alice, bob, carol, srv, chan = await trio_of(users)
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb, \
            connect(shared.url, carol.token) as gc:
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            await seen_before_sentinel(gw, api)
        assert (await alice.patch(f"/servers/{srv['id']}", json={"name": "Renamed"})).status_code == 200
        new = await alice.channel(srv["id"], "random")
        r = await alice.patch(f"/channels/{new['id']}", json={"topic": "t"})
        assert r.status_code == 200
        assert (await alice.delete(f"/channels/{new['id']}")).status_code == 204
        await alice.invite_and_join(srv["id"], carol)  # INVITE_CREATE, SERVER_CREATE, MEMBER_JOIN
        got_a = await seen_before_sentinel(ga, alice)
        # (connect presence is not in commit order, gateway.presence: it may arrive late)
        assert [k for k in kinds(got_a) if k != "PRESENCE_UPDATE"] == ["SERVER_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE",
                                "INVITE_CREATE", "MEMBER_JOIN"]
        got_b = await seen_before_sentinel(gb, bob)
        assert [k for k in kinds(got_b) if k != "PRESENCE_UPDATE" and k != "INVITE_CREATE"] == [
            "SERVER_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE", "MEMBER_JOIN"]
        assert got_b[0]["d"]["name"] == "Renamed"
        got_c = await seen_before_sentinel(gc, carol)
        # The outsider learns nothing until it joins; then its SERVER_CREATE and MEMBER_JOIN.
        assert [k for k in kinds(got_c) if k != "PRESENCE_UPDATE"] == ["SERVER_CREATE", "MEMBER_JOIN"]
        assert got_c[0]["d"]["id"] == srv["id"] and got_c[1]["d"]["user_id"] == carol.id
        # Joining makes carol a co-member: she hears alice's and bob's presence from now on.
        r = await carol.delete(f"/servers/{srv['id']}/leave")
        assert r.status_code == 204, r.text
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            got = await seen_before_sentinel(gw, api)
            assert kinds(got) == ["MEMBER_LEAVE"] and got[0]["d"] == {"server_id": srv["id"], "user_id": carol.id}


async def test_kicked_member_stops_receiving_at_once(shared: Running, users: Users) -> None:
    """F16: the subject gets the event about its own removal, then nothing from S."""
    alice, bob, carol, srv, chan = await trio_of(users)
    await alice.invite_and_join(srv["id"], carol)
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb, \
            connect(shared.url, carol.token) as gc:
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            await seen_before_sentinel(gw, api)
        await alice.send(chan["id"], "before")
        r = await alice.post(f"/servers/{srv['id']}/members/{bob.id}/kick", json={"reason": "bye"})
        assert r.status_code == 204, r.text
        await alice.send(chan["id"], "after")
        await gc.send("TYPING_START", {"channel_id": chan["id"]})
        await gc.sync()
        assert (await alice.patch(f"/servers/{srv['id']}", json={"name": "Without bob"})).status_code == 200
        await ga.send("PRESENCE_UPDATE", {"status": "dnd"})
        await ga.sync()
        got_b = await seen_before_sentinel(gb, bob)
        assert kinds(got_b) == ["MESSAGE_CREATE", "MEMBER_KICK"]
        assert got_b[1]["d"] == {"server_id": srv["id"], "user_id": bob.id, "reason": "bye"}
        got_c = await seen_before_sentinel(gc, carol)
        assert kinds(got_c) == ["MESSAGE_CREATE", "MEMBER_KICK", "MESSAGE_CREATE", "TYPING_START",
                                "SERVER_UPDATE", "PRESENCE_UPDATE"]
        assert got_c[3]["d"]["user_id"] == carol.id and "email" not in got_c[3]["d"]
        assert got_c[5]["d"] == {"user_id": alice.id, "status": "dnd", "custom_status": None, "activity": None}
        r = await bob.get(f"/channels/{chan['id']}/messages")
        assert r.status_code == 404


async def test_typing_needs_view_and_send(shared: Running, users: Users) -> None:
    """F17: typing from outsiders, bad ids, denied senders and timed-out members is dropped."""
    alice, bob, carol, srv, chan = await trio_of(users)
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb, \
            connect(shared.url, carol.token) as gc:
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            await seen_before_sentinel(gw, api)
        for d in ({"channel_id": chan["id"]}, {"channel_id": "0190a000-0000-7000-8000-000000000001"},
                  {"channel_id": "not-a-uuid"}, None):
            await gc.send("TYPING_START", d)
        assert await gc.sync() == []
        # bob is denied SEND_MESSAGES in the channel by a user override.
        r = await alice.put(f"/channels/{chan['id']}/overrides", json={"user_id": bob.id, "allow": 0, "deny": 2})
        assert r.status_code == 200, r.text
        await gb.send("TYPING_START", {"channel_id": chan["id"]})
        await gb.sync()
        got = await seen_before_sentinel(ga, alice)
        assert "TYPING_START" not in kinds(got)
        r = await alice.delete(f"/channels/{chan['id']}/overrides/{r.json()['id']}")
        assert r.status_code == 204
        # A timed-out member may not type either.
        r = await alice.post(f"/servers/{srv['id']}/members/{bob.id}/timeout", json={"duration_minutes": 1})
        assert r.status_code == 200, r.text
        if True:
            await gb.send("TYPING_START", {"channel_id": chan["id"]})
            await gb.sync()
            assert "TYPING_START" not in kinds(await seen_before_sentinel(ga, alice))
            r = await alice.delete(f"/servers/{srv['id']}/members/{bob.id}/timeout")
            assert r.status_code == 204
        # A legitimate typist reaches every viewer, itself included, once per 5 s.
        await ga.send("TYPING_START", {"channel_id": chan["id"]})
        await ga.send("TYPING_START", {"channel_id": chan["id"]})
        await ga.sync()
        for gw, api in ((ga, alice), (gb, bob)):
            got = await seen_before_sentinel(gw, api)
            typing = [m for m in got if m["t"] == "TYPING_START"]
            assert len(typing) == 1
            d = typing[0]["d"]
            assert set(d) == {"user_id", "username", "channel_id", "timestamp"}
            assert d["user_id"] == alice.id and d["username"] == alice.user["username"]
        assert await seen_before_sentinel(gc, carol) == []


async def test_presence_audience_and_echo(shared: Running, users: Users) -> None:
    alice, bob, carol, srv, chan = await trio_of(users)
    async with connect(shared.url, bob.token) as gb, connect(shared.url, carol.token) as gc:
        await seen_before_sentinel(gb, bob)
        await seen_before_sentinel(gc, carol)
        async with connect(shared.url, alice.token) as ga1, connect(shared.url, alice.token) as ga2:
            got = await seen_before_sentinel(gb, bob)
            assert [m["d"] for m in got] == [
                {"user_id": alice.id, "status": "online", "custom_status": None, "activity": None}]
            await seen_before_sentinel(ga1, alice)
            await seen_before_sentinel(ga2, alice)
            await ga1.send("PRESENCE_UPDATE", {"status": "away", "custom_status": "lunch", "activity": ""})
            echo = [m for m in await ga1.sync() if m["t"] != "USER_UPDATE"]
            assert echo == []  # no echo to the sender
            want = {"user_id": alice.id, "status": "away", "custom_status": "lunch", "activity": None}
            assert [m["d"] for m in await seen_before_sentinel(ga2, alice)] == [want]
            assert [m["d"] for m in await seen_before_sentinel(gb, bob)] == [want]
            # The same op again changes nothing others see: nothing is sent.
            await ga1.send("PRESENCE_UPDATE", {"status": "away", "custom_status": "lunch"})
            await ga1.sync()
            assert await seen_before_sentinel(gb, bob) == []
            # 5 ops per rolling minute: the 3rd-5th apply, the 6th is dropped.
            for status in ("online", "dnd", "online", "away"):
                await ga1.send("PRESENCE_UPDATE", {"status": status})
            await ga1.sync()
            got = await seen_before_sentinel(gb, bob)
            assert [m["d"]["status"] for m in got] == ["online", "dnd", "online"]
            r = await alice.get("/users/@me")
            assert r.json()["chosen_status"] == "online"
        # The last session closed with 1000: offline, exactly once.
        # (announced after the close is noticed, not in commit order: wait for it)
        msg, skipped = await gb.until("PRESENCE_UPDATE", lambda d: d["user_id"] == alice.id)
        assert msg["d"]["status"] == "offline" and skipped == []
        assert await seen_before_sentinel(gb, bob) == []
        assert await seen_before_sentinel(gc, carol) == []


async def test_ordering_under_concurrent_posts(shared: Running, users: Users) -> None:
    alice, bob, carol, srv, chan = await trio_of(users)
    await alice.invite_and_join(srv["id"], carol)
    posted: list[str] = []
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb, \
            connect(shared.url, carol.token) as gc:
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            await seen_before_sentinel(gw, api)

        async def poster(api: Api, n: int) -> None:
            for i in range(n):
                m = await api.send(chan["id"], f"{api.user['username']} {i}")
                posted.append(m["id"])

        async with trio.open_nursery() as nursery:
            for api in (alice, bob, carol):
                nursery.start_soon(poster, api, 30)
        orders = []
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            got = await seen_before_sentinel(gw, api)
            ids = [m["d"]["id"] for m in got if m["t"] == "MESSAGE_CREATE"]
            assert sorted(ids) == sorted(posted) and len(ids) == 90
            assert ids == sorted(ids)  # UUIDv7 ids follow commit order
            orders.append(ids)
        assert orders[0] == orders[1] == orders[2]
