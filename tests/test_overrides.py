"""Channel permission overrides (API.md §4.5) and the §4.1 checks of the core channel,
message and server endpoints: VIEW_CHANNEL (hidden channels), SEND_MESSAGES,
MANAGE_MESSAGES, MANAGE_CHANNELS, with their events observed at the storage level (the publish hook)."""

# ruff: noqa: F811 - the `record` fixture is imported from test_roles and requested by name
from __future__ import annotations

from typing import Any

import pytest
from conftest import Api, Users
from test_roles import give, role, setup

from together_server.permissions import Permission

P = Permission


async def put(api: Api, channel_id: str, **body: Any) -> Any:
    return await api.put(f"/channels/{channel_id}/overrides", json=body)


@pytest.mark.parametrize("body, field", [
    ({"allow": 0, "deny": 1}, "role_id"),
    ({"role_id": "R", "user_id": "U", "allow": 0, "deny": 1}, "user_id"),
    ({"user_id": "U", "allow": int(P.KICK_MEMBERS), "deny": 0}, "allow"),
    ({"user_id": "U", "allow": 0, "deny": int(P.ADMINISTRATOR)}, "deny"),
    ({"user_id": "U", "allow": 1 << 18, "deny": 0}, "allow"),
    ({"user_id": "U", "allow": int(P.VIEW_AUDIT_LOG), "deny": 0}, "allow"),
    ({"user_id": "U", "allow": 3, "deny": 1}, "deny"),
    ({"user_id": "U", "allow": 0}, "deny"),
    ({"user_id": "U", "allow": 0, "deny": 1, "extra": 1}, "extra"),
    ({"user_id": "not-a-uuid", "allow": 0, "deny": 1}, "user_id"),
])
async def test_put_validation_for_every_caller(users: Users, body: dict[str, Any], field: str) -> None:
    owner, member, srv = await setup(users)
    chan = await owner.channel(srv["id"])
    body = {k: (owner.id if v == "U" else srv["id"] if v == "R" else v) for k, v in body.items()}
    r = await put(owner, chan["id"], **body)
    assert r.status_code == 400 and r.json()["code"] == "validation_failed", r.text
    assert field in r.json()["errors"]


