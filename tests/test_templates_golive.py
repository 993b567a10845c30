"""Server templates and Go Live (issue 12): GET /server-templates, POST /servers with a
template id (one transaction), go-live start/quality/stop, one stream per user, and the
stream ending with its voice state."""

from __future__ import annotations

from typing import Any

from conftest import Api, Users
from test_gateway_client import connect
from test_gateway_events import kinds, seen_before_sentinel

from together_server.daemon import Running


async def test_templates_list_and_create(shared: Running, users: Users, record: Any) -> None:
    alice = await users.new("alice")
    listed = (await alice.get("/server-templates")).json()
    ids = [t["id"] for t in listed]
    assert {"gaming", "lan-party", "study-group"} <= set(ids)
    lan = next(t for t in listed if t["id"] == "lan-party")
    assert lan["is_builtin"] is True and lan["category"] == "gaming" and lan["created_at"].endswith("Z")
    teams = [c["name"] for c in lan["channels"] if c["type"] == "voice" and c["name"].startswith("Team")]
    assert len(teams) >= 2
    rec = record(alice)
    r = await alice.post("/servers", json={"name": "Friday LAN", "template_id": "lan-party"})
    assert r.status_code == 201, r.text
    srv = r.json()
    chans = (await alice.get(f"/servers/{srv['id']}/channels")).json()
    assert [(c["name"], c["type"], c["category"]) for c in chans] == [
        (c["name"], c["type"], c["category"]) for c in lan["channels"]]
    roles = (await alice.get(f"/servers/{srv['id']}/roles")).json()
    assert [r["name"] for r in roles] == [r["name"] for r in lan["roles"]]
    assert rec.types()[0] == "SERVER_CREATE"
    assert rec.types().count("CHANNEL_CREATE") == len(chans) and rec.types().count("ROLE_CREATE") == len(roles)
    r = await alice.post("/servers", json={"name": "x", "template_id": "no-such"})
    assert (r.status_code, r.json()["code"], list(r.json()["errors"])) == (400, "validation_failed", ["template_id"])
    r = await alice.post("/servers", json={"name": "x", "template_id": 5})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await alice.post("/servers", json={"name": "", "template_id": "gaming"})
    assert r.status_code == 400
    plain = await alice.server("No template", template_id=None)
    assert (await alice.get(f"/servers/{plain['id']}/channels")).json() == []


async def voice_pair(users: Users) -> tuple[Api, Api, dict[str, Any], dict[str, Any]]:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Live")
    vc = await alice.channel(srv["id"], "Lobby", "voice")
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, srv, vc


async def test_go_live_start_update_stop(shared: Running, users: Users) -> None:
    alice, bob, srv, vc = await voice_pair(users)
    path = f"/channels/{vc['id']}/go-live"
    async with connect(shared.url, alice.token) as ga, connect(shared.url, bob.token) as gb:
        r = await alice.post(path, json={"quality": "1080p"})
        assert (r.status_code, r.json()["code"]) == (404, "not_in_voice")
        assert (await alice.post(f"/channels/{vc['id']}/voice")).status_code == 201
        assert (await bob.post(f"/channels/{vc['id']}/voice")).status_code == 201
        r = await bob.get(path)
        assert (r.status_code, r.json()["code"]) == (404, "not_live")
        await seen_before_sentinel(gb, bob)
        r = await alice.post(path, json={"quality": "1080p"})
        assert r.status_code == 201, r.text
        live = r.json()
        assert live["broadcaster_id"] == alice.id and live["quality"] == "1080p" and live["channel_id"] == vc["id"]
        r = await alice.post(path, json={"quality": "480p"})
        assert (r.status_code, r.json()["quality"]) == (200, "480p")
        assert (await alice.post(path, json={"quality": "480p"})).status_code == 200  # unchanged: no event
        r = await alice.post(path, json={"quality": "4k"})
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
        assert (await bob.post(path)).status_code == 201  # default quality 720p
        got = (await bob.get(path)).json()
        assert got["broadcaster_id"] == alice.id
        assert [(s["broadcaster_id"], s["quality"]) for s in got["streams"]] == [(alice.id, "480p"), (bob.id, "720p")]
        r = await alice.delete(path)
        assert r.status_code == 204 and r.content == b"" and "content-type" not in r.headers
        r = await alice.delete(path)
        assert (r.status_code, r.json()["code"]) == (404, "not_live")
        seen = await seen_before_sentinel(gb, bob)
        assert kinds(seen) == ["GO_LIVE_START", "GO_LIVE_UPDATE", "GO_LIVE_START", "GO_LIVE_STOP"]
        assert seen[0]["d"]["quality"] == "1080p" and seen[1]["d"]["quality"] == "480p"
        assert seen[3]["d"] == {"channel_id": vc["id"], "broadcaster_id": alice.id, "server_id": srv["id"]}
        # bob's stream ends with his voice state, before his leave
        await seen_before_sentinel(ga, alice)
        assert (await bob.delete(f"/channels/{vc['id']}/voice")).status_code == 204
        seen = await seen_before_sentinel(ga, alice)
        assert kinds(seen) == ["GO_LIVE_STOP", "VOICE_STATE_UPDATE"]
        assert seen[0]["d"]["broadcaster_id"] == bob.id
        assert (await alice.get(path)).status_code == 404


