"""The bundled web client's files (issue 11): served at / and /app/, with the app's
security headers, shipped as package data, small enough for a fast first load.

The browser tests are in tests/test_web_browser*.py; this module checks the HTTP side only.
"""

from __future__ import annotations

import gzip
import re
from importlib.resources import files

import httpx
import pytest

from together_server.api.web import CSP, load_assets
from together_server.daemon import Running


async def get(running: Running, path: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as c:
        return await c.get(path, **kw)  # type: ignore[arg-type]


async def test_root_serves_the_shell_with_strict_headers(shared: Running) -> None:
    r = await get(shared, "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    # no inline script: every <script> has a src
    for tag in re.findall(r"<script[^>]*>", r.text):
        assert "src=" in tag
    assert "<style" not in r.text and " style=" not in r.text
    assert 'href="/docs"' in r.text


async def test_assets_revalidate_by_etag(shared: Running) -> None:
    r = await get(shared, "/app/js/main.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-frame-options"] == "DENY"
    etag = r.headers["etag"]
    r2 = await get(shared, "/app/js/main.js", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b""


@pytest.mark.parametrize("path", ["/app/nope.js", "/app/vendor/update.sh", "/app/vendor/LICENSE-preact",
                                  "/app/../openapi.yaml", "/app/%2e%2e/openapi.yaml", "/app/js"])
async def test_unknown_or_private_files_are_404(shared: Running, path: str) -> None:
    r = await get(shared, path)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


async def test_api_404s_stay_json(shared: Running) -> None:
    r = await get(shared, "/no-such-route")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_vendored_library_is_pinned_with_licences() -> None:
    vendor = files("together_server") / "web" / "vendor"
    versions = (vendor / "VERSIONS").read_text()
    assert re.search(r"^preact \d+\.\d+\.\d+$", versions, re.M) and re.search(r"^htm \d+\.\d+\.\d+$", versions, re.M)
    for name in ("LICENSE-preact", "LICENSE-htm", "update.sh", "preact.module.js", "hooks.module.js", "htm.module.js"):
        assert (vendor / name).is_file(), name
    assert 'from"./preact.module.js"' in (vendor / "hooks.module.js").read_text()


def test_no_innerhtml_no_eval_in_client() -> None:
    """User text never reaches innerHTML: no sink in our modules at all (issue 11 Security)."""
    for name, (data, _ctype, _etag) in load_assets().items():
        if not name.startswith("js/"):
            continue
        text = data.decode()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "dangerouslySetInnerHTML",
                     "eval(", "new Function"):
            assert sink not in text, f"{name} uses {sink}"


def test_first_load_is_under_150_kb_gzipped() -> None:
    """Every JS and CSS file the client can load (the whole client, an upper bound of a first load)."""
    total = sum(len(gzip.compress(data, 9)) for name, (data, _c, _e) in load_assets().items()
                if name.endswith((".js", ".css")))
    print(f"whole client gzipped: {total} bytes")
    assert total <= 150 * 1024
