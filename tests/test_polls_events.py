"""Polls and scheduled events (issue 12): messages carrying ``poll`` / ``event``, voting
(change, withdraw, closed), live POLL_VOTE, the event list, deletion with the message."""

from __future__ import annotations

from typing import Any

import trio
from conftest import Api, Users
from test_gateway_client import connect
from test_gateway_events import kinds, seen_before_sentinel

from together_server.clock import ts_after_seconds
from together_server.daemon import Running


async def pair(users: Users) -> tuple[Api, Api, dict[str, Any], dict[str, Any]]:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Polls")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, srv, chan


async def test_poll_create_vote_change_withdraw_live(shared: Running, users: Users) -> None:
    alice, bob, _srv, chan = await pair(users)
    c = chan["id"]
    async with connect(shared.url, bob.token) as gb:
        await seen_before_sentinel(gb, bob)
        r = await alice.post(f"/channels/{c}/polls", json={"question": "Map?", "options": ["Dust", "Inferno", "Nuke"]})
        assert r.status_code == 201, r.text
        msg = r.json()
        poll = msg["poll"]
        assert msg["channel_id"] == c and "Map?" in msg["content"]
        assert [o["text"] for o in poll["options"]] == ["Dust", "Inferno", "Nuke"]
        assert poll["total_votes"] == 0 and poll["user_vote"] is None and poll["closed"] is False
        got = await seen_before_sentinel(gb, bob)
        assert kinds(got) == ["MESSAGE_CREATE"] and got[0]["d"]["poll"]["id"] == poll["id"]
        dust, inferno = poll["options"][0]["id"], poll["options"][1]["id"]
        r = await bob.post(f"/polls/{poll['id']}/vote", json={"option_id": dust})
        assert r.status_code == 200, r.text
        assert r.json()["user_vote"] == dust and r.json()["options"][0]["votes"] == 1
        r = await alice.post(f"/polls/{poll['id']}/vote", json={"option_id": inferno})
        got = await seen_before_sentinel(gb, bob)
        assert kinds(got) == ["POLL_VOTE", "POLL_VOTE"]
        last = got[1]["d"]
        assert last["poll_id"] == poll["id"] and last["channel_id"] == c
        assert last["updated_poll"]["total_votes"] == 2
        assert last["updated_poll"]["user_vote"] == dust  # bob's own view
    # change, then withdraw
    r = await bob.post(f"/polls/{poll['id']}/vote", json={"option_id": inferno})
    assert [o["votes"] for o in r.json()["options"]] == [0, 2, 0] and r.json()["user_vote"] == inferno
    r = await bob.post(f"/polls/{poll['id']}/vote", json={"option_id": None})
    assert r.json()["user_vote"] is None and r.json()["total_votes"] == 1
    got = (await alice.get(f"/polls/{poll['id']}")).json()
    assert got["user_vote"] == inferno and got["total_votes"] == 1
    listed = (await bob.get(f"/channels/{c}/messages")).json()
    assert listed[0]["poll"]["id"] == poll["id"] and listed[0]["poll"]["user_vote"] is None


async def test_poll_validation_multi_choice_and_closed(users: Users) -> None:
    alice, bob, _srv, chan = await pair(users)
    carol = await users.new("carol")
    c = chan["id"]
    for bad in ({"question": "q", "options": ["one"]}, {"question": "q", "options": [str(i) for i in range(11)]},
                {"question": "q", "options": ["a", ""]}, {"question": "", "options": ["a", "b"]},
                {"question": "q", "options": "ab"}, {"question": "q", "options": ["a", 3]},
                {"question": "q", "options": ["a", "b"], "ends_at": "tomorrow"},
                {"question": "q", "options": ["a", "b"], "ends_at": "2020-01-01T00:00:00Z"}):
        r = await alice.post(f"/channels/{c}/polls", json=bad)
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed"), bad
    r = await carol.post(f"/channels/{c}/polls", json={"question": "q", "options": ["a", "b"]})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    multi = (await alice.post(f"/channels/{c}/polls", json={
        "question": "Snacks?", "options": ["chips", "pizza", "fruit"], "multi_choice": True})).json()["poll"]
    ids = [o["id"] for o in multi["options"]]
    r = await bob.post(f"/polls/{multi['id']}/vote", json={"option_ids": ids[:2]})
    assert r.json()["user_votes"] == ids[:2] and r.json()["total_votes"] == 1
    single = (await alice.post(f"/channels/{c}/polls", json={"question": "One?", "options": ["a", "b"]})).json()["poll"]
    sids = [o["id"] for o in single["options"]]
    r = await bob.post(f"/polls/{single['id']}/vote", json={"option_ids": sids})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await bob.post(f"/polls/{single['id']}/vote", json={"option_id": ids[0]})  # another poll's option
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await bob.post(f"/polls/{single['id']}/vote", json={})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await carol.get(f"/polls/{single['id']}")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_poll")
    r = await bob.get("/polls/nope")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_poll")
    ends = ts_after_seconds(1.0)
    short = (await alice.post(f"/channels/{c}/polls", json={
        "question": "Quick?", "options": ["y", "n"], "ends_at": ends})).json()["poll"]
    assert short["ends_at"] == ends
    await trio.sleep(1.1)
    r = await bob.post(f"/polls/{short['id']}/vote", json={"option_id": short["options"][0]["id"]})
    assert (r.status_code, r.json()["code"]) == (400, "poll_closed")
    assert (await bob.get(f"/polls/{short['id']}")).json()["closed"] is True


