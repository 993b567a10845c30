"""Roles and member roles (API.md §4.4), their events and visibility changes (§6.7).

Events are observed at the storage level: the ``record`` fixture wraps the database's
publish hook and keeps, per user, the events whose audience includes them.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from conftest import Api, Users, make_config

from together_server.daemon import Running, run_daemon
from together_server.permissions import ALL, Permission

P = Permission


async def role(api: Api, server_id: str, **fields: Any) -> dict[str, Any]:
    r = await api.post(f"/servers/{server_id}/roles", json={"name": "r", **fields})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def give(api: Api, server_id: str, user_id: str, role_id: str, expect: int = 204) -> None:
    r = await api.put(f"/servers/{server_id}/members/{user_id}/roles/{role_id}")
    assert r.status_code == expect, r.text


async def setup(users: Users) -> tuple[Api, Api, dict[str, Any]]:
    owner, member = await users.new("owner"), await users.new("member")
    srv = await owner.server("Roles")
    await owner.invite_and_join(srv["id"], member)
    return owner, member, srv


async def test_create_list_edit_delete(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    low = await role(owner, sid, name="low", permissions=int(P.KICK_MEMBERS), color="#A0b0C0", position=1)
    assert low["server_id"] == sid and low["permissions"] == 256 and low["color"] == "#A0b0C0"
    assert set(low) == {"id", "server_id", "name", "permissions", "color", "position", "created_at"}
    dflt = await role(owner, sid, name="dflt")
    assert dflt["permissions"] == 0 and dflt["position"] == 0 and dflt["color"] is None
    high = await role(owner, sid, name="high", position=9)
    twin = await role(owner, sid, name="twin", position=1)
    r = await member.get(f"/servers/{sid}/roles")
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [high["id"], low["id"], twin["id"], dflt["id"]]
    # PATCH: absent/null stays, "" clears colour; moving one role never shifts others
    r = await owner.patch(f"/servers/{sid}/roles/{low['id']}", json={"color": "", "position": 20, "name": None})
    assert r.status_code == 200, r.text
    assert r.json()["color"] is None and r.json()["position"] == 20 and r.json()["name"] == "low"
    r = await owner.get(f"/servers/{sid}/roles")
    assert [(x["id"], x["position"]) for x in r.json()] == [
        (low["id"], 20), (high["id"], 9), (twin["id"], 1), (dflt["id"], 0)]
    r = await owner.delete(f"/servers/{sid}/roles/{low['id']}")
    assert r.status_code == 204
    r = await owner.patch(f"/servers/{sid}/roles/{low['id']}", json={"name": "x"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_role"


@pytest.mark.parametrize("payload, field", [
    ({"name": ""}, "name"), ({"name": "\u200b "}, "name"), ({"name": "x" * 101}, "name"),
    ({"name": "a", "permissions": 1 << 19}, "permissions"), ({"name": "a", "permissions": -1}, "permissions"),
    ({"name": "a", "permissions": 1.0}, "permissions"), ({"name": "a", "color": "red"}, "color"),
    ({"name": "a", "position": -1}, "position"), ({"name": "a", "hoist": True}, "hoist"), ({}, "name"),
])
async def test_create_validation(users: Users, payload: dict[str, Any], field: str) -> None:
    owner = await users.new("owner")
    srv = await owner.server()
    r = await owner.post(f"/servers/{srv['id']}/roles", json=payload)
    assert r.status_code == 400 and r.json()["code"] == "validation_failed"
    assert field in r.json()["errors"]


async def test_error_order_and_path_ids(users: Users) -> None:
    owner, member, srv = await setup(users)
    outsider = await users.new("out")
    sid = srv["id"]
    rl = await role(owner, sid)
    # non-member: 404 unknown_server, even for a real role
    for call in (outsider.get(f"/servers/{sid}/roles"), outsider.patch(f"/servers/{sid}/roles/{rl['id']}", json={}),
                 outsider.put(f"/servers/{sid}/members/{member.id}/roles/{rl['id']}")):
        r = await call
        assert r.status_code == 404 and r.json()["code"] == "unknown_server"
    # body first (400), then 404 unknown_role before 403 missing_permission
    r = await member.patch(f"/servers/{sid}/roles/{rl['id']}", json={"bogus": 1})
    assert r.status_code == 400
    missing = "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"
    r = await member.patch(f"/servers/{sid}/roles/{missing}", json={})
    assert r.json()["code"] == "unknown_role"
    r = await member.patch(f"/servers/{sid}/roles/{rl['id']}", json={})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await member.post(f"/servers/{sid}/roles", json={"name": "x"})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    # §1.3: first malformed segment decides: server, member, role
    r = await owner.put("/servers/bad/members/bad/roles/bad")
    assert r.json()["code"] == "unknown_server"
    r = await owner.put(f"/servers/{sid}/members/bad/roles/bad")
    assert r.json()["code"] == "unknown_member"
    r = await owner.put(f"/servers/{sid}/members/{member.id}/roles/bad")
    assert r.json()["code"] == "unknown_role"
    r = await owner.put(f"/servers/{sid}/members/{outsider.id}/roles/{rl['id']}")
    assert r.json()["code"] == "unknown_member"
    # a role of another server is unknown here
    other = await owner.server("other")
    foreign = await role(owner, other["id"])
    r = await owner.put(f"/servers/{sid}/members/{member.id}/roles/{foreign['id']}")
    assert r.status_code == 404 and r.json()["code"] == "unknown_role"


async def test_hierarchy(users: Users) -> None:
    owner, mod, srv = await setup(users)
    other = await users.new("other")
    await owner.invite_and_join(srv["id"], other)
    sid = srv["id"]
    modrole = await role(owner, sid, name="mod", permissions=int(P.MANAGE_ROLES | P.KICK_MEMBERS), position=5)
    await give(owner, sid, mod.id, modrole["id"])
    top = await role(owner, sid, name="top", position=7)
    same = await role(owner, sid, name="same", position=5)

    def code(r: Any) -> tuple[int, str | None]:
        return r.status_code, (r.json().get("code") if r.content else None)

    assert code(await mod.post(f"/servers/{sid}/roles", json={"name": "a", "position": 5})) == (403, "hierarchy")
    below = await role(mod, sid, name="below", position=4, permissions=int(P.KICK_MEMBERS))
    # granting a bit the caller lacks
    assert code(await mod.post(f"/servers/{sid}/roles", json={"name": "b", "permissions": int(P.BAN_MEMBERS)})) \
        == (403, "hierarchy")
    assert code(await mod.patch(f"/servers/{sid}/roles/{below['id']}",
                                json={"permissions": int(P.BAN_MEMBERS | P.KICK_MEMBERS)})) == (403, "hierarchy")
    # removing bits is fine; keeping an unheld bit that was already there is not "granting"
    r = await owner.patch(f"/servers/{sid}/roles/{below['id']}", json={"permissions": int(P.BAN_MEMBERS)})
    assert r.status_code == 200
    assert code(await mod.patch(f"/servers/{sid}/roles/{below['id']}", json={"name": "renamed"}))[0] == 200
    assert code(await mod.patch(f"/servers/{sid}/roles/{below['id']}", json={"permissions": 0}))[0] == 200
    # roles at or above H, and moves to >= H
    for target in (top, same):
        assert code(await mod.patch(f"/servers/{sid}/roles/{target['id']}", json={"name": "x"})) == (403, "hierarchy")
        assert code(await mod.delete(f"/servers/{sid}/roles/{target['id']}")) == (403, "hierarchy")
        assert code(await mod.put(f"/servers/{sid}/members/{other.id}/roles/{target['id']}")) == (403, "hierarchy")
    assert code(await mod.patch(f"/servers/{sid}/roles/{below['id']}", json={"position": 5})) == (403, "hierarchy")
    # assignment is by position only (the target's own rank does not matter)
    await give(owner, sid, other.id, top["id"])
    await give(mod, sid, other.id, below["id"])
    r = await mod.delete(f"/servers/{sid}/members/{other.id}/roles/{below['id']}")
    assert r.status_code == 204
    # the owner: nobody else removes their roles; the owner ignores the hierarchy
    await give(mod, sid, owner.id, below["id"])
    assert code(await mod.delete(f"/servers/{sid}/members/{owner.id}/roles/{below['id']}")) \
        == (403, "cannot_target_owner")
    assert code(await owner.delete(f"/servers/{sid}/members/{owner.id}/roles/{below['id']}")) == (204, None)
    assert code(await owner.patch(f"/servers/{sid}/roles/{top['id']}", json={"position": 2**31 - 1}))[0] == 200
    # ADMINISTRATOR may grant any bit, but stays under the position rules
    admin = await role(owner, sid, name="admin", permissions=int(P.ADMINISTRATOR), position=3)
    await give(owner, sid, other.id, admin["id"])
    await owner.delete(f"/servers/{sid}/members/{other.id}/roles/{top['id']}")
    r = await other.post(f"/servers/{sid}/roles", json={"name": "all", "permissions": ALL, "position": 2})
    assert r.status_code == 201
    assert code(await other.post(f"/servers/{sid}/roles", json={"name": "x", "position": 3})) == (403, "hierarchy")


async def test_member_roles_idempotent_and_rendered(users: Users, record: Any) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    a = await role(owner, sid, name="a", color="#112233", position=2)
    b = await role(owner, sid, name="b", position=2)
    c = await role(owner, sid, name="c", position=8)
    rec = record(owner)
    await give(owner, sid, member.id, a["id"])
    assert rec.events == [("MEMBER_ROLE_ADD", {"server_id": sid, "user_id": member.id, "role_id": a["id"],
                                               "role_name": "a", "role_color": "#112233"})]
    rec.clear()
    await give(owner, sid, member.id, a["id"])  # already held: 204, nothing sent
    assert rec.events == []
    await give(owner, sid, member.id, b["id"])
    await give(owner, sid, member.id, c["id"])
    r = await owner.get(f"/servers/{sid}/members")
    me = next(m for m in r.json() if m["user_id"] == member.id)
    assert [x["id"] for x in me["roles"]] == [c["id"], a["id"], b["id"]]
    assert set(me["roles"][0]) == {"id", "name", "color", "position"}
    rec.clear()
    r = await owner.delete(f"/servers/{sid}/members/{member.id}/roles/{b['id']}")
    assert r.status_code == 204
    assert rec.types() == ["MEMBER_ROLE_REMOVE"]
    rec.clear()
    r = await owner.delete(f"/servers/{sid}/members/{member.id}/roles/{b['id']}")
    assert r.status_code == 204 and rec.events == []


async def test_role_events_and_delete_side_effects(users: Users, record: Any) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    rec_o, rec_m = record(owner), record(member)
    rl = await role(owner, sid, name="r")
    assert rec_m.types() == ["ROLE_CREATE"] and rec_m.events[0][1] == rl
    await give(owner, sid, member.id, rl["id"])
    r = await owner.put(f"/channels/{chan['id']}/overrides", json={"role_id": rl["id"], "allow": 0, "deny": 2})
    assert r.status_code == 200
    ov = r.json()
    r = await owner.patch(f"/servers/{sid}/roles/{rl['id']}", json={"name": "r2"})
    assert rec_m.events[-1] == ("ROLE_UPDATE", r.json())
    rec_o.clear()
    rec_m.clear()
    r = await owner.delete(f"/servers/{sid}/roles/{rl['id']}")
    assert r.status_code == 204
    for rec in (rec_o, rec_m):
        assert rec.events == [
            ("ROLE_DELETE", {"server_id": sid, "role_id": rl["id"]}),
            ("CHANNEL_OVERRIDE_DELETE", {"channel_id": chan["id"], "override_id": ov["id"]}),
        ]
    r = await owner.get(f"/servers/{sid}/members")
    assert all(m["roles"] == [] for m in r.json())
    r = await owner.get(f"/channels/{chan['id']}/overrides")
    assert r.json() == []
    await member.send(chan["id"], "the role's deny went with it")


async def test_role_changes_show_and_hide_a_private_channel(users: Users, record: Any) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    private = await owner.channel(sid, "private")
    vip = await role(owner, sid, name="vip")
    for body in ({"role_id": sid, "allow": 0, "deny": 1}, {"role_id": vip["id"], "allow": 1, "deny": 0}):
        r = await owner.put(f"/channels/{private['id']}/overrides", json=body)
        assert r.status_code == 200, r.text
    r = await member.get(f"/servers/{sid}/channels")
    assert r.json() == []
    rec = record(member)
    await give(owner, sid, member.id, vip["id"])
    assert rec.types() == ["CHANNEL_CREATE", "MEMBER_ROLE_ADD"]
    assert rec.events[0][1] == private
    assert [c["id"] for c in (await member.get(f"/servers/{sid}/channels")).json()] == [private["id"]]
    rec.clear()
    r = await owner.delete(f"/servers/{sid}/members/{member.id}/roles/{vip['id']}")
    assert r.status_code == 204
    assert rec.events == [("MEMBER_ROLE_REMOVE", {"server_id": sid, "user_id": member.id, "role_id": vip["id"],
                                                  "role_name": "vip", "role_color": None}),
                          ("CHANNEL_DELETE", {"id": private["id"], "server_id": sid})]
    # a permission edit (ADMINISTRATOR) shows it too; deleting the role hides it again
    boss = await role(owner, sid, name="boss")
    await give(owner, sid, member.id, boss["id"])
    rec.clear()
    await owner.patch(f"/servers/{sid}/roles/{boss['id']}", json={"permissions": int(P.ADMINISTRATOR)})
    assert rec.types() == ["CHANNEL_CREATE", "ROLE_UPDATE"]
    rec.clear()
    await owner.delete(f"/servers/{sid}/roles/{boss['id']}")
    assert rec.types() == ["ROLE_DELETE", "CHANNEL_DELETE"]
    r = await member.get(f"/channels/{private['id']}/messages")
    assert r.status_code == 404 and r.json()["code"] == "unknown_channel"


async def test_limits(nursery: trio.Nursery, tmp_path: Any) -> None:
    cfg = make_config(tmp_path / "data", limits={"roles_per_server": 2, "overrides_per_channel": 2})
    running: Running = await nursery.start(lambda task_status: run_daemon(
        cfg, task_status=task_status, install_signal_handlers=False))
    u = Users(running.url)
    try:
        owner, member = await u.new("owner"), await u.new("member")
        srv = await owner.server()
        sid = srv["id"]
        await owner.invite_and_join(sid, member)
        chan = await owner.channel(sid)
        r1, r2 = await role(owner, sid), await role(owner, sid)
        r = await owner.post(f"/servers/{sid}/roles", json={"name": "third"})
        assert r.status_code == 400 and r.json()["code"] == "limit_reached"
        for rid in (r1["id"], r2["id"]):
            r = await owner.put(f"/channels/{chan['id']}/overrides", json={"role_id": rid, "allow": 0, "deny": 2})
            assert r.status_code == 200
        r = await owner.put(f"/channels/{chan['id']}/overrides", json={"user_id": member.id, "allow": 0, "deny": 2})
        assert r.status_code == 400 and r.json()["code"] == "limit_reached"
        # replacing an existing override is not a new one
        r = await owner.put(f"/channels/{chan['id']}/overrides", json={"role_id": r1["id"], "allow": 2, "deny": 0})
        assert r.status_code == 200
    finally:
        await u.close()
        running.shutdown()
