"""Voice over REST bound to a gateway session, VOICE_STATE_UPDATE audiences and
VOICE_SIGNAL relay rules (API.md §4.6, §6.3, §6.7)."""

from __future__ import annotations

import sqlite3

from conftest import Users
from test_gateway_client import connect
from test_gateway_events import kinds, seen_before_sentinel

from together_server.daemon import Running

FLAGS = {"self_mute": False, "self_deaf": False, "self_video": False, "self_screen": False,
         "server_mute": False, "server_deaf": False}


async def test_voice_join_move_leave_and_signals(shared: Running, users: Users) -> None:
    alice, bob, carol = await users.new("alice"), await users.new("bob"), await users.new("carol")
    srv = await alice.server("Voice")
    v1 = await alice.channel(srv["id"], "v1", "voice")
    v2 = await alice.channel(srv["id"], "v2", "voice")
    text = await alice.channel(srv["id"], "text")
    await alice.invite_and_join(srv["id"], bob)
    # Without a gateway session there is nothing to bind to.
    r = await bob.post(f"/channels/{v1['id']}/voice")
    assert r.status_code == 400 and r.json()["code"] == "no_gateway_session"
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb, \
            connect(shared.url, bob.token) as gb2, connect(shared.url, carol.token) as gc:
        for gw, api in ((ga, alice), (gb, bob), (gc, carol)):
            await seen_before_sentinel(gw, api)
        r = await alice.post(f"/channels/{text['id']}/voice")
        assert r.status_code == 400 and r.json()["code"] == "not_voice_channel"
        r = await carol.post(f"/channels/{v1['id']}/voice")
        assert r.status_code == 404
        r = await bob.post(f"/channels/{v1['id']}/voice", json={"session_id": "not-mine"})
        assert r.status_code == 400 and r.json()["code"] == "no_gateway_session"
        r = await alice.post(f"/channels/{v1['id']}/voice", json={"session_id": ga.session_id})
        assert r.status_code == 201, r.text
        assert r.json() == {"user_id": alice.id, "server_id": srv["id"], "channel_id": v1["id"], **FLAGS,
                            "joined_at": r.json()["joined_at"]}
        # bob binds explicitly to his first session
        r = await bob.post(f"/channels/{v1['id']}/voice", json={"session_id": gb.session_id})
        assert r.status_code == 201
        r = await bob.post(f"/channels/{v1['id']}/voice", json={"session_id": gb.session_id})
        assert r.status_code == 200  # already there: nothing sent
        r = await bob.patch(f"/channels/{v1['id']}/voice", json={"self_mute": True})
        assert r.status_code == 200 and r.json()["self_mute"] is True
        r = await bob.patch(f"/channels/{v1['id']}/voice", json={})
        assert r.status_code == 400
        r = await alice.get(f"/channels/{v1['id']}/voice")
        assert [s["user_id"] for s in r.json()] == [alice.id, bob.id] and r.json()[0]["username"]
        got = await seen_before_sentinel(ga, alice)
        assert kinds(got) == ["VOICE_STATE_UPDATE"] * 3
        assert [m["d"]["user_id"] for m in got] == [alice.id, bob.id, bob.id]
        assert got[2]["d"]["self_mute"] is True and got[2]["d"]["username"] == bob.user["username"]
        assert await seen_before_sentinel(gc, carol) == []
        # Signals: relayed only between two users in the same channel, from the voice
        # session, to the target's voice session only, with from_user_id set by the server.
        await ga.send("VOICE_SIGNAL", {"to_user_id": bob.id, "type": "offer", "sdp": "v=0\r\n",
                                       "from_user_id": carol.id})
        await gb2.send("VOICE_SIGNAL", {"to_user_id": alice.id, "type": "answer", "sdp": "x"})  # not bob's voice session
        await gc.send("VOICE_SIGNAL", {"to_user_id": alice.id, "type": "offer", "sdp": "x"})  # not in voice
        await gb.send("VOICE_SIGNAL", {"to_user_id": alice.id, "type": "candidate", "candidate": "c",
                                       "sdp_mid": "0", "sdp_mline_index": 0, "stream_type": "camera"})
        await ga.sync()
        await gb.sync()
        await gb2.sync()
        await gc.sync()
        sig_b = [m for m in await seen_before_sentinel(gb, bob) if m["t"] == "VOICE_SIGNAL"]
        assert [m["d"] for m in sig_b] == [{"from_user_id": alice.id, "type": "offer", "sdp": "v=0\r\n",
                                            "candidate": None, "sdp_mid": None, "sdp_mline_index": None,
                                            "stream_type": None}]
        assert [m for m in await seen_before_sentinel(gb2, bob) if m["t"] == "VOICE_SIGNAL"] == []
        sig_a = [m["d"] for m in await seen_before_sentinel(ga, alice) if m["t"] == "VOICE_SIGNAL"]
        assert sig_a == [{"from_user_id": bob.id, "type": "candidate", "sdp": None, "candidate": "c",
                          "sdp_mid": "0", "sdp_mline_index": 0, "stream_type": "camera"}]
        # A move resets the flags; leaving sends the leave shape.
        r = await bob.post(f"/channels/{v2['id']}/voice", json={"session_id": gb.session_id})
        assert r.status_code == 201 and r.json()["self_mute"] is False
        await gb.send("VOICE_SIGNAL", {"to_user_id": alice.id, "type": "offer", "sdp": "x"})  # now apart
        await gb.sync()
        r = await bob.delete(f"/channels/{v2['id']}/voice")
        assert r.status_code == 204
        r = await bob.delete(f"/channels/{v2['id']}/voice")
        assert r.status_code == 404 and r.json()["code"] == "not_in_voice"
        got = await seen_before_sentinel(ga, alice)
        assert kinds(got) == ["VOICE_STATE_UPDATE", "VOICE_STATE_UPDATE"]
        assert got[0]["d"]["channel_id"] == v2["id"]
        assert got[1]["d"] == {"user_id": bob.id, "server_id": srv["id"], "channel_id": None, **FLAGS,
                               "joined_at": None, "username": bob.user["username"]}
        # READY of a new session lists voice states in visible channels.
        async with connect(shared.url, bob.token) as gb3:
            assert [s["user_id"] for s in gb3.ready["voice_states"][srv["id"]]] == [alice.id]
        # Kicking a member in voice: the leave goes to the remaining audience.
        r = await bob.post(f"/channels/{v1['id']}/voice", json={"session_id": gb.session_id})
        assert r.status_code == 201
        r = await alice.post(f"/servers/{srv['id']}/members/{bob.id}/kick")
        assert r.status_code == 204
        got = await seen_before_sentinel(ga, alice)
        assert kinds(got) == ["VOICE_STATE_UPDATE", "MEMBER_KICK", "VOICE_STATE_UPDATE"]
        assert got[2]["d"]["channel_id"] is None
        got_b = kinds(await seen_before_sentinel(gb, bob))
        assert got_b == ["VOICE_STATE_UPDATE"] * 3 + ["MEMBER_KICK"]  # move, leave, join; nothing after
    # alice's voice session ended (client close 1000): her state leaves too.
    r = await alice.get(f"/channels/{v1['id']}/voice")
    assert r.status_code == 200
    for _ in range(200):
        if r.json() == []:
            break
        r = await alice.get(f"/channels/{v1['id']}/voice")
    assert r.json() == []