async def test_poll_and_event_deleted_with_message(users: Users) -> None:
    alice, bob, srv, chan = await pair(users)
    c = chan["id"]
    msg = (await alice.post(f"/channels/{c}/polls", json={"question": "Gone?", "options": ["a", "b"]})).json()
    ev = (await alice.post(f"/channels/{c}/events", json={
        "name": "Gone night", "starts_at": ts_after_seconds(3600)})).json()
    assert (await alice.delete(f"/messages/{msg['id']}")).status_code == 204
    assert (await alice.delete(f"/messages/{ev['id']}")).status_code == 204
    r = await bob.get(f"/polls/{msg['poll']['id']}")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_poll")
    assert (await bob.get(f"/servers/{srv['id']}/events")).json() == []


async def test_events_create_list_order(shared: Running, users: Users) -> None:
    alice, bob, srv, chan = await pair(users)
    carol = await users.new("carol")
    c = chan["id"]
    async with connect(shared.url, bob.token) as gb:
        await seen_before_sentinel(gb, bob)
        r = await alice.post(f"/channels/{c}/events", json={
            "name": "LAN night", "description": "Bring a cable", "starts_at": "2099-03-27T21:00:00+01:00"})
        assert r.status_code == 201, r.text
        later = r.json()
        got = await seen_before_sentinel(gb, bob)
        assert kinds(got) == ["MESSAGE_CREATE"] and got[0]["d"]["event"]["name"] == "LAN night"
    ev = later["event"]
    assert ev["starts_at"] == "2099-03-27T20:00:00.000000Z" and ev["description"] == "Bring a cable"
    assert ev["created_by"] == alice.id and ev["server_id"] == srv["id"] and ev["message_id"] == later["id"]
    soon = (await alice.post(f"/channels/{c}/events", json={"name": "Soon", "starts_at": ts_after_seconds(600)})).json()
    past = (await alice.post(f"/channels/{c}/events", json={"name": "Past", "starts_at": "2001-01-01T00:00:00Z"})).json()
    listed = (await bob.get(f"/servers/{srv['id']}/events")).json()
    assert [e["name"] for e in listed] == ["Soon", "LAN night", "Past"]
    assert listed[0]["id"] == soon["event"]["id"] and listed[2]["id"] == past["event"]["id"]
    assert (await bob.get(f"/channels/{c}/messages")).json()[0]["event"]["name"] == "Past"
    for bad in ({"name": "x"}, {"name": "", "starts_at": "2099-01-01T00:00:00Z"},
                {"name": "x", "starts_at": "2099-01-01T00:00:00"},
                {"name": "x", "starts_at": "2099-01-01T10:00:00Z", "ends_at": "2099-01-01T09:00:00Z"}):
        r = await alice.post(f"/channels/{c}/events", json=bad)
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed"), bad
    r = await carol.get(f"/servers/{srv['id']}/events")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_server")


async def test_dates_past_the_range_once_in_utc_are_400_not_500(users: Users) -> None:
    """RFC 3339 values valid as written but outside year 1970-9999 in UTC (an offset pushes them
    over) are 400 validation_failed naming the field, for events and polls alike."""
    alice = await users.new("alice")
    srv = await alice.server("Dates")
    c = (await alice.channel(srv["id"], "general"))["id"]
    for when in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"):
        r = await alice.post(f"/channels/{c}/events", json={"name": "x", "starts_at": when})
        assert (r.status_code, r.json()["code"], list(r.json()["errors"])) == (400, "validation_failed", ["starts_at"])
        r = await alice.post(f"/channels/{c}/polls", json={"question": "x", "options": ["a", "b"], "ends_at": when})
        assert (r.status_code, r.json()["code"], list(r.json()["errors"])) == (400, "validation_failed", ["ends_at"])
