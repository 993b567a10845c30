"""Servers, membership, invites, channels, health, empty collections and the authorization
rules (anonymous 401, non-member 404, member, owner) of every core route
(API.md §1.6, §3.3, §3.4, §4.2 first half, §4.3, §4.12, §4.13).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from conftest import Api, Users
from test_core_badinput import check_error

from together_server.clock import parse_ts


@pytest.fixture
async def world(users: Users) -> dict[str, Any]:
    owner, member, outsider = await users.new("o"), await users.new("m"), await users.new("x")
    srv = await owner.server("Authz", is_public=False)
    chan = await owner.channel(srv["id"])
    await owner.invite_and_join(srv["id"], member)
    msg = await member.send(chan["id"], "member's message")
    own_msg = await owner.send(chan["id"], "owner's message")
    inv = (await owner.post(f"/servers/{srv['id']}/invites", json={})).json()
    return {"owner": owner, "member": member, "outsider": outsider, "srv": srv, "chan": chan,
            "msg": msg, "own_msg": own_msg, "inv": inv}


def routes(w: dict[str, Any]) -> list[tuple[str, str, Any, str, int, int]]:
    """(method, path, body, non-member 404 code, member status, owner status)."""
    s, c, m, o, i = w["srv"]["id"], w["chan"]["id"], w["msg"]["id"], w["own_msg"]["id"], w["inv"]["id"]
    return [
        ("GET", f"/servers/{s}", None, "unknown_server", 200, 200),
        ("PATCH", f"/servers/{s}", {"name": "renamed"}, "unknown_server", 403, 200),
        ("GET", f"/servers/{s}/channels", None, "unknown_server", 200, 200),
        ("POST", f"/servers/{s}/channels", {"name": "new", "type": "text"}, "unknown_server", 403, 201),
        ("GET", f"/servers/{s}/channels/{c}", None, "unknown_server", 200, 200),
        ("GET", f"/channels/{c}", None, "unknown_channel", 200, 200),
        ("PATCH", f"/channels/{c}", {"topic": "t"}, "unknown_channel", 403, 200),
        ("PATCH", f"/servers/{s}/channels/{c}", {"topic": "t2"}, "unknown_server", 403, 200),
        ("GET", f"/channels/{c}/messages", None, "unknown_channel", 200, 200),
        ("POST", f"/channels/{c}/messages", {"content": "hi"}, "unknown_channel", 201, 201),
        ("GET", f"/channels/{c}/messages/{m}", None, "unknown_channel", 200, 200),
        ("GET", f"/messages/{m}/attachments", None, "unknown_message", 200, 200),
        ("PATCH", f"/messages/{o}", {"content": "edit"}, "unknown_message", 403, 200),
        ("GET", f"/servers/{s}/members", None, "unknown_server", 200, 200),
        ("GET", f"/servers/{s}/emojis", None, "unknown_server", 200, 200),
        ("GET", f"/servers/{s}/invites", None, "unknown_server", 403, 200),
        ("POST", f"/servers/{s}/invites", {}, "unknown_server", 403, 201),
        ("DELETE", f"/servers/{s}/invites/{i}", None, "unknown_server", 403, 204),
        ("DELETE", f"/messages/{o}", None, "unknown_message", 403, 204),
        ("DELETE", f"/servers/{s}/channels/{c}", None, "unknown_server", 403, 204),
        ("DELETE", f"/servers/{s}", None, "unknown_server", 403, 204),
    ]


async def test_authorization_rules_of_every_core_route(world: dict[str, Any]) -> None:
    owner, member, outsider = world["owner"], world["member"], world["outsider"]
    for method, path, body, hidden, member_status, owner_status in routes(world):
        r = await owner.request(method, path, json=body, auth=False)
        check_error(r, 401, "missing_token")
        assert r.headers["www-authenticate"] == "Bearer"
        r = await outsider.request(method, path, json=body)
        check_error(r, 404, hidden)
        r = await member.request(method, path, json=body)
        assert r.status_code == member_status, (method, path, r.text)
        if member_status == 403:
            check_error(r, 403, "not_owner" if (method, path) == ("DELETE", f"/servers/{world['srv']['id']}")
                        else "missing_permission")
        r = await owner.request(method, path, json=body)
        assert r.status_code == owner_status, (method, path, r.text)
    # the server is gone now (last route): everything about it is 404
    for method, path, body, _hidden, _m, _o in routes(world):
        for api in (owner, member):
            r = await api.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)


async def test_routes_without_auth(users: Users) -> None:
    anon = users.anonymous()
    r = await anon.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await anon.get("/instance/registration-mode")
    assert r.status_code == 200 and r.json() == {"registration_mode": "open"}
    for path in ("/users/@me", "/servers", "/servers/browse", "/server-templates", "/invites/ABCDEFGH"):
        r = await anon.get(path)
        check_error(r, 401, "missing_token")
    alice = await users.new("t")
    assert [t["id"] for t in (await alice.get("/server-templates")).json()][:1] == ["gaming"]


async def test_server_crud(users: Users) -> None:
    alice = await users.new("crud")
    r = await alice.post("/servers", json={"name": "  Spaced  ", "icon_url": "https://i.example/x.png"})
    assert r.status_code == 201
    srv = r.json()
    assert srv["name"] == "  Spaced  " and srv["owner_id"] == alice.id and srv["member_count"] == 1
    assert srv["is_public"] is False and srv["require_invite"] is False
    assert (await alice.get(f"/servers/{srv['id']}/channels")).json() == []
    r = await alice.patch(f"/servers/{srv['id']}", json={"name": None, "icon_url": "", "is_public": True})
    body = r.json()
    assert body["name"] == "  Spaced  " and body["icon_url"] is None and body["is_public"] is True
    assert parse_ts(body["updated_at"]) >= parse_ts(srv["updated_at"])
    for bad in ({"name": ""}, {"name": "n" * 101}, {"icon_url": "nope"}, {"template_id": "abc"}):
        check_error(await alice.post("/servers", json={"name": "x", **bad}), 400, "validation_failed", next(iter(bad)))
    assert (await alice.post("/servers", json={"name": "n" * 100, "template_id": None})).status_code == 201
    r = await alice.patch(f"/servers/{srv['id']}", json={"owner_id": "00000000-0000-7000-8000-000000000000"})
    assert r.status_code == 200 and r.json()["owner_id"] == alice.id
    listed = (await alice.get("/servers")).json()
    assert [s["created_at"] for s in listed] == sorted(s["created_at"] for s in listed)


async def test_join_leave_members_and_check_order(users: Users) -> None:
    owner, bob, carol = await users.new("o"), await users.new("b"), await users.new("c")
    pub = await owner.server("Public", is_public=True)
    priv = await owner.server("Private")
    gated = await owner.server("Gated", is_public=True, require_invite=True)
    r = await bob.post(f"/servers/{pub['id']}/join")
    assert r.status_code == 201 and r.json() == {"message": "Joined server", "server_id": pub["id"]}
    check_error(await bob.post(f"/servers/{pub['id']}/join"), 409, "already_member")
    check_error(await bob.post(f"/servers/{priv['id']}/join"), 404, "unknown_server")
    check_error(await bob.post(f"/servers/{gated['id']}/join"), 403, "invite_required")
    check_error(await owner.post(f"/servers/{priv['id']}/join"), 409, "already_member")
    check_error(await bob.post("/servers/00000000-0000-7000-8000-000000000000/join"), 404, "unknown_server")
    await owner.invite_and_join(gated["id"], carol)
    check_error(await carol.post(f"/servers/{gated['id']}/join"), 409, "already_member")
    await carol.post(f"/servers/{pub['id']}/join")
    members = (await owner.get(f"/servers/{pub['id']}/members")).json()
    assert [m["user_id"] for m in members] == [owner.id, bob.id, carol.id]
    assert set(members[0]) == {"user_id", "username", "avatar_url", "status", "custom_status", "nickname",
                               "joined_at", "roles", "is_bot", "timed_out_until"}
    assert members[0]["nickname"] is None and members[0]["roles"] == []
    assert (await bob.get(f"/servers/{pub['id']}")).json()["member_count"] == 3
    check_error(await owner.delete(f"/servers/{pub['id']}/leave"), 400, "owner_cannot_leave")
    r = await bob.delete(f"/servers/{pub['id']}/leave")
    assert r.status_code == 204 and r.content == b""
    check_error(await bob.delete(f"/servers/{pub['id']}/leave"), 404, "unknown_server")
    check_error(await bob.get(f"/servers/{pub['id']}"), 404, "unknown_server")
    assert (await owner.get(f"/servers/{pub['id']}")).json()["member_count"] == 2
    assert pub["id"] not in [s["id"] for s in (await bob.get("/servers")).json()]
    assert (await bob.post(f"/servers/{pub['id']}/join")).status_code == 201


async def test_browse_ordering(users: Users) -> None:
    owner, a, b, viewer = [await users.new(n) for n in ("o", "a", "b", "v")]
    small = await owner.server("small", is_public=True)
    big = await owner.server("big", is_public=True)
    newer = await owner.server("newer", is_public=True)
    hidden = await owner.server("hidden")
    mine = await viewer.server("mine", is_public=True)
    for api in (a, b):
        await api.post(f"/servers/{big['id']}/join")
    await a.post(f"/servers/{small['id']}/join")
    listed = (await viewer.get("/servers/browse")).json()
    ids = [s["id"] for s in listed]
    # every public server, the caller's own and joined ones included (issue 12)
    assert hidden["id"] not in ids and mine["id"] in ids
    keys = [(-s["member_count"], s["created_at"]) for s in listed]
    assert all(k1[0] < k2[0] or (k1[0] == k2[0] and k1[1] >= k2[1]) for k1, k2 in zip(keys, keys[1:], strict=False))
    assert ids.index(big["id"]) < ids.index(small["id"]) < ids.index(newer["id"])
    r = await a.get("/servers/browse")
    assert big["id"] in [s["id"] for s in r.json()]  # a joined one is listed too


async def test_invites(users: Users) -> None:
    owner, bob, carol, dave = [await users.new(n) for n in ("o", "b", "c", "d")]
    srv = await owner.server("Inv", icon_url="https://i.example/i.png")
    r = await owner.post(f"/servers/{srv['id']}/invites", json={"max_uses": 2, "expires_in_hours": 1})
    assert r.status_code == 201
    inv = r.json()
    assert set(inv) == {"id", "server_id", "code", "created_by", "max_uses", "uses", "expires_at", "created_at"}
    assert len(inv["code"]) == 8 and inv["code"].isascii() and inv["code"].isalnum()
    assert inv["uses"] == 0 and inv["max_uses"] == 2 and inv["created_by"] == owner.id
    delta = parse_ts(inv["expires_at"]) - parse_ts(inv["created_at"])
    assert delta.total_seconds() == 3600
    never = (await owner.post(f"/servers/{srv['id']}/invites", json={"max_uses": None, "expires_in_hours": None})).json()
    assert never["max_uses"] is None and never["expires_at"] is None
    r = await owner.post(f"/servers/{srv['id']}/invites", json={"expires_in_hours": 720})
    assert (parse_ts(r.json()["expires_at"]) - parse_ts(r.json()["created_at"])).total_seconds() == 720 * 3600
    for bad in ({"expires_in_hours": 0}, {"expires_in_hours": 721}, {"max_uses": 0}, {"max_uses": 1.5}):
        check_error(await owner.post(f"/servers/{srv['id']}/invites", json=bad), 400, "validation_failed",
                    next(iter(bad)))
    r = await bob.get(f"/invites/{inv['code']}")
    assert r.status_code == 200
    assert r.json() == {"code": inv["code"], "server_id": srv["id"], "server_name": "Inv",
                        "server_icon_url": "https://i.example/i.png", "member_count": 1,
                        "expires_at": inv["expires_at"]}
    for code in ("ZZZZZZZZ", "short", inv["code"].swapcase() if inv["code"].swapcase() != inv["code"] else "AAAAAAAA",
                 inv["code"] + "x"):
        check_error(await bob.get(f"/invites/{code}"), 404, "unknown_invite")
        check_error(await bob.post(f"/invites/{code}/accept"), 404, "unknown_invite")
    r = await bob.post(f"/invites/{inv['code']}/accept")
    assert r.status_code == 201 and r.json() == {"message": "Joined server", "server_id": srv["id"]}
    check_error(await bob.post(f"/invites/{inv['code']}/accept"), 409, "already_member")
    listed = (await owner.get(f"/servers/{srv['id']}/invites")).json()
    assert [i["created_at"] for i in listed] == sorted((i["created_at"] for i in listed), reverse=True)
    assert next(i for i in listed if i["id"] == inv["id"])["uses"] == 1  # already_member used nothing
    # the last use, raced: exactly one accept wins
    results: list[httpx.Response] = []

    async def accept(api: Api) -> None:
        results.append(await api.post(f"/invites/{inv['code']}/accept"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept, carol)
        nursery.start_soon(accept, dave)
    assert sorted(r.status_code for r in results) == [201, 400], [r.text for r in results]
    check_error(next(r for r in results if r.status_code == 400), 400, "invite_expired")
    listed = (await owner.get(f"/servers/{srv['id']}/invites")).json()
    assert next(i for i in listed if i["id"] == inv["id"])["uses"] == 2  # used up, still listed
    check_error(await bob.get(f"/invites/{inv['code']}"), 404, "unknown_invite")
    # revoke
    r = await owner.delete(f"/servers/{srv['id']}/invites/{never['id']}")
    assert r.status_code == 204
    check_error(await owner.delete(f"/servers/{srv['id']}/invites/{never['id']}"), 404, "unknown_invite")
    check_error(await bob.post(f"/invites/{never['code']}/accept"), 404, "unknown_invite")


async def test_server_delete_hides_everything(users: Users) -> None:
    owner, bob = await users.new("o"), await users.new("b")
    srv = await owner.server("Doomed", is_public=True)
    chan = await owner.channel(srv["id"])
    await bob.post(f"/servers/{srv['id']}/join")
    msg = await bob.send(chan["id"], "soon gone")
    inv = (await owner.post(f"/servers/{srv['id']}/invites", json={})).json()
    check_error(await bob.delete(f"/servers/{srv['id']}"), 403, "not_owner")
    r = await owner.delete(f"/servers/{srv['id']}")
    assert r.status_code == 204 and r.content == b""
    for api in (owner, bob):
        assert srv["id"] not in [s["id"] for s in (await api.get("/servers")).json()]
        assert srv["id"] not in [s["id"] for s in (await api.get("/servers/browse")).json()]
        check_error(await api.get(f"/servers/{srv['id']}"), 404, "unknown_server")
        check_error(await api.get(f"/servers/{srv['id']}/members"), 404, "unknown_server")
        check_error(await api.get(f"/servers/{srv['id']}/channels"), 404, "unknown_server")
        check_error(await api.get(f"/channels/{chan['id']}"), 404, "unknown_channel")
        check_error(await api.get(f"/channels/{chan['id']}/messages"), 404, "unknown_channel")
        check_error(await api.post(f"/channels/{chan['id']}/messages", json={"content": "x"}), 404, "unknown_channel")
        check_error(await api.patch(f"/messages/{msg['id']}", json={"content": "x"}), 404, "unknown_message")
        check_error(await api.delete(f"/servers/{srv['id']}"), 404, "unknown_server")
        check_error(await api.post(f"/servers/{srv['id']}/join"), 404, "unknown_server")
        check_error(await api.get(f"/invites/{inv['code']}"), 404, "unknown_invite")
    check_error(await bob.delete(f"/servers/{srv['id']}/leave"), 404, "unknown_server")


async def test_channels(users: Users) -> None:
    owner, bob, other = await users.new("o"), await users.new("b"), await users.new("x")
    srv = await owner.server("Chan")
    srv2 = await other.server("Other")
    c2 = await other.channel(srv2["id"], "theirs")
    await owner.invite_and_join(srv["id"], bob)
    a = await owner.channel(srv["id"], "a")
    b = await owner.channel(srv["id"], "b", "voice")
    assert (a["position"], b["position"]) == (0, 1) and b["type"] == "voice"
    r = await owner.post(f"/servers/{srv['id']}/channels", json={"name": "c", "type": "text", "topic": "t" * 1024,
                                                                 "category": "k" * 100})
    assert r.status_code == 201 and r.json()["position"] == 2
    for bad in ({"name": "x", "type": "stage"}, {"name": "x"}, {"name": "   ", "type": "text"},
                {"name": "x", "type": "text", "topic": "t" * 1025}, {"name": "n" * 101, "type": "text"}):
        r = await owner.post(f"/servers/{srv['id']}/channels", json=bad)
        check_error(r, 400, "validation_failed")
    r = await owner.patch(f"/channels/{a['id']}", json={"position": 5, "topic": "hello", "category": ""})
    assert r.status_code == 200 and r.json()["position"] == 5 and r.json()["category"] is None
    check_error(await owner.patch(f"/channels/{a['id']}", json={"type": "voice"}), 400, "validation_failed", "type")
    check_error(await owner.patch(f"/channels/{a['id']}", json={"position": -1}), 400, "validation_failed", "position")
    listed = (await bob.get(f"/servers/{srv['id']}/channels")).json()
    assert [c["name"] for c in listed] == ["b", "c", "a"]
    # nested form with a channel of another server
    check_error(await owner.get(f"/servers/{srv['id']}/channels/{c2['id']}"), 404, "unknown_channel")
    check_error(await other.get(f"/servers/{srv2['id']}/channels/{a['id']}"), 404, "unknown_channel")
    check_error(await owner.patch(f"/servers/{srv['id']}/channels/{c2['id']}", json={"topic": "x"}), 404,
                "unknown_channel")
    check_error(await owner.delete(f"/servers/{srv['id']}/channels/{c2['id']}"), 404, "unknown_channel")
    assert (await owner.get(f"/servers/{srv['id']}/channels/{a['id']}")).json()["id"] == a["id"]
    # messages go with their channel
    msg = await bob.send(b["id"], "in voice text")
    assert (await owner.delete(f"/channels/{b['id']}")).status_code == 204
    check_error(await bob.get(f"/channels/{b['id']}"), 404, "unknown_channel")
    check_error(await bob.patch(f"/messages/{msg['id']}", json={"content": "x"}), 404, "unknown_message")
    check_error(await bob.get(f"/messages/{msg['id']}/attachments"), 404, "unknown_message")


async def test_health_and_empty_collections(users: Users) -> None:
    owner, outsider = await users.new("o"), await users.new("x")
    srv = await owner.server("E")
    chan = await owner.channel(srv["id"])
    msg = await owner.send(chan["id"], "m")
    assert (await owner.get(f"/servers/{srv['id']}/emojis")).json() == []
    assert (await owner.get(f"/messages/{msg['id']}/attachments")).json() == []
    check_error(await outsider.get(f"/servers/{srv['id']}/emojis"), 404, "unknown_server")
    check_error(await outsider.get(f"/messages/{msg['id']}/attachments"), 404, "unknown_message")
    await owner.delete(f"/messages/{msg['id']}")
    check_error(await owner.get(f"/messages/{msg['id']}/attachments"), 404, "unknown_message")