async def test_losing_view_or_the_server_ends_the_voice_state(shared: Running, users: Users) -> None:
    """§4.6/§6.7: an override that hides the channel makes its voice state leave (the
    user gets the leave); deleting the server clears the states with it."""
    owner, bob = await users.new("owner"), await users.new("bob")
    srv = await owner.server("Voice 2")
    v = await owner.channel(srv["id"], "lounge", "voice")
    await owner.invite_and_join(srv["id"], bob)
    async with connect(shared.url, bob.token) as gb, connect(shared.url, owner.token) as go:
        await seen_before_sentinel(gb, bob)
        assert (await bob.post(f"/channels/{v['id']}/voice")).status_code == 201
        assert (await owner.post(f"/channels/{v['id']}/voice")).status_code == 201
        await seen_before_sentinel(gb, bob)
        await seen_before_sentinel(go, owner)
        r = await owner.put(f"/channels/{v['id']}/overrides", json={"user_id": bob.id, "allow": 0, "deny": 1})
        assert r.status_code == 200
        got = await seen_before_sentinel(gb, bob)
        leaves = [m["d"] for m in got if m["t"] == "VOICE_STATE_UPDATE"]
        assert leaves and leaves[-1]["user_id"] == bob.id and leaves[-1]["channel_id"] is None
        assert "CHANNEL_DELETE" in kinds(got)
        states = (await owner.get(f"/channels/{v['id']}/voice")).json()
        assert [s["user_id"] for s in states] == [owner.id]
        assert (await owner.delete(f"/servers/{srv['id']}")).status_code == 204
        db = sqlite3.connect(shared.state.config.data_path / "together.db")
        try:
            left = db.execute("SELECT count(*) FROM voice_states WHERE server_id = ?", (srv["id"],)).fetchone()[0]
        finally:
            db.close()
        assert left == 0


async def test_deleting_a_server_sends_each_voice_leave_before_server_delete(shared: Running, users: Users) -> None:
    """§4.6 "each sends a leave": a deleted server's voice states end with a VOICE_STATE_UPDATE
    leave per state to every member (audience taken before the deletion), then SERVER_DELETE."""
    owner, bob, carol = await users.new("owner"), await users.new("bob"), await users.new("carol")
    srv = await owner.server("Voice gone")
    v = await owner.channel(srv["id"], "lounge", "voice")
    await owner.invite_and_join(srv["id"], bob)
    await owner.invite_and_join(srv["id"], carol)
    async with connect(shared.url, bob.token) as gb, connect(shared.url, owner.token) as go, \
            connect(shared.url, carol.token) as gc:
        for gw, who in ((gb, bob), (go, owner), (gc, carol)):
            await seen_before_sentinel(gw, who)
        assert (await bob.post(f"/channels/{v['id']}/voice")).status_code == 201
        assert (await owner.post(f"/channels/{v['id']}/voice")).status_code == 201
        await seen_before_sentinel(gc, carol)
        await seen_before_sentinel(gb, bob)
        assert (await owner.delete(f"/servers/{srv['id']}")).status_code == 204
        got = await seen_before_sentinel(gc, carol)  # carol was in no voice channel: she still hears both
        assert kinds(got) == ["VOICE_STATE_UPDATE", "VOICE_STATE_UPDATE", "SERVER_DELETE"]
        assert {m["d"]["user_id"] for m in got[:2]} == {bob.id, owner.id}
        for m in got[:2]:
            assert m["d"]["channel_id"] is None and m["d"]["server_id"] == srv["id"]
            assert m["d"]["joined_at"] is None
        assert got[2]["d"] == {"id": srv["id"]}
        mine = await seen_before_sentinel(gb, bob)
        assert kinds(mine) == ["VOICE_STATE_UPDATE", "VOICE_STATE_UPDATE", "SERVER_DELETE"]
