"""Connecting to the gateway: refusals before the upgrade, READY, heartbeats (API.md §6.1-§6.4,
FIELD-CASES F11, F13)."""

from __future__ import annotations

import base64
import time

import httpx
import jwt
import orjson
from conftest import Users
from test_gateway_client import connect, ws_url

from together_server.daemon import Running

READY_FIELDS = {
    "session_id", "heartbeat_interval", "user", "servers", "dm_channels", "unread_counts",
    "mention_counts", "server_roles", "channel_overrides", "channels", "own_members", "voice_states",
}


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


async def refused(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A WebSocket upgrade request sent by a plain HTTP client (trio-websocket leaks the
    socket of a rejected handshake); a refusal is an ordinary HTTP answer."""
    async with httpx.AsyncClient() as h:
        r = await h.get(url.replace("ws://", "http://"), headers={**UPGRADE, **(headers or {})})
    assert r.status_code != 101, url
    return r


def _b64(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


async def test_bad_credentials_get_http_401_before_upgrade(shared: Running, users: Users) -> None:
    alice = await users.new("alice")
    other = await users.new("other")
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    forged = {**claims, "sub": other.id}
    sig = alice.token.rsplit(".", 1)[1]
    cases = {
        "missing": ws_url(shared.url),
        "garbage": ws_url(shared.url, token="nope"),
        "refresh": ws_url(shared.url, token=alice.refresh_token),
        "alg-none": ws_url(shared.url, token=f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(forged)}."),
        "alg-None": ws_url(shared.url, token=f"{_b64({'alg': 'None'})}.{_b64(forged)}."),
        "alg-none-kept-sig": ws_url(shared.url, token=f"{_b64({'alg': 'none'})}.{_b64(forged)}.{sig}"),
        "bad-bot": ws_url(shared.url, bot_token="0" * 64),
    }
    for name, url in cases.items():
        rej = await refused(url)
        assert rej.status_code == 401, name
        body = rej.json()
        assert body["code"] in ("missing_token", "invalid_token", "invalid_bot_token"), (name, body)
        assert "message" in body and "error" in body
        assert "www-authenticate" in rej.headers, name
    # The header wins over the query string (§6.1).
    rej = await refused(ws_url(shared.url, token=alice.token), {"Authorization": "Bearer nope"})
    assert rej.status_code == 401 and rej.json()["code"] == "invalid_token"


async def test_expired_token_refused(shared: Running, users: Users) -> None:
    alice = await users.new("alice")
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    secret = shared.state.tokens._secret
    now = int(time.time())
    for exp in (now - 600, now - 90, None):
        c = {**claims, "iat": now - 700}
        if exp is None:
            c.pop("exp")
        else:
            c["exp"] = exp
        rej = await refused(ws_url(shared.url, token=jwt.encode(c, secret, algorithm="HS256")))
        assert rej.status_code == 401
        assert rej.json()["code"] == ("token_expired" if exp else "invalid_token")


async def test_ready_heartbeat_and_header_credential(shared: Running, users: Users) -> None:
    alice = await users.new("alice")
    srv = await alice.server("Ready test")
    text = await alice.channel(srv["id"], "general")
    voice = await alice.channel(srv["id"], "lobby", "voice")
    async with connect(shared.url, headers=[("Authorization", f"Bearer {alice.token}")]) as gw:
        d = gw.ready
        assert set(d) == READY_FIELDS
        assert d["heartbeat_interval"] == shared.state.config.gateway.heartbeat_interval_ms
        assert d["user"]["id"] == alice.id and "email" in d["user"]
        assert d["user"]["chosen_status"] == "online" and d["user"]["status"] == "online"
        assert [s["id"] for s in d["servers"]] == [srv["id"]]
        assert d["servers"][0]["member_count"] == 1
        assert [c["id"] for c in d["channels"][srv["id"]]] == [text["id"], voice["id"]]
        assert d["own_members"][srv["id"]]["user_id"] == alice.id
        assert d["server_roles"] == {srv["id"]: []}
        assert d["voice_states"] == {srv["id"]: []}
        assert d["dm_channels"] == [] and d["unread_counts"] == [] and d["mention_counts"] == []
        await gw.send("HEARTBEAT")
        while (msg := orjson.loads(await gw.ws.get_message()))["op"] == "DISPATCH":
            assert msg["t"] == "PRESENCE_UPDATE" and msg["d"]["user_id"] == alice.id  # its own "online"
        assert msg == {"op": "HEARTBEAT_ACK"}
        # Junk is dropped silently and the socket stays open.
        for junk in ("{", "[1]", '{"op":"WHAT"}', '{"op":"TYPING_START","d":null}'):
            await gw.ws.send_message(junk)
        await gw.ws.send_message(b"\x00binary")
        assert await gw.sync() == []
        # REST sees the user online while a session exists.
        r = await alice.get(f"/users/{alice.id}")
        assert r.json()["status"] == "online"


async def test_odd_signed_tokens_are_refused_on_both_transports(shared: Running, users: Users) -> None:
    """Tokens signed with the daemon's key but not of the shape it issues: a string
    ``exp`` and a ``sub`` naming no account get 401 on REST and before the upgrade."""
    alice = await users.new("odd")
    secret = shared.state.tokens._secret  # the daemon's signing key (test harness only)
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    cases = {
        "string exp": {**claims, "exp": str(int(time.time()) + 600)},
        "unknown sub": {**claims, "sub": "01a22a00-0000-7000-8000-000000000000"},
    }
    for name, body in cases.items():
        token = jwt.encode(body, secret, algorithm="HS256")
        r = await alice.get("/users/@me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", (name, r.text)
        r = await refused(ws_url(shared.url, token=token))
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", (name, r.text)
