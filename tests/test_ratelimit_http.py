"""Rate limiting and CORS over real HTTP (API.md §5, §1.1; FIELD-CASES F10).

Each test starts its own daemon with ``ratelimit.enabled = true``. Bucket capacities are
made distinct (auth 5, user 7, bot 9, ip 4) so ``X-RateLimit-Limit`` names the bucket a
request was counted against. Where exact time matters, ``running.state.limiters`` is
swapped for ``Limiters`` on a fake clock after the users are registered, so nothing waits
on the wall clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import Api, Users, make_config
from test_gateway_client import connect, ws_url
from test_gateway_connect import refused

from together_server.daemon import Running, run_daemon
from together_server.ratelimit import BUCKET_NAMES, BucketConfig, Limiters

CAPS = {"auth": 5, "user": 7, "bot": 9, "ip": 4}
RATES = {"auth": 2.0, "user": 15.0, "bot": 50.0, "ip": 10.0}
RL = {"enabled": True, **{n: {"capacity": CAPS[n], "refill_per_second": RATES[n]} for n in BUCKET_NAMES}}
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
ORIGIN = "https://chat.example.org"


class FakeClock:
    """Unix seconds that move only when told."""

    def __init__(self, start: float = 1_700_000_000.25) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def start(nursery: trio.Nursery, tmp_path: Path, **sections: dict[str, Any]) -> Running:
    cfg = make_config(tmp_path / "data", **{"ratelimit": RL, **sections})
    running: Running = await nursery.start(
        lambda task_status: run_daemon(cfg, task_status=task_status, install_signal_handlers=False)
    )
    return running


def fake_limiters(running: Running, clock: Callable[[], float]) -> Limiters:
    """Fresh limiters with the running config's buckets on ``clock``, installed in the daemon."""
    rl = running.state.config.ratelimit
    limiters = Limiters.from_config(
        {n: BucketConfig(getattr(rl, n).capacity, getattr(rl, n).refill_per_second) for n in BUCKET_NAMES},
        enabled=rl.enabled, clock=clock,
    )
    running.state.limiters = limiters
    return limiters


@pytest.fixture
async def limited(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Running]:
    running = await start(nursery, tmp_path)
    yield running
    running.shutdown()


@pytest.fixture
async def people(limited: Running) -> AsyncIterator[Users]:
    u = Users(limited.url)
    yield u
    await u.close()


def limit_of(r: httpx.Response) -> int:
    return int(r.headers["X-RateLimit-Limit"])


def remaining(r: httpx.Response) -> int:
    return int(r.headers["X-RateLimit-Remaining"])


def bot_client(base_url: str, token: str, scheme: str = "Bot") -> Api:
    api = Api(base_url)
    api.client.headers["Authorization"] = f"{scheme} {token}"
    return api


# -- F10: the auth bucket, its headers and the 429 --------------------------------------


async def test_f10_login_headers_and_429(limited: Running, people: Users) -> None:
    victim = await people.new("victim")
    clock = FakeClock()
    fake_limiters(limited, clock)
    anon = people.anonymous()
    window = CAPS["auth"] / RATES["auth"]
    answers = []
    for _ in range(CAPS["auth"] + 1):
        r = await anon.post("/auth/login", json={"username": victim.user["username"], "password": "wrong!!"})
        answers.append(r)
    for i, r in enumerate(answers[:-1]):
        assert r.status_code == 401, r.text
        assert limit_of(r) == CAPS["auth"]
        assert remaining(r) == CAPS["auth"] - 1 - i
        reset = int(r.headers["X-RateLimit-Reset"])
        assert reset == math.ceil(clock.now + (i + 1) / RATES["auth"])
        assert clock.now <= reset <= math.ceil(clock.now + window)
        assert "Retry-After" not in r.headers
    refused = answers[-1]
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited" and body["message"] == body["error"]
    assert isinstance(body["retry_after"], float) and body["retry_after"] == pytest.approx(1 / RATES["auth"], abs=1e-3)
    assert limit_of(refused) == CAPS["auth"] and remaining(refused) == 0
    retry = int(refused.headers["Retry-After"])
    assert retry >= 1
    assert retry <= int(refused.headers["X-RateLimit-Reset"]) - clock.now + 1
    # a refusal takes no token: still refused a hair before the token is back
    clock.advance(body["retry_after"] - 0.01)
    r = await anon.post("/auth/login", json={"username": victim.user["username"], "password": "wrong!!"})
    assert r.status_code == 429
    clock.advance(0.01)
    r = await anon.post("/auth/login", json={"username": victim.user["username"], "password": "wrong!!"})
    assert r.status_code == 401 and remaining(r) == 0
    # a full refill window later the bucket is full again
    clock.advance(window)
    r = await anon.post("/auth/login", json={"username": victim.user["username"], "password": "correct horse"})
    assert r.status_code == 200 and remaining(r) == CAPS["auth"] - 1