async def test_go_live_ends_on_move_kick_and_channel_delete(users: Users, record: Any) -> None:
    alice, bob, srv, vc = await voice_pair(users)
    other = await alice.channel(srv["id"], "Squad", "voice")
    text = await alice.channel(srv["id"], "general")
    async with connect_all(alice, bob):
        r = await bob.get(f"/channels/{text['id']}/go-live")
        assert (r.status_code, r.json()["code"]) == (400, "not_voice_channel")
        for api in (alice, bob):
            assert (await api.post(f"/channels/{vc['id']}/voice")).status_code == 201
        assert (await bob.post(f"/channels/{vc['id']}/go-live")).status_code == 201
        ra = record(alice)
        assert (await bob.post(f"/channels/{other['id']}/voice")).status_code == 201  # a move
        assert ra.types()[0] == "GO_LIVE_STOP"
        assert (await alice.get(f"/channels/{vc['id']}/go-live")).status_code == 404
        assert (await bob.post(f"/channels/{other['id']}/go-live")).status_code == 201
        ra.clear()
        assert (await alice.post(f"/servers/{srv['id']}/members/{bob.id}/kick")).status_code == 204
        assert "GO_LIVE_STOP" in ra.types()
        assert ra.types().index("GO_LIVE_STOP") < ra.types().index("VOICE_STATE_UPDATE")
        assert (await alice.post(f"/channels/{vc['id']}/go-live")).status_code == 201
        ra.clear()
        assert (await alice.delete(f"/channels/{vc['id']}")).status_code == 204
        assert ra.types()[:2] == ["GO_LIVE_STOP", "VOICE_STATE_UPDATE"]


class connect_all:  # noqa: N801 - reads like the async-with it is
    """Gateway sessions for each user (voice needs a live session)."""

    def __init__(self, *apis: Api) -> None:
        self.apis = apis
        self.cms: list[Any] = []

    async def __aenter__(self) -> None:
        for api in self.apis:
            cm = connect(api.base_url, api.token)
            await cm.__aenter__()
            self.cms.append(cm)

    async def __aexit__(self, *exc: Any) -> None:
        for cm in reversed(self.cms):
            await cm.__aexit__(*exc)


async def test_204_answers_have_no_body_and_no_content_type(shared: Running, users: Users) -> None:
    alice = await users.new("alice")
    srv = await alice.server("Empty answers")
    chan = await alice.channel(srv["id"])
    msg = await alice.send(chan["id"], "to be deleted")
    answers = [
        await alice.delete(f"/messages/{msg['id']}"),
        await alice.post(f"/channels/{chan['id']}/ack"),
        await alice.request("OPTIONS", "/servers", headers={"Origin": "http://elsewhere.example",
                                                            "Access-Control-Request-Method": "GET"}),
        await alice.delete(f"/servers/{srv['id']}"),
    ]
    for r in answers:
        assert r.status_code == 204, r.text
        assert r.content == b"" and "content-type" not in r.headers and "content-length" not in r.headers