async def test_crud_targets_and_order(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    rl = await role(owner, sid)
    u = (await put(owner, chan["id"], user_id=member.id, allow=4, deny=2)).json()
    rr = (await put(owner, chan["id"], role_id=rl["id"], allow=0, deny=16)).json()
    ev = (await put(owner, chan["id"], role_id=sid, allow=0, deny=32)).json()
    assert u == {"id": u["id"], "channel_id": chan["id"], "role_id": None, "user_id": member.id, "allow": 4, "deny": 2}
    r = await member.get(f"/channels/{chan['id']}/overrides")
    assert r.status_code == 200
    assert [o["id"] for o in r.json()] == [ev["id"], rr["id"], u["id"]]
    # same target: replaced in place
    again = (await put(owner, chan["id"], user_id=member.id, allow=0, deny=0)).json()
    assert again["id"] == u["id"] and again["allow"] == 0
    # unknown targets
    other = await owner.server("other")
    foreign = await role(owner, other["id"])
    outsider = await users.new("out")
    for body, code in (({"role_id": foreign["id"]}, "unknown_role"), ({"role_id": other["id"]}, "unknown_role"),
                       ({"user_id": outsider.id}, "unknown_member")):
        r = await put(owner, chan["id"], allow=0, deny=1, **body)
        assert r.status_code == 404 and r.json()["code"] == code
    r = await owner.delete(f"/channels/{chan['id']}/overrides/{rr['id']}")
    assert r.status_code == 204
    r = await owner.delete(f"/channels/{chan['id']}/overrides/{rr['id']}")
    assert r.status_code == 404 and r.json()["code"] == "unknown_override"
    r = await owner.delete(f"/channels/{chan['id']}/overrides/nope")
    assert r.json()["code"] == "unknown_override"
    # an override id of another channel is unknown on this one
    chan2 = await owner.channel(sid, "two")
    r = await owner.delete(f"/channels/{chan2['id']}/overrides/{ev['id']}")
    assert r.status_code == 404 and r.json()["code"] == "unknown_override"
    # non-members and plain members
    r = await outsider.get(f"/channels/{chan['id']}/overrides")
    assert r.status_code == 404 and r.json()["code"] == "unknown_channel"
    r = await put(member, chan["id"], role_id=sid, allow=0, deny=2)
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"


async def test_only_bits_you_hold(users: Users) -> None:
    owner, mod, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    mc = await role(owner, sid, name="channels", permissions=int(P.MANAGE_CHANNELS), position=3)
    await give(owner, sid, mod.id, mc["id"])
    # MANAGE_MESSAGES is not held: may neither allow nor deny it
    for body in ({"role_id": sid, "allow": 4, "deny": 0}, {"role_id": sid, "allow": 0, "deny": 4}):
        r = await put(mod, chan["id"], **body)
        assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await put(mod, chan["id"], role_id=sid, allow=0, deny=int(P.SEND_MESSAGES | P.ADD_REACTIONS))
    assert r.status_code == 200
    ov = r.json()
    # an override holding a bit the mod lacks: no delete, but other bits may change
    held_by_owner = (await put(owner, chan["id"], user_id=owner.id, allow=0, deny=4)).json()
    r = await mod.delete(f"/channels/{chan['id']}/overrides/{held_by_owner['id']}")
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await put(mod, chan["id"], user_id=owner.id, allow=0, deny=4 | int(P.CONNECT_VOICE))
    assert r.status_code == 200
    r = await put(mod, chan["id"], user_id=owner.id, allow=4, deny=0)
    assert r.status_code == 403
    # a bit the mod lost here through an override cannot be changed back by them
    r = await put(mod, chan["id"], user_id=mod.id, allow=0, deny=int(P.SPEAK))
    assert r.status_code == 200
    r = await put(mod, chan["id"], user_id=mod.id, allow=0, deny=0)
    assert r.status_code == 403
    # ADMINISTRATOR may change any channel bit
    admin = await role(owner, sid, name="admin", permissions=int(P.ADMINISTRATOR), position=1)
    await give(owner, sid, mod.id, admin["id"])
    r = await mod.delete(f"/channels/{chan['id']}/overrides/{held_by_owner['id']}")
    assert r.status_code == 204
    r = await mod.delete(f"/channels/{chan['id']}/overrides/{ov['id']}")
    assert r.status_code == 204


async def test_hidden_channel(users: Users, record: Any) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    general, secret = await owner.channel(sid, "general"), await owner.channel(sid, "secret")
    m1 = await owner.send(secret["id"], "before hiding")
    rec_m, rec_o = record(member), record(owner)
    r = await put(owner, secret["id"], user_id=member.id, allow=0, deny=int(P.VIEW_CHANNEL))
    assert r.status_code == 200
    ov = r.json()
    # the override event goes to viewers before or after; the member loses the channel after it
    assert rec_m.events == [("CHANNEL_OVERRIDE_UPDATE", ov), ("CHANNEL_DELETE", {"id": secret["id"], "server_id": sid})]
    assert rec_o.types() == ["CHANNEL_OVERRIDE_UPDATE"]
    rec_m.clear()
    r = await member.get(f"/servers/{sid}/channels")
    assert [c["id"] for c in r.json()] == [general["id"]]
    cid = secret["id"]
    for path in (f"/channels/{cid}", f"/servers/{sid}/channels/{cid}", f"/channels/{cid}/messages",
                 f"/channels/{cid}/messages/{m1['id']}", f"/channels/{cid}/overrides"):
        r = await member.get(path)
        assert r.status_code == 404 and r.json()["code"] == "unknown_channel", path
    for r in (await member.post(f"/channels/{cid}/messages", json={"content": "hi"}),
              await member.patch(f"/channels/{cid}", json={"name": "x"}),
              await member.delete(f"/channels/{cid}"),
              await put(member, cid, role_id=sid, allow=0, deny=0)):
        assert r.status_code == 404 and r.json()["code"] == "unknown_channel"
    r = await member.delete(f"/messages/{m1['id']}")
    assert r.status_code == 404 and r.json()["code"] == "unknown_message"
    # nothing from it: messages, updates, override changes
    await owner.send(cid, "secret words")
    await owner.patch(f"/channels/{cid}", json={"topic": "t"})
    ev = (await put(owner, cid, role_id=sid, allow=0, deny=int(P.ADD_REACTIONS))).json()
    await owner.send(general["id"], "public words")
    assert rec_m.types() == ["MESSAGE_CREATE"] and rec_m.events[0][1]["channel_id"] == general["id"]
    assert {"CHANNEL_UPDATE", "CHANNEL_OVERRIDE_UPDATE"} <= set(rec_o.types())
    rec_m.clear()
    await owner.delete(f"/channels/{cid}/overrides/{ev['id']}")
    assert rec_m.events == []
    # giving it back: CHANNEL_CREATE before the override event
    r = await owner.delete(f"/channels/{cid}/overrides/{ov['id']}")
    assert rec_m.types() == ["CHANNEL_CREATE", "CHANNEL_OVERRIDE_DELETE"]
    assert rec_m.events[0][1]["id"] == cid
    assert rec_m.events[1][1] == {"channel_id": cid, "override_id": ov["id"]}
    r = await member.get(f"/channels/{cid}/messages")
    assert r.status_code == 200 and len(r.json()) == 2


async def test_everyone_override_and_role_allow(users: Users, record: Any) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    staff = await role(owner, sid, name="staff")
    await give(owner, sid, member.id, staff["id"])
    private = await owner.channel(sid, "private")
    await put(owner, private["id"], role_id=staff["id"], allow=1, deny=0)
    rec = record(member)
    await put(owner, private["id"], role_id=sid, allow=0, deny=1)
    assert "CHANNEL_DELETE" not in rec.types()  # the role override keeps it visible
    assert (await member.get(f"/channels/{private['id']}")).status_code == 200
    # the member's own override beats the role's allow
    await put(owner, private["id"], user_id=member.id, allow=0, deny=1)
    assert rec.types()[-1] == "CHANNEL_DELETE"


async def test_send_messages_denied(users: Users) -> None:
    owner, member, srv = await setup(users)
    chan = await owner.channel(srv["id"])
    await owner.send(chan["id"], "read only here")
    await put(owner, chan["id"], user_id=member.id, allow=0, deny=int(P.SEND_MESSAGES))
    r = await member.post(f"/channels/{chan['id']}/messages", json={"content": "hi"})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await member.get(f"/channels/{chan['id']}/messages")
    assert r.status_code == 200 and len(r.json()) == 1
    # the everyone override takes it from all; a role allow gives it back
    speakers = await role(owner, srv["id"], name="speakers")
    (own,) = (await owner.get(f"/channels/{chan['id']}/overrides")).json()
    assert (await owner.delete(f"/channels/{chan['id']}/overrides/{own['id']}")).status_code == 204
    await put(owner, chan["id"], role_id=srv["id"], allow=0, deny=int(P.SEND_MESSAGES))
    assert (await member.post(f"/channels/{chan['id']}/messages", json={"content": "x"})).status_code == 403
    await put(owner, chan["id"], role_id=speakers["id"], allow=int(P.SEND_MESSAGES), deny=0)
    await give(owner, srv["id"], member.id, speakers["id"])
    await member.send(chan["id"], "allowed again")
    await owner.send(chan["id"], "the owner ignores overrides")


async def test_manage_channels_in_one_channel(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    mine, other = await owner.channel(sid, "mine"), await owner.channel(sid, "other")
    await put(owner, mine["id"], user_id=member.id, allow=int(P.MANAGE_CHANNELS), deny=0)
    r = await member.patch(f"/channels/{mine['id']}", json={"topic": "mine now"})
    assert r.status_code == 200
    r = await member.patch(f"/servers/{sid}/channels/{other['id']}", json={"topic": "no"})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await member.post(f"/servers/{sid}/channels", json={"name": "new", "type": "text"})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"  # server level only
    r = await put(member, mine["id"], role_id=sid, allow=0, deny=int(P.ADD_REACTIONS))
    assert r.status_code == 200
    r = await member.delete(f"/channels/{other['id']}")
    assert r.status_code == 403
    r = await member.delete(f"/channels/{mine['id']}")
    assert r.status_code == 204
    # a server-level MANAGE_CHANNELS role may create channels
    mc = await role(owner, sid, permissions=int(P.MANAGE_CHANNELS))
    await give(owner, sid, member.id, mc["id"])
    r = await member.post(f"/servers/{sid}/channels", json={"name": "new", "type": "text"})
    assert r.status_code == 201


async def test_manage_messages(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    mod = await users.new("mod")
    await owner.invite_and_join(sid, mod)
    chan = await owner.channel(sid)
    msg = await member.send(chan["id"], "delete me")
    r = await mod.delete(f"/messages/{msg['id']}")
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    plain = await mod.send(chan["id"], "@everyone hello")
    assert plain["mention_everyone"] is False
    mm = await role(owner, sid, permissions=int(P.MANAGE_MESSAGES))
    await give(owner, sid, mod.id, mm["id"])
    loud = await mod.send(chan["id"], "@everyone hello")
    assert loud["mention_everyone"] is True
    r = await mod.patch(f"/messages/{msg['id']}", json={"content": "edited by mod"})
    assert r.status_code == 403  # only the author edits
    r = await mod.delete(f"/messages/{msg['id']}")
    assert r.status_code == 204
    # taken away in one channel by an override
    await put(owner, chan["id"], user_id=mod.id, allow=0, deny=int(P.MANAGE_MESSAGES))
    msg2 = await member.send(chan["id"], "safe")
    r = await mod.delete(f"/messages/{msg2['id']}")
    assert r.status_code == 403


async def test_manage_server_and_invites(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    r = await member.patch(f"/servers/{sid}", json={"name": "mine"})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await member.post(f"/servers/{sid}/invites", json={})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    r = await member.get(f"/servers/{sid}/invites")
    assert r.status_code == 403
    ms = await role(owner, sid, permissions=int(P.MANAGE_SERVER))
    ci = await role(owner, sid, permissions=int(P.CREATE_INVITES))
    await give(owner, sid, member.id, ci["id"])
    r = await member.post(f"/servers/{sid}/invites", json={})
    assert r.status_code == 201
    mine = r.json()
    theirs = (await owner.post(f"/servers/{sid}/invites", json={})).json()
    r = await member.delete(f"/servers/{sid}/invites/{theirs['id']}")
    assert r.status_code == 403
    assert (await member.delete(f"/servers/{sid}/invites/{mine['id']}")).status_code == 204
    await give(owner, sid, member.id, ms["id"])
    assert (await member.delete(f"/servers/{sid}/invites/{theirs['id']}")).status_code == 204
    r = await member.patch(f"/servers/{sid}", json={"name": "mine"})
    assert r.status_code == 200 and r.json()["name"] == "mine"
    r = await member.delete(f"/servers/{sid}")
    assert r.status_code == 403 and r.json()["code"] == "not_owner"
