"""Webhooks (issue 13): incoming posts with a Discord-style body, per-webhook rate limit and
revocation; outgoing deliveries signed with HMAC-SHA256 to a real loopback receiver, with
retries, the delivery log and the test route; the SSRF guard; audit entries."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import trio
from conftest import Api, ThreadDaemon, Users, make_config
from test_roles import setup

from together_server.daemon import Running
from together_server.webhook_delivery import Refused, address_allowed, check_target


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """This module's daemon: loopback receivers allowed, fast retries, 3 posts/minute per webhook."""
    cfg = make_config(tmp_path_factory.mktemp("webhooks"), webhooks={
        "allow_private_addresses": True, "retry_delays_seconds": [0.2, 0.2], "max_attempts": 3,
        "incoming_per_minute": 3, "timeout_seconds": 5.0})
    d = ThreadDaemon(cfg)
    running = d.start()
    yield running
    d.stop()


class Receiver:
    """A loopback HTTP server recording each POST; answers ``fail_first`` 500s first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length", "0"))
                outer.got.append((dict(self.headers), self.rfile.read(n)))
                status = 500 if len(outer.got) <= outer.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def wait_for(check: Any, seconds: float = 10.0) -> Any:
    with trio.fail_after(seconds):
        while True:
            value = await check()
            if value:
                return value
            await trio.sleep(0.05)


async def test_incoming_webhook_posts_and_is_revocable(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    assert (await member.post(f"/servers/{sid}/webhooks", json={"name": "CI", "channel_id": chan["id"]})).status_code == 403
    r = await owner.post(f"/servers/{sid}/webhooks", json={"name": "CI", "channel_id": chan["id"]},
                         headers={"X-Audit-Log-Reason": "build bot"})
    assert r.status_code == 201, r.text
    made = r.json()
    hook, url = made["webhook"], made["url"]
    assert hook["kind"] == "incoming" and hook["channel_id"] == chan["id"] and made["token"] in url
    anon = users.anonymous()
    r = await anon.post(url, json={"content": "build #12 passed ✅", "username": "GitHub"})
    assert r.status_code == 204
    r = await anon.post(url + "?wait=true", json={"embeds": [{"title": "Deploy", "description": "v1.2 is live",
                                                              "fields": [{"name": "env", "value": "prod"}]}]})
    assert r.status_code == 200
    msg = r.json()
    assert msg["content"] == "Deploy\nv1.2 is live\nenv: prod" and msg["author_id"] == hook["user_id"]
    texts = [m["content"] for m in (await member.get(f"/channels/{chan['id']}/messages")).json()]
    assert "build #12 passed ✅" in texts
    author = (await member.get(f"/users/{hook['user_id']}")).json()
    assert author["username"] == "CI"
    # bad bodies, wrong token
    assert (await anon.post(url, json={})).json()["code"] == "validation_failed"
    assert (await anon.post(url, content=b"{nope")).json()["code"] == "invalid_json"
    wrong = url.rsplit("/", 1)[0] + "/not-the-token"
    assert (await anon.post(wrong, json={"content": "x"})).json()["code"] == "unknown_webhook"
    # per-webhook rate limit (3 per minute in this module; refused bodies do not count)
    assert (await anon.post(url, json={"content": "third"})).status_code == 204
    r = await anon.post(url, json={"content": "one too many"})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and "Retry-After" in r.headers
    # revoke
    assert (await owner.delete(f"/servers/{sid}/webhooks/{hook['id']}")).status_code == 204
    assert (await anon.post(url, json={"content": "x"})).status_code == 404
    log = (await owner.get(f"/servers/{sid}/audit-logs")).json()
    acts = {e["action"]: e for e in log}
    assert acts["webhook_create"]["reason"] == "build bot" and "webhook_delete" in acts


async def test_outgoing_signed_retried_logged(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    rx = Receiver(fail_first=1)
    try:
        r = await owner.post(f"/servers/{sid}/webhooks", json={
            "name": "out", "url": rx.url, "event_types": ["message.created", "member.left"]})
        assert r.status_code == 201, r.text
        made = r.json()
        hook, secret = made["webhook"], made["secret"]
        assert hook["kind"] == "outgoing" and hook["event_types"] == ["message.created", "member.left"]
        listed = (await owner.get(f"/servers/{sid}/webhooks")).json()["webhooks"]
        assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
        sent = await member.send(chan["id"], "hello hooks")
        await wait_for(lambda: _count(rx, 2))  # first attempt 500, the retry 200
        headers, raw = rx.got[1]
        assert headers["X-Together-Signature-256"] == "sha256=" + hmac.new(
            secret.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["X-Together-Event"] == "message.created" and headers["X-Together-Delivery-Attempt"] == "2"
        body = orjson.loads(raw)
        assert body["event"] == "message.created" and body["server_id"] == sid
        assert body["data"]["id"] == sent["id"] and body["data"]["content"] == "hello hooks"

        async def delivered() -> Any:
            log = (await owner.get(f"/servers/{sid}/webhooks/{hook['id']}/deliveries")).json()
            return log if log and log[0]["status"] == "success" else None
        log = await wait_for(delivered)
        assert log[0]["attempts"] == 2 and log[0]["response_status"] == 200
        # the test route
        r = await owner.post(f"/servers/{sid}/webhooks/{hook['id']}/test")
        assert r.status_code == 202 and r.json()["event"] == "ping" and r.json()["status"] == "pending"
        await wait_for(lambda: _count(rx, 3))
        assert orjson.loads(rx.got[2][1])["event"] == "ping"
        # member.left
        assert (await member.delete(f"/servers/{sid}/leave")).status_code == 204
        await wait_for(lambda: _count(rx, 4))
        left = orjson.loads(rx.got[3][1])
        assert left["event"] == "member.left" and left["data"] == {"server_id": sid, "user_id": member.id}
        # disable: no more deliveries
        r = await owner.patch(f"/servers/{sid}/webhooks/{hook['id']}", json={"enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
        bad = await owner.patch(f"/servers/{sid}/webhooks/{hook['id']}", json={"event_types": ["nope"]})
        assert bad.status_code == 400 and "event_types" in bad.json()["errors"]
    finally:
        rx.close()


async def _count(rx: Receiver, n: int) -> bool:
    return len(rx.got) >= n


async def test_gives_up_after_max_attempts(users: Users) -> None:
    owner, _member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    rx = Receiver(fail_first=100)
    try:
        hook = (await owner.post(f"/servers/{sid}/webhooks", json={
            "name": "down", "url": rx.url, "event_types": ["message.created"]})).json()["webhook"]
        await owner.send(chan["id"], "nobody home")

        async def failed() -> Any:
            log = (await owner.get(f"/servers/{sid}/webhooks/{hook['id']}/deliveries")).json()
            return log if log and log[0]["status"] == "failed" else None
        log = await wait_for(failed)
        assert log[0]["attempts"] == 3 and log[0]["error"] == "HTTP 500"
        assert len(rx.got) == 3
        again = (await owner.get(f"/servers/{sid}/webhooks/{hook['id']}")).json()
        assert again["delivery_failures"] == 1
    finally:
        rx.close()


async def test_create_validation(users: Users) -> None:
    owner, _member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x"}, "channel_id"),
        ({"name": "x", "channel_id": chan["id"], "url": "https://example.com"}, "url"),
        ({"name": "x", "url": "ftp://example.com", "event_types": ["message.created"]}, "url"),
        ({"name": "x", "url": "https://example.com", "event_types": []}, "event_types"),
        ({"name": "", "channel_id": chan["id"]}, "name"),
    ]
    for payload, field in cases:
        r = await owner.post(f"/servers/{sid}/webhooks", json=payload)
        assert r.status_code == 400 and field in r.json()["errors"], (payload, r.text)
    r = await owner.post(f"/servers/{sid}/webhooks", json={"name": "x", "channel_id": "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_channel"
    assert (await owner.get(f"/servers/{sid}/webhooks/0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d")).json()["code"] == "unknown_webhook"


@pytest.mark.parametrize("ip, ok", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.10", False), ("169.254.169.254", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("0.0.0.0", False),
    ("100.64.0.1", False), ("8.8.8.8", True), ("2606:4700:4700::1111", True),
])
def test_address_guard(ip: str, ok: bool) -> None:
    assert address_allowed(ip) is ok


async def test_ssrf_guard_refuses_loopback_and_http() -> None:
    with pytest.raises(Refused):
        await check_target("https://127.0.0.1:9/x", allow_private=False)
    with pytest.raises(Refused):
        await check_target("https://localhost:9/x", allow_private=False)
    with pytest.raises(Refused):
        await check_target("http://example.com/x", allow_private=False)
    await check_target("http://127.0.0.1:9/x", allow_private=True)


async def test_default_config_refuses_http_urls(daemon: Running) -> None:
    users = Users(daemon.url)
    try:
        owner: Api = await users.new("o")
        sid = (await owner.server("S"))["id"]
        r = await owner.post(f"/servers/{sid}/webhooks", json={
            "name": "x", "url": "http://127.0.0.1:9/x", "event_types": ["message.created"]})
        assert r.status_code == 400 and "url" in r.json()["errors"]
    finally:
        await users.close()
