"""The web client's session over time, in a real browser (issue 11): a daemon restart gives a
fresh READY and nothing is missed; access tokens are refreshed silently before they expire;
a login session that ends elsewhere returns to the login screen with a message.

Each test runs its own daemon (one restarts it, one shortens the token lifetime).
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ThreadDaemon, make_config, unique
from playwright.sync_api import Browser, expect, sync_playwright
from web_browser import launch, message, register

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_restart_gives_a_fresh_ready_and_nothing_is_missed(browser: Browser) -> None:
    data = Path(tempfile.mkdtemp(prefix="together-web-restart-"))
    port = free_port()
    first = ThreadDaemon(make_config(data, server={"port": port}))
    base = first.start().url
    alice = register(base, unique("alice"))
    sid = alice.api("POST", "/servers", json={"name": "Restarts"})["id"]
    cid = alice.api("POST", f"/servers/{sid}/channels", json={"name": "general", "type": "text"})["id"]
    alice.api("POST", f"/channels/{cid}/messages", json={"content": "before the restart"})
    try:
        page = alice.open(browser, f"#/channels/{sid}/{cid}")
        expect(message(page, "before the restart")).to_be_visible()
        first.stop()
        expect(page.locator(".conn")).to_be_visible()  # "Reconnecting…"
        second = ThreadDaemon(make_config(data, server={"port": port}))
        second.start()
        try:
            # posted before the client is back: the fresh READY cannot replay it, the client fetches it
            alice.http.close()
            alice.http = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {alice.auth['access_token']}"})
            alice.api("POST", f"/channels/{cid}/messages", json={"content": "posted while you were away"})
            expect(page.locator(".conn")).to_have_count(0, timeout=40_000)
            expect(message(page, "posted while you were away")).to_be_visible()
            alice.api("POST", f"/channels/{cid}/messages", json={"content": "live on the new session"})
            expect(message(page, "live on the new session")).to_be_visible()
            assert page.locator("article.msg .content").all_inner_texts()[-3:] == [
                "before the restart", "posted while you were away", "live on the new session"]
            assert not [e for e in alice.errors if "pageerror" in e]
        finally:
            second.stop()
    finally:
        alice.close()


def test_tokens_refresh_silently_and_a_lost_session_returns_to_login(browser: Browser) -> None:
    data = Path(tempfile.mkdtemp(prefix="together-web-refresh-"))
    # 62 s tokens: the client refreshes 60 s before expiry, at the earliest 5 s after getting one
    daemon = ThreadDaemon(make_config(data, auth={"access_token_ttl_seconds": 62}))
    base = daemon.start().url
    bob = register(base, unique("bob"))
    sid = bob.api("POST", "/servers", json={"name": "Tokens"})["id"]
    cid = bob.api("POST", f"/servers/{sid}/channels", json={"name": "general", "type": "text"})["id"]
    try:
        page = bob.open(browser, f"#/channels/{sid}/{cid}")
        expect(page.get_by_role("heading", name="general")).to_be_visible()
        first = bob.auth["refresh_token"]
        stored = lambda: page.evaluate("JSON.parse(localStorage.getItem('together.auth')).refresh_token")  # noqa: E731
        deadline = time.monotonic() + 20
        while stored() == first and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert stored() != first, "no silent refresh"
        area = page.get_by_role("textbox", name="Message #general")
        area.fill("still signed in")
        area.press("Enter")
        expect(message(page, "still signed in")).to_be_visible()
        # the login session ends elsewhere (another device logs it out)
        r = httpx.post(base + "/auth/logout", json={"refresh_token": stored()}, timeout=30)
        assert r.status_code == 204
        expect(page.get_by_role("alert")).to_contain_text("session has ended")
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
    finally:
        bob.close()
        daemon.stop()
