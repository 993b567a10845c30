"""Kick, ban, unban, bans list and timeouts (API.md §4.2), their events (§6.7) and
FIELD-CASES F16's REST part: a removed member loses access at once."""

# ruff: noqa: F811 - the `record` fixture is imported from test_roles and requested by name
from __future__ import annotations

from typing import Any

import pytest
from conftest import Api, Users
from test_roles import give, role, setup

from together_server.permissions import Permission

P = Permission
NOBODY = "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"


def code(r: Any) -> tuple[int, str | None]:
    return r.status_code, (r.json().get("code") if r.content else None)


async def mod_for(owner: Api, sid: str, mod: Api, bits: int, position: int = 5) -> dict[str, Any]:
    rl = await role(owner, sid, name="mod", permissions=bits, position=position)
    await give(owner, sid, mod.id, rl["id"])
    return rl


async def test_kick(users: Users, record: Any) -> None:
    owner, victim, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    staff = await role(owner, sid, name="staff")
    await give(owner, sid, victim.id, staff["id"])
    ov = (await owner.put(f"/channels/{chan['id']}/overrides",
                          json={"user_id": victim.id, "allow": 0, "deny": 16})).json()
    await victim.send(chan["id"], "hello")
    rec_v, rec_o = record(victim), record(owner)
    r = await owner.post(f"/servers/{sid}/members/{victim.id}/kick", json={"reason": "spam"})
    assert r.status_code == 204 and r.content == b""
    kick = ("MEMBER_KICK", {"server_id": sid, "user_id": victim.id, "reason": "spam"})
    assert rec_v.events == [kick]
    assert rec_o.events == [kick, ("CHANNEL_OVERRIDE_DELETE", {"channel_id": chan["id"], "override_id": ov["id"]})]
    # F16: access ends at once
    r = await victim.get(f"/channels/{chan['id']}/messages")
    assert code(r) == (404, "unknown_channel")
    assert code(await victim.get(f"/servers/{sid}")) == (404, "unknown_server")
    assert code(await victim.post(f"/channels/{chan['id']}/messages", json={"content": "x"})) == (404, "unknown_channel")
    await owner.send(chan["id"], "after the kick")
    assert rec_v.events == [kick]
    assert [m["user_id"] for m in (await owner.get(f"/servers/{sid}/members")).json()] == [owner.id]
    assert (await owner.get(f"/servers/{sid}")).json()["member_count"] == 1
    # a kick is not a ban: rejoin works, with no roles and no overrides left
    await owner.invite_and_join(sid, victim)
    me = next(m for m in (await owner.get(f"/servers/{sid}/members")).json() if m["user_id"] == victim.id)
    assert me["roles"] == []
    assert (await owner.get(f"/channels/{chan['id']}/overrides")).json() == []
    # empty body and null reason
    r = await owner.post(f"/servers/{sid}/members/{victim.id}/kick")
    assert r.status_code == 204


