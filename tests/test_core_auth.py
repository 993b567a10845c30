"""Auth, tokens, sessions, users and registration modes (API.md §2, §3.1, §3.2, §2.4).

Field cases F11 (alg none), F13 (expired / no-exp tokens), F15 (refresh rotation, reuse
and races) and F23 (look-alike names and e-mails), REST parts.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
import trio
from conftest import Api, Users, make_config, unique
from test_core_badinput import check_error

from together_server.daemon import Running, run_daemon

PASSWORD = "correct horse"


def secret(running: Running) -> str:
    return running.state.tokens._secret  # the daemon's signing key (test harness only)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


async def me_with(api: Api, token: str) -> httpx.Response:
    return await api.get("/users/@me", headers={"Authorization": f"Bearer {token}"})


def check_401(r: httpx.Response, code: str, scheme: str = "Bearer") -> None:
    check_error(r, 401, code)
    assert r.headers["www-authenticate"].startswith(scheme)


# -- register / login / users ------------------------------------------------------------

async def test_register_login_and_me(users: Users, shared: Running) -> None:
    anon = users.anonymous()
    name = unique("reg")
    r = await anon.post("/auth/register", json={"username": name, "password": PASSWORD, "email": f"{name}@ex.org"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "user"}
    assert body["expires_in"] == shared.state.config.auth.access_token_ttl_seconds
    user = body["user"]
    assert user["username"] == name and user["email"] == f"{name}@ex.org"
    assert user["status"] == "offline" and user["chosen_status"] == "online"
    assert user["is_bot"] is False
    c = claims_of(body["access_token"])
    assert c["sub"] == user["id"] and c["token_type"] == "access" and isinstance(c["sid"], str)
    assert c["exp"] - c["iat"] == shared.state.config.auth.access_token_ttl_seconds
    r = await anon.post("/auth/login", json={"username": name.upper(), "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["id"] == user["id"]
    r = await me_with(anon, r.json()["access_token"])
    assert r.status_code == 200 and r.json()["email"] == f"{name}@ex.org"
    r = await anon.post("/auth/login", json={"username": name, "password": "wrong password"})
    check_401(r, "invalid_credentials")
    r = await anon.post("/auth/login", json={"username": "nobody_" + name, "password": PASSWORD})
    check_401(r, "invalid_credentials")
    r = await anon.post("/auth/login", json={"username": name})
    check_error(r, 400, "validation_failed", "password")


@pytest.mark.parametrize(("field", "value"), [
    ("username", "a"), ("username", "x" * 33), ("username", "has space"), ("username", "dash-ed"),
    ("username", "ünï"), ("username", ""), ("password", "short"), ("password", "p" * 129),
    ("email", "no-at"), ("email", "a@@b.org"), ("email", "a@b"), ("email", "a b@c.org"),
    ("email", "@b.org"), ("email", "l" * 65 + "@b.org"), ("email", "a@" + "d" * 250 + ".org"),
])
async def test_register_field_rules(users: Users, field: str, value: str) -> None:
    body = {"username": unique("rule"), "password": PASSWORD, field: value}
    r = await users.anonymous().post("/auth/register", json=body)
    check_error(r, 400, "validation_failed", field)


async def test_register_limits_inclusive(users: Users) -> None:
    anon = users.anonymous()
    n = unique("L")
    name32 = (n + "_" * 32)[:32]
    r = await anon.post("/auth/register", json={"username": name32, "password": "p" * 128})
    assert r.status_code == 201, r.text
    r = await anon.post("/auth/register", json={"username": unique("m"), "password": "p" * 8, "email": None})
    assert r.status_code == 201 and r.json()["user"]["email"] is None


async def test_f23_lookalike_names_and_emails(users: Users) -> None:
    anon = users.anonymous()
    base = unique("admin").lower()
    mail = unique("straße")
    r = await anon.post("/auth/register", json={"username": base, "password": PASSWORD, "email": f"{mail}@ex.org"})
    assert r.status_code == 201
    admin_id = r.json()["user"]["id"]
    r = await anon.post("/auth/register", json={"username": base.upper(), "password": PASSWORD})
    check_error(r, 409, "username_taken")
    r = await anon.post("/auth/register", json={"username": base.capitalize(), "password": PASSWORD})
    check_error(r, 409, "username_taken")
    for bad in ("\u0430" + base[1:], "".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in base),
                base[:2] + "\u200b" + base[2:], "\u202e" + base[::-1], base + "\u0301", " " + base, base + " ",
                "everyone", "Everyone", "HERE", "here", "EVERYONE"):
        r = await anon.post("/auth/register", json={"username": bad, "password": PASSWORD})
        check_error(r, 400, "validation_failed", "username")
    r = await anon.post("/auth/register", json={"username": unique("e"), "password": PASSWORD,
                                                "email": f"{mail.upper()}@EX.ORG".replace("ß", "SS")})
    check_error(r, 409, "email_taken")
    cafe = unique("café")
    r = await anon.post("/auth/register", json={"username": unique("c"), "password": PASSWORD, "email": f"{cafe}@ex.org"})
    assert r.status_code == 201
    decomposed = cafe.replace("é", "e\u0301")
    r = await anon.post("/auth/register", json={"username": unique("c"), "password": PASSWORD,
                                                "email": f"{decomposed}@ex.org"})
    check_error(r, 409, "email_taken")
    r = await anon.post("/auth/login", json={"username": base.upper(), "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["id"] == admin_id


async def test_users_routes(users: Users) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    r = await alice.patch("/users/@me", json={
        "bio": "hi 👋", "pronouns": "she/her", "status": "dnd", "custom_status": "busy",
        "activity": "coding", "avatar_url": "https://img.example/a.png"})
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["chosen_status"] == "dnd" and me["bio"] == "hi 👋" and me["email"] is None
    # absent / null keep, "" clears
    r = await alice.patch("/users/@me", json={"bio": None, "pronouns": "", "avatar_url": ""})
    assert r.json()["bio"] == "hi 👋" and r.json()["pronouns"] is None and r.json()["avatar_url"] is None
    for field, value in (("avatar_url", "ftp://x"), ("avatar_url", "javascript:alert(1)"), ("bio", "b" * 501),
                         ("pronouns", "p" * 41), ("status", "invisible"), ("status", ""),
                         ("custom_status", "c" * 129), ("activity", 5)):
        r = await alice.patch("/users/@me", json={field: value})
        check_error(r, 400, "validation_failed", field)
    r = await bob.get(f"/users/{alice.id}")
    assert r.status_code == 200
    pub = r.json()
    assert set(pub) == {"id", "username", "avatar_url", "status", "custom_status", "activity", "bio",
                        "pronouns", "created_at", "is_bot"}
    assert pub["custom_status"] == "busy"
    r = await bob.get("/users/00000000-0000-7000-8000-000000000000")
    check_error(r, 404, "unknown_user")
    r = await bob.get(f"/users/{alice.id}", auth=False)
    check_401(r, "missing_token")


async def test_password_change_ends_other_sessions(users: Users) -> None:
    alice = await users.new("pw")
    other = await alice.post("/auth/login", json={"username": alice.user["username"], "password": PASSWORD})
    other_access, other_refresh = other.json()["access_token"], other.json()["refresh_token"]
    r = await alice.post("/users/@me/password", json={"current_password": "nope nope", "new_password": "new password"})
    check_error(r, 403, "invalid_password")
    r = await alice.post("/users/@me/password", json={"current_password": PASSWORD, "new_password": "short"})
    check_error(r, 400, "validation_failed", "new_password")
    r = await alice.post("/users/@me/password", json={"current_password": PASSWORD, "new_password": "new password"})
    assert r.status_code == 204 and r.content == b""
    check_401(await me_with(alice, other_access), "session_revoked")
    r = await alice.post("/auth/refresh", json={"refresh_token": other_refresh})
    check_401(r, "invalid_refresh_token")
    assert (await alice.get("/users/@me")).status_code == 200  # the caller's own session lives on
    r = await alice.post("/auth/login", json={"username": alice.user["username"], "password": "new password"})
    assert r.status_code == 200


async def test_delete_account(users: Users) -> None:
    owner, alice = await users.new("own"), await users.new("gone")
    srv = await owner.server("keep")
    chan = await owner.channel(srv["id"])
    await owner.invite_and_join(srv["id"], alice)
    msg = await alice.send(chan["id"], "my last words")
    r = await owner.delete("/users/@me", json={"password": PASSWORD})
    check_error(r, 400, "owner_cannot_leave")
    r = await alice.delete("/users/@me", json={"password": "wrong one"})
    check_error(r, 403, "invalid_password")
    r = await alice.delete("/users/@me", json={})
    check_error(r, 400, "validation_failed", "password")
    name = alice.user["username"]
    r = await alice.delete("/users/@me", json={"password": PASSWORD})
    assert r.status_code == 204
    check_401(await alice.get("/users/@me"), "session_revoked")
    r = await owner.get(f"/users/{alice.id}")
    assert r.status_code == 200 and r.json()["username"].startswith("deleted-user-")
    r = await owner.get(f"/channels/{chan['id']}/messages/{msg['id']}")
    assert r.status_code == 200 and r.json()["author_id"] == alice.id
    members = (await owner.get(f"/servers/{srv['id']}/members")).json()
    assert [m["user_id"] for m in members] == [owner.id]
    r = await alice.post("/auth/login", json={"username": name, "password": PASSWORD}, auth=False)
    check_401(r, "invalid_credentials")
    r = await alice.post("/auth/register", json={"username": name, "password": PASSWORD}, auth=False)
    assert r.status_code == 201  # the name is free again


# -- tokens: F11, F13 ------------------------------------------------------------------

async def test_f11_alg_none_tokens(users: Users, shared: Running) -> None:
    alice, owner = await users.new("a"), await users.new("o")
    header, payload, sig = alice.token.split(".")
    claims = claims_of(alice.token)
    forged = {**claims, "sub": owner.id, "username": owner.user["username"]}
    tokens = [f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(forged)}." for alg in ("none", "None", "NONE")]
    tokens.append(f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(forged)}.{sig}")
    tokens.append(f"{header}.{b64(forged)}.{sig}")  # payload swapped under the real signature
    tokens.append(jwt.encode(forged, secret(shared), algorithm="HS512"))
    tokens.append(jwt.encode(forged, "x" * 40, algorithm="HS256"))
    tokens += ["abc", "a.b.c", alice.token + "x", "Bearer " + alice.token]
    for tok in tokens:
        check_401(await me_with(alice, tok), "invalid_token")
    check_401(await alice.get("/users/@me", headers={"Authorization": "Bearer"}), "missing_token")
    # the wrong scheme word, or the right one in the wrong case, is no credential
    for value in (f"bearer {alice.token}", f"BEARER {alice.token}", f"Token {alice.token}", alice.token):
        r = await alice.get("/users/@me", headers={"Authorization": value})
        check_401(r, "missing_token")
    r = await alice.get("/users/@me", headers={"Authorization": "Bot " + "0" * 64})
    check_401(r, "invalid_bot_token", scheme="Bot")


async def test_f13_expired_and_exp_less_tokens(users: Users, shared: Running) -> None:
    alice = await users.new("exp")
    base = claims_of(alice.token)
    now = int(time.time())
    key = secret(shared)

    def make(**change: Any) -> str:
        c = {**base, "iat": now - 1000, **change}
        return jwt.encode({k: v for k, v in c.items() if v is not None}, key, algorithm="HS256")

    check_401(await me_with(alice, make(exp=now - 600)), "token_expired")
    check_401(await me_with(alice, make(exp=now - 90)), "token_expired")
    check_401(await me_with(alice, make(exp=None)), "invalid_token")
    r = await me_with(alice, make(exp=now - 30))
    assert r.status_code in (200, 401)  # allowed within a leeway of at most 60 s
    if r.status_code == 401:
        check_401(r, "token_expired")
    r = await me_with(alice, make(exp=now + 600))
    assert r.status_code == 200 and r.json()["id"] == alice.id
    # other claims that must hold
    check_401(await me_with(alice, make(exp=now + 600, token_type="refresh")), "invalid_token")
    check_401(await me_with(alice, make(exp=now + 600, sid=None)), "invalid_token")
    check_401(await me_with(alice, make(exp=now + 600, sub=None)), "invalid_token")


# -- refresh: F15 ----------------------------------------------------------------------

async def test_f15_rotation_races_and_reuse(users: Users) -> None:
    alice = await users.new("rot")
    anon = users.anonymous()
    r1 = alice.refresh_token
    r = await anon.post("/auth/refresh", json={"refresh_token": r1})
    assert r.status_code == 200, r.text
    r2 = r.json()["refresh_token"]
    assert r2 != r1 and set(r.json()) == {"access_token", "refresh_token", "expires_in", "user"}
    # an immediate repeat lost a race: nothing is revoked
    check_401(await anon.post("/auth/refresh", json={"refresh_token": r1}), "refresh_token_rotated")
    assert (await alice.get("/users/@me")).status_code == 200
    # two concurrent refreshes with R2: exactly one wins
    results: list[httpx.Response] = []

    async def refresh_once() -> None:
        results.append(await anon.post("/auth/refresh", json={"refresh_token": r2}))

    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(refresh_once)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 401], [r.text for r in results]
    win = next(r for r in results if r.status_code == 200).json()
    lose = next(r for r in results if r.status_code == 401)
    check_401(lose, "refresh_token_rotated")
    r3, access3 = win["refresh_token"], win["access_token"]
    assert (await me_with(anon, access3)).status_code == 200
    # more than 2 s after the first rotation, the old token is reuse: the session ends
    await trio.sleep(2.1)
    check_401(await anon.post("/auth/refresh", json={"refresh_token": r1}), "refresh_token_reused")
    check_401(await anon.post("/auth/refresh", json={"refresh_token": r3}), "invalid_refresh_token")
    check_401(await me_with(anon, access3), "session_revoked")
    check_401(await alice.get("/users/@me"), "session_revoked")
    check_401(await anon.post("/auth/refresh", json={"refresh_token": r2}), "invalid_refresh_token")


async def test_refresh_and_logout_errors(users: Users) -> None:
    alice = await users.new("out")
    anon = users.anonymous()
    check_401(await anon.post("/auth/refresh", json={"refresh_token": "never-issued"}), "invalid_refresh_token")
    check_error(await anon.post("/auth/refresh", json={}), 400, "validation_failed", "refresh_token")
    check_error(await anon.post("/auth/refresh", json={"refresh_token": ""}), 400, "validation_failed")
    check_error(await anon.post("/auth/refresh", json={"refresh_token": "x" * 2049}), 400, "validation_failed")
    check_error(await anon.post("/auth/logout", json={}), 400, "validation_failed", "refresh_token")
    r = await anon.post("/auth/logout", json={"refresh_token": "unknown-token"})
    assert r.status_code == 204 and r.content == b""
    r = await anon.post("/auth/logout", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 204
    check_401(await alice.get("/users/@me"), "session_revoked")
    check_401(await anon.post("/auth/refresh", json={"refresh_token": alice.refresh_token}), "invalid_refresh_token")
    r = await anon.post("/auth/logout", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 204


async def test_eleventh_login_evicts_least_recently_refreshed(users: Users) -> None:
    alice = await users.new("evict")
    anon = users.anonymous()
    logins = []
    for _ in range(10):
        r = await anon.post("/auth/login", json={"username": alice.user["username"], "password": PASSWORD})
        logins.append(r.json())
    # the registration session was the oldest of 11: it is gone, the 10 logins live
    check_401(await alice.get("/users/@me"), "session_revoked")
    for body in logins:
        assert (await me_with(anon, body["access_token"])).status_code == 200


# -- registration modes (§2.4) ---------------------------------------------------------

@asynccontextmanager
async def own_daemon(tmp: Path, **auth: Any) -> AsyncIterator[tuple[Running, Users]]:
    cfg = make_config(tmp, auth=auth)
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(lambda task_status: run_daemon(
            cfg, task_status=task_status, install_signal_handlers=False))
        users = Users(running.url)
        try:
            yield running, users
        finally:
            await users.close()
            running.shutdown()


async def register(anon: Api, name: str, **extra: Any) -> httpx.Response:
    return await anon.post("/auth/register", json={"username": name, "password": PASSWORD, **extra})


async def test_racing_first_registrations_make_one_admin(tmp_path: Path) -> None:
    async with own_daemon(tmp_path / "d", registration="closed") as (running, users):
        anon = users.anonymous()
        results: list[httpx.Response] = []

        async def reg(i: int) -> None:
            results.append(await register(anon, f"first{i}"))

        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(reg, i)
        ok = [r for r in results if r.status_code == 201]
        assert len(ok) == 1, [r.text for r in results]
        assert ok[0].json()["user"]["is_admin"] is True
        for r in results:
            if r.status_code != 201:
                check_error(r, 403, "registration_closed")
        r = await anon.get("/instance/registration-mode")
        assert r.status_code == 200 and r.json() == {"registration_mode": "closed"}


async def test_open_mode_first_user_admin_only(tmp_path: Path) -> None:
    async with own_daemon(tmp_path / "d") as (running, users):
        anon = users.anonymous()
        assert (await anon.get("/instance/registration-mode")).json() == {"registration_mode": "open"}
        first, second = await register(anon, "first"), await register(anon, "second", invite_code="ignored1")
        assert first.json()["user"]["is_admin"] is True
        assert second.status_code == 201 and second.json()["user"]["is_admin"] is False
        r = await anon.get(f"/users/{first.json()['user']['id']}",
                           headers={"Authorization": f"Bearer {second.json()['access_token']}"})
        assert "is_admin" not in r.json()


async def test_invite_only_mode(tmp_path: Path) -> None:
    async with own_daemon(tmp_path / "d", registration="invite_only") as (running, users):
        anon = users.anonymous()
        r = await register(anon, "founder", invite_code="whatever")  # no users yet: open, code ignored
        assert r.status_code == 201 and r.json()["user"]["is_admin"] is True
        founder = Api(running.url, r.json()["access_token"], r.json()["user"])
        users.made.append(founder)
        srv = await founder.server("Club")
        check_error(await register(anon, "nocode"), 400, "validation_failed", "invite_code")
        check_error(await register(anon, "badcode", invite_code="ZZZZZZZZ"), 400, "validation_failed", "invite_code")
        inv = (await founder.post(f"/servers/{srv['id']}/invites", json={"max_uses": 1})).json()
        r = await register(anon, "joiner", invite_code=inv["code"])
        assert r.status_code == 201, r.text
        joiner = Api(running.url, r.json()["access_token"], r.json()["user"])
        users.made.append(joiner)
        servers = (await joiner.get("/servers")).json()
        assert [s["id"] for s in servers] == [srv["id"]]
        assert servers[0]["member_count"] == 2
        listed = (await founder.get(f"/servers/{srv['id']}/invites")).json()
        assert listed[0]["uses"] == 1
        # used up: the third answer form of a dead invite (§3.1 Ref)
        check_error(await register(anon, "late", invite_code=inv["code"]), 400, "validation_failed", "invite_code")
        check_error(await anon.get(f"/invites/{inv['code']}", headers={"Authorization": f"Bearer {joiner.token}"}),
                    404, "unknown_invite")


async def test_closed_mode(tmp_path: Path) -> None:
    async with own_daemon(tmp_path / "d", registration="closed") as (running, users):
        anon = users.anonymous()
        assert (await register(anon, "first")).status_code == 201
        check_error(await register(anon, "second"), 403, "registration_closed")
        # field rules are checked first (§1.6: 400 before 403)
        check_error(await register(anon, "x"), 400, "validation_failed", "username")
        r = await anon.post("/auth/login", json={"username": "first", "password": PASSWORD})
        assert r.status_code == 200