async def test_f10_retry_after_wall_clock(limited: Running, people: Users) -> None:
    """With the real clock: Retry-After is a delay, Reset an absolute time in the near future."""
    anon = people.anonymous()
    while True:
        r = await anon.post("/auth/login", json={"username": "nobody", "password": "wrong!!"})
        if r.status_code == 429:
            break
        assert r.status_code == 401
    now = time.time()
    reset = int(r.headers["X-RateLimit-Reset"])
    assert now - 1 <= reset <= now + CAPS["auth"] / RATES["auth"] + 1
    assert 1 <= int(r.headers["Retry-After"]) <= reset - now + 1


async def test_password_routes_use_the_auth_bucket(limited: Running, people: Users) -> None:
    alice = await people.new("alice")
    fake_limiters(limited, FakeClock())
    r = await alice.post("/users/@me/password", json={"current_password": "nope", "new_password": "whatever1"})
    assert r.status_code == 403 and limit_of(r) == CAPS["auth"]
    r = await alice.delete("/users/@me", json={"password": "nope"})
    assert r.status_code == 403 and limit_of(r) == CAPS["auth"] and remaining(r) == CAPS["auth"] - 2
    # other routes of the same user count per account
    r = await alice.get("/users/@me")
    assert limit_of(r) == CAPS["user"] and remaining(r) == CAPS["user"] - 1


# -- one bucket per request ----------------------------------------------------------------


async def test_user_ip_and_bot_buckets_are_separate(limited: Running, people: Users) -> None:
    alice, bob = await people.new("alice"), await people.new("bob")
    r = await alice.post("/bots", json={"name": "counter"})
    assert r.status_code == 201
    bot_token = r.json()["token"]
    bot_user = r.json()["bot"]["user_id"]
    fake_limiters(limited, FakeClock())
    by_token = bot_client(limited.url, bot_token)
    try:
        r = await by_token.post("/bots/connect")
        assert r.status_code == 200 and limit_of(r) == CAPS["bot"] and remaining(r) == CAPS["bot"] - 1
        by_jwt = bot_client(limited.url, r.json()["access_token"], "Bearer")
        try:
            # token and JWT share the bot's one bucket
            r = await by_jwt.get("/users/@me")
            assert r.json()["id"] == bot_user and limit_of(r) == CAPS["bot"] and remaining(r) == CAPS["bot"] - 2
        finally:
            await by_jwt.aclose()
    finally:
        await by_token.aclose()

    for i in range(CAPS["user"]):
        r = await alice.get("/users/@me")
        assert r.status_code == 200 and limit_of(r) == CAPS["user"] and remaining(r) == CAPS["user"] - 1 - i
    r = await alice.get("/users/@me")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    # alice's empty bucket is hers alone: same IP, other user, anonymous and bad tokens go on
    r = await bob.get("/users/@me")
    assert r.status_code == 200 and remaining(r) == CAPS["user"] - 1
    anon = people.anonymous()
    r = await anon.get("/instance/registration-mode")
    assert r.status_code == 200 and limit_of(r) == CAPS["ip"] and remaining(r) == CAPS["ip"] - 1
    for header in ("Bearer not-a-jwt", "Bot " + "0" * 64, "Basic abc"):
        r = await anon.get("/users/@me", headers={"Authorization": header})
        assert r.status_code == 401 and limit_of(r) == CAPS["ip"], header
    # the ip bucket is now empty (4 taken): a rate limit comes before the 401
    r = await anon.get("/users/@me")
    assert r.status_code == 429 and limit_of(r) == CAPS["ip"]
    assert "WWW-Authenticate" not in r.headers
    # ... and it does not touch alice's / bob's account buckets
    r = await bob.get("/users/@me")
    assert r.status_code == 200 and remaining(r) == CAPS["user"] - 2


