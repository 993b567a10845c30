"""Bots over real HTTP (API.md §4.7, §2.3): accounts, tokens, policies, revocation, logs.

Every test talks to the module's shared daemon (rate limits off). The gateway's ``/ws``
route is not built yet, so "a revoked token closes its gateway sessions" is checked on
REST only: the old token and every JWT it obtained get 401 at once.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from typing import Any

import pytest
from conftest import Api, Users

from together_server.daemon import Running

BOT_USERNAME = re.compile(r"^[a-z0-9-]{1,19}-bot-[0-9a-f]{8}$")
TOKEN = re.compile(r"^[0-9a-f]{64}$")


def bot_client(base_url: str, token: str, scheme: str = "Bot") -> Api:
    """An Api that sends ``Authorization: <scheme> <token>`` on every request."""
    api = Api(base_url)
    api.client.headers["Authorization"] = f"{scheme} {token}"
    return api


async def make_bot(owner: Api, name: str = "Helper", **fields: Any) -> tuple[dict[str, Any], str]:
    r = await owner.post("/bots", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["bot"], body["token"]


async def connect(base_url: str, token: str) -> str:
    bot = bot_client(base_url, token)
    try:
        r = await bot.post("/bots/connect")
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])
    finally:
        await bot.aclose()


# -- create ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("Welcome Helper", "welcome-helper"),
        ("Привет", "bot"),
        ("  --Ünïcode__Name!!  ", "n-code-name"),
        ("A" * 64, "a" * 19),
        ("abcdefghijklmnopqr--xyz", "abcdefghijklmnopqr"),  # cut to 19, then trailing "-" stripped
        ("42", "42"),
    ],
)
async def test_create_builds_username_from_name(users: Users, name: str, prefix: str) -> None:
    owner = await users.new("owner")
    bot, token = await make_bot(owner, name)
    assert bot["name"] == name.strip()
    assert bot["created_by"] == owner.id and bot["revoked_at"] is None and bot["description"] is None
    assert TOKEN.match(token)
    r = await owner.get(f"/users/{bot['user_id']}")
    assert r.status_code == 200, r.text
    user = r.json()
    assert user["is_bot"] is True
    username = user["username"]
    assert BOT_USERNAME.match(username) and len(username) <= 32, username
    assert username.rsplit("-bot-", 1)[0] == prefix


async def test_token_is_shown_once_and_stored_as_sha256(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    bot, token = await make_bot(owner, "Once", description="hello")
    assert bot["description"] == "hello"
    for path in ("/bots", f"/bots/{bot['id']}", f"/bots/{bot['id']}/logs"):
        r = await owner.get(path)
        assert r.status_code == 200
        assert token not in r.text
    path = shared.state.config.data_path / "together.db"
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT token_hash FROM bots WHERE id = ?", (bot["id"],)).fetchone()
    finally:
        db.close()
    assert row[0] == hashlib.sha256(token.encode()).hexdigest()
    # nowhere on disk in clear: the database file and its write-ahead log
    stored = b"".join(p.read_bytes() for p in path.parent.glob("together.db*"))
    assert token.encode() not in stored


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "   "}, {"name": "!!!"}, {"name": "x" * 65}, {"name": 5},
     {"name": None}, {"name": "ok", "description": "d" * 513}],
)
async def test_create_rejects_bad_fields(users: Users, payload: dict[str, Any]) -> None:
    owner = await users.new("owner")
    r = await owner.post("/bots", json=payload)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "validation_failed"


async def test_limit_reached_past_bots_per_user(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    limit = shared.state.config.limits.bots_per_user
    bots = [(await make_bot(owner, f"b{i}"))[0] for i in range(limit)]
    r = await owner.post("/bots", json={"name": "one too many"})
    assert r.status_code == 400 and r.json()["code"] == "limit_reached"
    # a revoked bot no longer counts
    assert (await owner.delete(f"/bots/{bots[0]['id']}")).status_code == 204
    await make_bot(owner, "replacement")
    r = await owner.post("/bots", json={"name": "again too many"})
    assert r.json()["code"] == "limit_reached"


# -- list / get / patch / delete ---------------------------------------------------------


async def test_list_get_patch_delete(users: Users) -> None:
    owner, other = await users.new("owner"), await users.new("other")
    first, _ = await make_bot(owner, "First", description="d1")
    second, _ = await make_bot(owner, "Second")
    await make_bot(other, "Not mine")

    r = await owner.get("/bots")
    assert r.status_code == 200
    assert [b["id"] for b in r.json()["bots"]] == [first["id"], second["id"]]

    assert (await owner.get(f"/bots/{first['id']}")).json() == first
    # someone else's bot, an unknown id and a malformed id are all unknown_bot
    for path in (f"/bots/{first['id']}", "/bots/0190f5d2-0000-7000-8000-000000000000", "/bots/nope"):
        r = await other.get(path)
        assert r.status_code == 404 and r.json()["code"] == "unknown_bot", path

    r = await owner.patch(f"/bots/{first['id']}", json={"name": "  Renamed  "})
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["description"] == "d1"
    for clear in ("", None):
        await owner.patch(f"/bots/{first['id']}", json={"description": "again"})
        r = await owner.patch(f"/bots/{first['id']}", json={"description": clear})
        assert r.status_code == 200 and r.json()["description"] is None
    r = await owner.patch(f"/bots/{first['id']}", json={"name": None})
    assert r.status_code == 400 and r.json()["code"] == "validation_failed"
    r = await other.patch(f"/bots/{first['id']}", json={"name": "mine now"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_bot"

    # DELETE is idempotent and keeps the bot visible with revoked_at set
    assert (await owner.delete(f"/bots/{first['id']}")).status_code == 204
    revoked = (await owner.get(f"/bots/{first['id']}")).json()
    assert revoked["revoked_at"] is not None
    assert (await owner.delete(f"/bots/{first['id']}")).status_code == 204
    assert (await owner.get(f"/bots/{first['id']}")).json() == revoked
    assert [b["id"] for b in (await owner.get("/bots")).json()["bots"]] == [first["id"], second["id"]]
    assert (await other.delete(f"/bots/{first['id']}")).status_code == 404

    for method, path, kw in (("PATCH", f"/bots/{first['id']}", {"json": {"name": "x"}}),
                             ("POST", f"/bots/{first['id']}/token/regenerate", {})):
        r = await owner.request(method, path, **kw)
        assert r.status_code == 400 and r.json()["code"] == "bot_revoked", path


async def test_revoked_token_and_its_jwts_die_at_once(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    bot, token = await make_bot(owner, "Doomed")
    jwt = await connect(shared.url, token)
    by_token, by_jwt = bot_client(shared.url, token), bot_client(shared.url, jwt, "Bearer")
    try:
        for api in (by_token, by_jwt):
            r = await api.get("/users/@me")
            assert r.status_code == 200 and r.json()["id"] == bot["user_id"] and r.json()["is_bot"] is True
        assert (await owner.delete(f"/bots/{bot['id']}")).status_code == 204
        r = await by_token.get("/users/@me")
        assert r.status_code == 401 and r.json()["code"] == "invalid_bot_token"
        assert r.headers["WWW-Authenticate"] == "Bot"
        r = await by_jwt.get("/users/@me")
        assert r.status_code == 401 and r.json()["code"] == "invalid_bot_token"
        r = await by_token.post("/bots/connect")
        assert r.status_code == 401
    finally:
        await by_token.aclose()
        await by_jwt.aclose()


async def test_regenerate_kills_old_token_and_its_jwts(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    bot, old = await make_bot(owner, "Phoenix")
    old_jwt = await connect(shared.url, old)
    r = await owner.post(f"/bots/{bot['id']}/token/regenerate")
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    assert TOKEN.match(new) and new != old
    assert r.json()["bot"]["id"] == bot["id"] and r.json()["bot"]["revoked_at"] is None
    clients = {name: bot_client(shared.url, tok, scheme) for name, tok, scheme in
               (("old", old, "Bot"), ("old_jwt", old_jwt, "Bearer"), ("new", new, "Bot"))}
    try:
        for name in ("old", "old_jwt"):
            r = await clients[name].get("/users/@me")
            assert r.status_code == 401 and r.json()["code"] == "invalid_bot_token", name
        r = await clients["new"].get("/users/@me")
        assert r.status_code == 200 and r.json()["id"] == bot["user_id"]
        new_jwt = await connect(shared.url, new)
        r = await owner.post(f"/bots/{bot['id']}/token/regenerate")
        assert r.status_code == 200
        for tok, scheme in ((new, "Bot"), (new_jwt, "Bearer")):
            c = bot_client(shared.url, tok, scheme)
            try:
                assert (await c.get("/users/@me")).status_code == 401
            finally:
                await c.aclose()
    finally:
        for c in clients.values():
            await c.aclose()


async def test_other_users_cannot_regenerate_or_read_logs(users: Users) -> None:
    owner, other = await users.new("owner"), await users.new("other")
    bot, _ = await make_bot(owner)
    for method, path in (("POST", f"/bots/{bot['id']}/token/regenerate"), ("GET", f"/bots/{bot['id']}/logs")):
        r = await other.request(method, path)
        assert r.status_code == 404 and r.json()["code"] == "unknown_bot"


# -- policies (§2.3, §4.7) ----------------------------------------------------------------

HUMAN_ONLY = [
    ("POST", "/bots", {"json": {"name": "child"}}),
    ("GET", "/bots", {}),
    ("GET", "/bots/{bot}", {}),
    ("PATCH", "/bots/{bot}", {"json": {"name": "x"}}),
    ("DELETE", "/bots/{bot}", {}),
    ("POST", "/bots/{bot}/token/regenerate", {}),
    ("GET", "/bots/{bot}/logs", {}),
    ("POST", "/users/@me/password", {"json": {"current_password": "x", "new_password": "yyyyyyyy"}}),
    ("DELETE", "/users/@me", {"json": {"password": "x"}}),
]


@pytest.mark.parametrize("scheme", ["Bot", "Bearer"])
async def test_bot_credentials_get_bots_forbidden(users: Users, shared: Running, scheme: str) -> None:
    owner = await users.new("owner")
    bot, token = await make_bot(owner)
    cred = token if scheme == "Bot" else await connect(shared.url, token)
    api = bot_client(shared.url, cred, scheme)
    try:
        for method, path, kw in HUMAN_ONLY:
            r = await api.request(method, path.format(bot=bot["id"]), **kw)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["code"] == "bots_forbidden"
        # nothing changed
        assert (await owner.get(f"/bots/{bot['id']}")).json() == bot
        assert (await api.get("/users/@me")).status_code == 200
    finally:
        await api.aclose()


async def test_connect_is_for_bots_only(users: Users, shared: Running) -> None:
    human = await users.new("human")
    r = await human.post("/bots/connect")
    assert r.status_code == 403 and r.json()["code"] == "bots_only"
    r = await users.anonymous().post("/bots/connect")
    assert r.status_code == 401 and r.json()["code"] == "missing_token"
    r = await users.anonymous().post("/bots/connect", headers={"Authorization": "Bot " + "0" * 64})
    assert r.status_code == 401 and r.json()["code"] == "invalid_bot_token"
    r = await users.anonymous().get("/bots/connect")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


async def test_connect_jwt_claims(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    bot, token = await make_bot(owner)
    api = bot_client(shared.url, token)
    try:
        r = await api.post("/bots/connect")
        assert r.status_code == 200
        body = r.json()
        assert body["expires_in"] == shared.state.config.auth.access_token_ttl_seconds
        claims = shared.state.tokens.decode(body["access_token"])
        assert claims["sub"] == bot["user_id"] and claims["bot"] is True
        assert claims["bgen"] and "sid" not in claims
        # a bot JWT may connect again (it is a bot credential too)
        again = bot_client(shared.url, body["access_token"], "Bearer")
        try:
            assert (await again.post("/bots/connect")).status_code == 200
        finally:
            await again.aclose()
    finally:
        await api.aclose()


async def test_bot_cannot_log_in_with_a_password(users: Users) -> None:
    owner = await users.new("owner")
    bot, _ = await make_bot(owner)
    username = (await owner.get(f"/users/{bot['user_id']}")).json()["username"]
    for password in ("", "correct horse", "x" * 8):
        r = await users.anonymous().post("/auth/login", json={"username": username, "password": password})
        assert r.status_code in (400, 401), r.text
        assert "access_token" not in r.json()


# -- a bot at work -------------------------------------------------------------------------


async def test_bot_joins_by_invite_and_posts_and_logs_keep_50(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    server = await owner.server("Bot land")
    channel = await owner.channel(server["id"], "bots")
    bot, token = await make_bot(owner, "Poster")
    api = bot_client(shared.url, token)
    try:
        r = await api.get(f"/channels/{channel['id']}/messages")
        assert r.status_code == 404  # not a member yet
        await owner.invite_and_join(server["id"], api)
        r = await owner.get(f"/servers/{server['id']}/members")
        assert bot["user_id"] in {m["user"]["id"] if "user" in m else m["user_id"] for m in
                                  (r.json() if isinstance(r.json(), list) else r.json()["members"])}
        long_text = "x" * 100
        sent = [await api.send(channel["id"], f"{i} {long_text}") for i in range(53)]
        assert all(m["author_id"] == bot["user_id"] for m in sent)
    finally:
        await api.aclose()
    r = await owner.get(f"/bots/{bot['id']}/logs")
    assert r.status_code == 200
    logs = r.json()["logs"]
    events = [entry["event"] for entry in logs]
    assert events.count("message_sent") == 50
    assert events[-1] == "bot_created" and events[:50] == ["message_sent"] * 50
    first = logs[0]
    assert first["detail"] == f"[channel {channel['id']}] {('52 ' + long_text)[:80]}"
    # newest first: the 50 kept are messages 52 down to 3
    assert [e["detail"].split("] ", 1)[1].split(" ", 1)[0] for e in logs[:50]] == [str(i) for i in range(52, 2, -1)]
    stamps = [e["timestamp"] for e in logs]
    assert stamps == sorted(stamps, reverse=True)

    assert (await owner.delete(f"/bots/{bot['id']}")).status_code == 204
    logs = (await owner.get(f"/bots/{bot['id']}/logs")).json()["logs"]
    assert logs[0]["event"] == "bot_revoked"
    assert (await owner.delete(f"/bots/{bot['id']}")).status_code == 204
    logs2 = (await owner.get(f"/bots/{bot['id']}/logs")).json()["logs"]
    assert logs2 == logs  # a repeated DELETE changes nothing


async def test_human_posts_are_not_bot_logged(users: Users) -> None:
    owner = await users.new("owner")
    server = await owner.server()
    channel = await owner.channel(server["id"])
    bot, _ = await make_bot(owner)
    await owner.send(channel["id"], "I am human")
    logs = (await owner.get(f"/bots/{bot['id']}/logs")).json()["logs"]
    assert [e["event"] for e in logs] == ["bot_created"]


# -- the creator's account -----------------------------------------------------------------


async def test_password_change_keeps_bots_alive(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    _, token = await make_bot(owner)
    r = await owner.post("/users/@me/password", json={"current_password": "correct horse", "new_password": "new horse!"})
    assert r.status_code == 204, r.text
    api = bot_client(shared.url, token)
    try:
        assert (await api.get("/users/@me")).status_code == 200
    finally:
        await api.aclose()


async def test_deleted_creator_bots_are_revoked(users: Users, shared: Running) -> None:
    owner = await users.new("owner")
    live, token = await make_bot(owner, "Live")
    jwt = await connect(shared.url, token)
    gone, _ = await make_bot(owner, "Gone")
    assert (await owner.delete(f"/bots/{gone['id']}")).status_code == 204
    r = await owner.delete("/users/@me", json={"password": "correct horse"})
    assert r.status_code == 204, r.text
    for tok, scheme in ((token, "Bot"), (jwt, "Bearer")):
        api = bot_client(shared.url, tok, scheme)
        try:
            r = await api.get("/users/@me")
            assert r.status_code == 401 and r.json()["code"] == "invalid_bot_token", scheme
        finally:
            await api.aclose()
    db = sqlite3.connect(shared.state.config.data_path / "together.db")
    try:
        rows = dict(db.execute("SELECT id, revoked_at FROM bots WHERE created_by = ?", (owner.id,)).fetchall())
        gone_logs = db.execute(
            "SELECT count(*) FROM bot_logs WHERE bot_id = ? AND event = 'bot_revoked'", (gone["id"],)
        ).fetchone()[0]
    finally:
        db.close()
    assert set(rows) == {live["id"], gone["id"]} and all(rows.values())
    assert gone_logs == 1  # revoked once, not again by the deletion
    # the bot's own account still renders
    viewer = await users.new("viewer")
    r = await viewer.get(f"/users/{live['user_id']}")
    assert r.status_code == 200 and r.json()["is_bot"] is True