async def test_kick_and_ban_rules(users: Users) -> None:
    owner, mod, srv = await setup(users)
    sid = srv["id"]
    peer, plain, outsider = await users.new("peer"), await users.new("plain"), await users.new("out")
    for u in (peer, plain):
        await owner.invite_and_join(sid, u)
    modrole = await mod_for(owner, sid, mod, int(P.KICK_MEMBERS | P.BAN_MEMBERS | P.MUTE_MEMBERS), position=5)
    await give(owner, sid, peer.id, modrole["id"])  # same rank as mod
    for action in ("kick", "ban", "timeout"):
        body = {"duration_minutes": 5} if action == "timeout" else {}
        url = f"/servers/{sid}/members/{{}}/{action}"
        assert code(await mod.post(url.format(mod.id), json=body)) == (400, "cannot_target_self")
        assert code(await plain.post(url.format(plain.id), json=body)) == (400, "cannot_target_self")
        assert code(await mod.post(url.format(owner.id), json=body)) == (403, "cannot_target_owner")
        assert code(await plain.post(url.format(mod.id), json=body)) == (403, "missing_permission")
        assert code(await plain.post(url.format(owner.id), json=body)) == (403, "missing_permission")
        assert code(await mod.post(url.format(peer.id), json=body)) == (403, "hierarchy")
        assert code(await outsider.post(url.format(plain.id), json=body)) == (404, "unknown_server")
        assert code(await mod.post(url.format("nope"), json=body))[0] == 404
    assert code(await mod.post(f"/servers/{sid}/members/{outsider.id}/kick")) == (404, "unknown_member")
    assert code(await mod.post(f"/servers/{sid}/members/{outsider.id}/timeout", json={"duration_minutes": 1})) \
        == (404, "unknown_member")
    assert code(await mod.post(f"/servers/{sid}/members/{NOBODY}/ban")) == (404, "unknown_user")
    assert code(await mod.post(f"/servers/{sid}/members/nope/ban")) == (404, "unknown_user")
    # strict optional body
    assert code(await mod.post(f"/servers/{sid}/members/{plain.id}/kick", json={"why": "x"}))[0] == 400
    assert code(await mod.post(f"/servers/{sid}/members/{plain.id}/ban", json={"reason": "x" * 513}))[0] == 400
    assert code(await mod.post(f"/servers/{sid}/members/{plain.id}/kick", content=b"[]"))[0] == 400
    # a member with no role ranks below any role holder; the owner outranks everyone
    assert (await mod.post(f"/servers/{sid}/members/{plain.id}/kick")).status_code == 204
    assert (await owner.post(f"/servers/{sid}/members/{peer.id}/kick")).status_code == 204


async def test_ban_unban_and_list(users: Users, record: Any) -> None:
    owner, victim, srv = await setup(users)
    sid = srv["id"]
    await owner.patch(f"/servers/{sid}", json={"is_public": True})
    chan = await owner.channel(sid)
    stranger = await users.new("stranger")
    rec_o, rec_v = record(owner), record(victim)
    r = await owner.post(f"/servers/{sid}/members/{victim.id}/ban", json={"reason": "rude"})
    assert r.status_code == 204
    ban = ("MEMBER_BAN", {"server_id": sid, "user_id": victim.id, "reason": "rude"})
    assert rec_v.events == [ban] and rec_o.events == [ban]
    assert code(await victim.get(f"/channels/{chan['id']}/messages")) == (404, "unknown_channel")
    assert code(await victim.post(f"/servers/{sid}/join")) == (403, "banned")
    invite = (await owner.post(f"/servers/{sid}/invites", json={})).json()
    assert code(await victim.post(f"/invites/{invite['code']}/accept")) == (403, "banned")
    # a user who is not a member can be banned before joining
    rec_o.clear()
    assert (await owner.post(f"/servers/{sid}/members/{stranger.id}/ban")).status_code == 204
    assert rec_o.events == [("MEMBER_BAN", {"server_id": sid, "user_id": stranger.id, "reason": None})]
    assert code(await stranger.post(f"/servers/{sid}/join")) == (403, "banned")
    r = await owner.get(f"/servers/{sid}/bans")
    assert r.status_code == 200
    bans = r.json()
    assert [b["user_id"] for b in bans] == [stranger.id, victim.id]
    assert bans[1] == {"user_id": victim.id, "server_id": sid, "banned_by": owner.id, "reason": "rude",
                       "created_at": bans[1]["created_at"]}
    # unban: 204 always, an event only when a ban went
    rec_o.clear()
    assert (await owner.delete(f"/servers/{sid}/bans/{victim.id}")).status_code == 204
    assert rec_o.events == [("MEMBER_UNBAN", {"server_id": sid, "user_id": victim.id})]
    rec_o.clear()
    for uid in (victim.id, NOBODY):
        assert (await owner.delete(f"/servers/{sid}/bans/{uid}")).status_code == 204
    assert rec_o.events == []
    assert (await victim.post(f"/servers/{sid}/join")).status_code == 201
    # BAN_MEMBERS for the list and unban
    assert code(await victim.get(f"/servers/{sid}/bans")) == (403, "missing_permission")
    assert code(await victim.delete(f"/servers/{sid}/bans/{stranger.id}")) == (403, "missing_permission")
    assert code(await stranger.get(f"/servers/{sid}/bans")) == (404, "unknown_server")
    await mod_for(owner, sid, victim, int(P.BAN_MEMBERS))
    assert [b["user_id"] for b in (await victim.get(f"/servers/{sid}/bans")).json()] == [stranger.id]


