"""Helpers for the web client's browser tests: Debian's Chromium driven by Playwright.

Chromium is never downloaded: ``.ci/run`` installs Debian's package and we launch
``/usr/bin/chromium`` (or ``$TOGETHER_CHROMIUM``). It may reach nothing but loopback
(``--host-resolver-rules``). Screenshots go to ``$TOGETHER_SCREENSHOTS`` when set (the README's
images come from ``TOGETHER_SCREENSHOTS=docs/screenshots``), else to a temp dir.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = os.environ.get("TOGETHER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
PASSWORD = "correct horse"


def launch(pw: Playwright, *extra: str) -> Browser:
    """Headless Debian Chromium with the loopback-only flags (plus ``extra``)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install -y chromium (.ci/run does)"
    return pw.chromium.launch(executable_path=CHROMIUM, args=[*LAUNCH_ARGS, *extra])


def screenshot_dir(fallback: Path) -> Path:
    d = Path(os.environ.get("TOGETHER_SCREENSHOTS") or fallback)
    d.mkdir(parents=True, exist_ok=True)
    return d


class Person:
    """One user: an API client with their token and a browser page logged in as them."""

    def __init__(self, base: str, name: str, body: dict[str, Any]) -> None:
        self.base, self.name = base, name
        self.auth = body
        self.id = body["user"]["id"]
        self.http = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {body['access_token']}"})
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.errors: list[str] = []

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def open(self, browser: Browser, hash_: str = "#/", **context_kw: Any) -> Page:
        """A new context whose localStorage already holds this user's tokens (as after a login)."""
        self.context = browser.new_context(**context_kw)
        self.context.add_init_script(
            "if (!sessionStorage.getItem('seeded')) { sessionStorage.setItem('seeded', '1');"
            f" localStorage.setItem('together.auth', {json.dumps(json.dumps(self.stored()))}); }}")
        page = self.context.new_page()
        self.watch(page)
        page.goto(self.base + "/" + hash_)
        self.page = page
        return page

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def stored(self) -> dict[str, Any]:
        import base64
        payload = self.auth["access_token"].split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
        return {"access_token": self.auth["access_token"], "refresh_token": self.auth["refresh_token"],
                "user": self.auth["user"], "exp": exp * 1000}

    def close(self) -> None:
        self.http.close()
        if self.context is not None:
            self.context.close()


def register(base: str, name: str) -> Person:
    r = httpx.post(base + "/auth/register", json={"username": name, "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    return Person(base, name, r.json())


def message(page: Page, text: str) -> Any:
    """The message article whose content holds ``text`` (not a reply quoting it)."""
    return page.locator("article.msg").filter(has=page.locator(".content", has_text=text))