async def test_headers_on_errors_too(limited: Running, people: Users) -> None:
    alice = await people.new("alice")
    anon = people.anonymous()
    cases = [
        (anon, "GET", "/users/@me", 401, CAPS["ip"]),
        (alice, "GET", "/servers/0190f5d2-0000-7000-8000-000000000000", 404, CAPS["user"]),
        (alice, "GET", "/no/such/path", 404, CAPS["user"]),
        (alice, "PUT", "/users/@me", 405, CAPS["user"]),
        (alice, "POST", "/servers", 400, CAPS["user"]),
    ]
    for api, method, path, status, limit in cases:
        r = await api.request(method, path, content=b"{")
        assert r.status_code == status, (method, path, r.text)
        assert limit_of(r) == limit, (method, path)
        assert all(h in r.headers for h in HEADERS)


async def test_health_and_preflight_are_exempt(limited: Running, people: Users) -> None:
    anon = people.anonymous()
    for _ in range(CAPS["ip"] * 3):
        r = await anon.get("/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert not any(h in r.headers for h in HEADERS)
        r = await anon.request("OPTIONS", "/servers", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 204
        assert not any(h in r.headers for h in HEADERS)
    # none of that spent a token
    r = await anon.get("/instance/registration-mode")
    assert r.status_code == 200 and remaining(r) == CAPS["ip"] - 1


async def test_disabled_sends_no_headers(shared: Running) -> None:
    assert shared.state.config.ratelimit.enabled is False
    users = Users(shared.url)
    try:
        alice = await users.new("alice")
        for _ in range(50):
            r = await alice.get("/users/@me")
            assert r.status_code == 200
            assert not any(h in r.headers for h in HEADERS)
        r = await users.anonymous().get("/users/@me")
        assert r.status_code == 401 and not any(h in r.headers for h in HEADERS)
    finally:
        await users.close()


# -- client IP (§1.1) -----------------------------------------------------------------------


async def _drain_ip(anon: Api, xff: str | None) -> None:
    headers = {"X-Forwarded-For": xff} if xff else {}
    for i in range(CAPS["ip"]):
        r = await anon.get("/instance/registration-mode", headers=headers)
        assert r.status_code == 200 and remaining(r) == CAPS["ip"] - 1 - i, (xff, i)
    r = await anon.get("/instance/registration-mode", headers=headers)
    assert r.status_code == 429, xff


async def test_forwarded_for_believed_from_trusted_proxy(nursery: trio.Nursery, tmp_path: Path) -> None:
    running = await start(nursery, tmp_path, server={"trusted_proxies": ["127.0.0.1"]})
    fake_limiters(running, FakeClock())
    anon = Api(running.url)
    try:
        await _drain_ip(anon, "203.0.113.7")
        # another client behind the proxy has its own bucket; so does the proxy itself
        await _drain_ip(anon, "203.0.113.8")
        await _drain_ip(anon, None)
        # right-most untrusted hop: a client cannot pick its bucket by prepending addresses
        r = await anon.get("/instance/registration-mode", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        assert r.status_code == 429
        r = await anon.get("/instance/registration-mode", headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
        assert r.status_code == 200
        # several headers count as one list; trusted hops on the right are skipped
        r = await anon.get("/instance/registration-mode",
                           headers=[("X-Forwarded-For", "203.0.113.8"), ("X-Forwarded-For", "127.0.0.1")])
        assert r.status_code == 429
        # IPv6 clients share a bucket per /64
        await _drain_ip(anon, "2001:db8:1:2::1")
        r = await anon.get("/instance/registration-mode", headers={"X-Forwarded-For": "2001:db8:1:2:ffff::9"})
        assert r.status_code == 429
        r = await anon.get("/instance/registration-mode", headers={"X-Forwarded-For": "2001:db8:1:3::1"})
        assert r.status_code == 200
    finally:
        await anon.aclose()
        running.shutdown()


async def test_forwarded_for_ignored_from_untrusted_peer(limited: Running) -> None:
    fake_limiters(limited, FakeClock())
    anon = Api(limited.url)
    try:
        await _drain_ip(anon, "203.0.113.7")
        r = await anon.get("/instance/registration-mode", headers={"X-Forwarded-For": "203.0.113.99"})
        assert r.status_code == 429  # the peer 127.0.0.1 is the client, whatever it claims
    finally:
        await anon.aclose()


# -- CORS (§1.1) ----------------------------------------------------------------------------


async def test_cors(nursery: trio.Nursery, tmp_path: Path) -> None:
    running = await start(nursery, tmp_path, server={"allowed_origins": [ORIGIN]})
    anon = Api(running.url)
    try:
        r = await anon.get("/users/@me", headers={"Origin": ORIGIN})
        assert r.status_code == 401
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        exposed = {h.strip() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed == {*HEADERS, "Retry-After", "WWW-Authenticate"}
        r = await anon.get("/users/@me", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in r.headers
        assert "Access-Control-Expose-Headers" not in r.headers

        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            r = await anon.request("OPTIONS", "/servers/x/members/y/roles/z", headers={
                "Origin": ORIGIN, "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type"})
            assert r.status_code == 204 and r.content == b""
            assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
            allowed = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
            assert method in allowed
            allowed_headers = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
            assert {"authorization", "content-type"} <= allowed_headers
        r = await anon.request("OPTIONS", "/servers", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers
        # OPTIONS that is not a preflight is a 405
        r = await anon.request("OPTIONS", "/servers")
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    finally:
        await anon.aclose()
        running.shutdown()


async def test_cors_wildcard(nursery: trio.Nursery, tmp_path: Path) -> None:
    running = await start(nursery, tmp_path, server={"allowed_origins": ["*"]})
    anon = Api(running.url)
    try:
        r = await anon.get("/health", headers={"Origin": "http://192.168.1.20:3000"})
        assert r.headers["Access-Control-Allow-Origin"] == "http://192.168.1.20:3000"
        r = await anon.get("/health")
        assert "Access-Control-Allow-Origin" not in r.headers
    finally:
        await anon.aclose()
        running.shutdown()


async def test_gateway_upgrade_counts_against_the_callers_bucket(nursery: trio.Nursery, tmp_path: Any) -> None:
    """§5: /ws upgrades take a token from the user bucket; a refusal is a plain HTTP 429
    before the upgrade, with the rate-limit headers and Retry-After."""
    cfg = make_config(tmp_path / "ws", ratelimit={"enabled": True, "user": {"capacity": 2, "refill_per_second": 0.01}})
    running = await nursery.start(lambda task_status: run_daemon(cfg, task_status=task_status, install_signal_handlers=False))
    users = Users(running.url)
    try:
        alice = await users.new("wsrl")  # registering uses the auth bucket
        for _ in range(2):
            async with connect(running.url, alice.token) as gw:
                assert gw.ready["user"]["id"] == alice.id
        r = await refused(ws_url(running.url, token=alice.token))
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert float(r.json()["retry_after"]) > 0
        for name in ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            assert name in r.headers
        assert r.headers["x-ratelimit-limit"] == "2" and r.headers["x-ratelimit-remaining"] == "0"
    finally:
        await users.close()
        running.shutdown()