@pytest.mark.parametrize("body", [{}, {"duration_minutes": 0}, {"duration_minutes": 40321},
                                  {"duration_minutes": "5"}, {"duration_minutes": 5, "x": 1}])
async def test_timeout_validation(users: Users, body: dict[str, Any]) -> None:
    owner, member, srv = await setup(users)
    r = await owner.post(f"/servers/{srv['id']}/members/{member.id}/timeout", json=body)
    assert code(r) == (400, "validation_failed")


async def test_timeout(users: Users, record: Any) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    rec = record(owner)
    r = await owner.post(f"/servers/{sid}/members/{member.id}/timeout",
                         json={"duration_minutes": 60, "reason": "cool off"})
    assert r.status_code == 200, r.text
    t = r.json()
    assert set(t) == {"user_id", "server_id", "expires_at", "reason", "created_by", "created_at"}
    assert t["user_id"] == member.id and t["created_by"] == owner.id and t["expires_at"] > t["created_at"]
    assert rec.events == [("MEMBER_TIMEOUT", {"server_id": sid, "user_id": member.id,
                                              "expires_at": t["expires_at"], "reason": "cool off"})]
    r = await member.post(f"/channels/{chan['id']}/messages", json={"content": "let me talk"})
    assert code(r) == (403, "timed_out") and r.json()["timed_out_until"] == t["expires_at"]
    assert (await member.get(f"/channels/{chan['id']}/messages")).status_code == 200
    me = next(m for m in (await owner.get(f"/servers/{sid}/members")).json() if m["user_id"] == member.id)
    assert me["timed_out_until"] == t["expires_at"]
    # a running timeout stays across leave and rejoin; removal works on a user who left
    assert (await member.delete(f"/servers/{sid}/leave")).status_code == 204
    await owner.invite_and_join(sid, member)
    assert code(await member.post(f"/channels/{chan['id']}/messages", json={"content": "x"}))[1] == "timed_out"
    assert (await member.delete(f"/servers/{sid}/leave")).status_code == 204
    rec.clear()
    assert (await owner.delete(f"/servers/{sid}/members/{member.id}/timeout")).status_code == 204
    assert rec.events == [("MEMBER_TIMEOUT_REMOVE", {"server_id": sid, "user_id": member.id})]
    rec.clear()
    assert (await owner.delete(f"/servers/{sid}/members/{member.id}/timeout")).status_code == 204
    assert rec.events == []
    await owner.invite_and_join(sid, member)
    await member.send(chan["id"], "free again")
    # replacing a running timeout; MUTE_MEMBERS needed to remove one
    await owner.post(f"/servers/{sid}/members/{member.id}/timeout", json={"duration_minutes": 1})
    r = await owner.post(f"/servers/{sid}/members/{member.id}/timeout", json={"duration_minutes": 40320})
    assert r.json()["reason"] is None
    other = await users.new("other")
    await owner.invite_and_join(sid, other)
    assert code(await other.delete(f"/servers/{sid}/members/{member.id}/timeout")) == (403, "missing_permission")
    assert code(await member.delete(f"/servers/{sid}/members/{member.id}/timeout")) == (400, "cannot_target_self")
