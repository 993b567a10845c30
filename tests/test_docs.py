"""The served OpenAPI document and health (API.md §3.8, §4.12, §2.1).

Holds THE drift test: the running app's route table against the paths and methods of the
served ``/docs/openapi.json``, both ways. The document's own checks (schemas, conventions,
agreement with API.md) are in tests/test_openapi_document.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import attrs
import pytest
import yaml
from api_routes import EXPECTED_ROUTES, NO_AUTH_ROUTES, normalise_path
from conftest import Users

from together_server.app import create_app
from together_server.daemon import Running

OPERATION_METHODS = ("get", "put", "post", "patch", "delete")

#: Routes of the document that the app does not serve yet. It must shrink to empty: the
#: drift test fails for a route listed here that the app now serves, and for any other
#: documented route the app lacks. (Empty: every documented route is served.)
NOT_YET_BUILT: frozenset[tuple[str, str]] = frozenset()


def app_routes(running: Running) -> set[tuple[str, str]]:
    """(METHOD, normalised path) of the app's URL map, without HEAD, OPTIONS and static."""
    # A copy of the state: create_app installs fresh limiters on the state it is given.
    app = create_app(attrs.evolve(running.state))
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("web."):
            continue  # the web client's files are not API operations (API.md §1.1)
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                out.add((method, normalise_path(rule.rule)))
    return out


def spec_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), normalise_path(path))
        for path, item in doc["paths"].items()
        for method in item
        if method in OPERATION_METHODS
    }


@pytest.fixture
async def served(shared: Running) -> dict[str, Any]:
    users = Users(shared.url)
    try:
        r = await users.anonymous().get("/docs/openapi.json")
        assert r.status_code == 200
        return r.json()  # type: ignore[no-any-return]
    finally:
        await users.close()


async def test_route_table_matches_served_document(shared: Running, served: dict[str, Any]) -> None:
    assert served["openapi"] == "3.0.3"
    app, doc = app_routes(shared), spec_routes(served)
    undocumented = sorted(app - doc)
    assert not undocumented, f"served but not in openapi.yaml: {undocumented}"
    missing = doc - app
    if missing:
        print("documented routes the app does not serve:", sorted(missing))
    assert not sorted(missing - NOT_YET_BUILT), "documented but not served (and not in NOT_YET_BUILT)"
    stale = sorted(NOT_YET_BUILT & app)
    assert not stale, f"served now, remove from NOT_YET_BUILT: {stale}"
    # the document is the contract's route list (kept in tests/api_routes.py)
    assert doc == EXPECTED_ROUTES


async def test_yaml_json_and_html_agree(shared: Running, served: dict[str, Any]) -> None:
    users = Users(shared.url)
    try:
        anon = users.anonymous()
        r = await anon.get("/docs/openapi.yaml")
        assert r.status_code == 200
        assert r.headers["content-type"].split(";")[0].strip() == "application/yaml"
        assert yaml.safe_load(r.text) == served
        assert re.search(r"^openapi: ['\"]?3\.0\.3['\"]?$", r.text, re.M)
        rj = await anon.get("/docs/openapi.json")
        assert rj.headers["content-type"].split(";")[0].strip() == "application/json"

        page = await anon.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].split(";")[0].strip() == "text/html"
        html = page.text
        for path in served["paths"]:
            assert path in html or path.replace("&", "&amp;") in html, path
        assert "/docs/openapi.yaml" in html and "/docs/openapi.json" in html

        # HEAD is GET without a body
        head = await anon.request("HEAD", "/docs/openapi.yaml")
        assert head.status_code == 200 and head.content == b""
    finally:
        await users.close()


class _Refs(HTMLParser):
    """Collects every URL the page would fetch or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "data", "poster") and value:
                self.urls.append(value)
            if name == "style" and value and "url(" in value:
                self.urls.append(value)


async def test_docs_page_works_offline(shared: Running) -> None:
    users = Users(shared.url)
    try:
        html = (await users.anonymous().get("/docs")).text
    finally:
        await users.close()
    refs = _Refs()
    refs.feed(html)
    external = [u for u in refs.urls if re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", u, re.I)]
    assert not external, external
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html, re.I)
    assert not re.search(r"https?://", html.split("<body", 1)[0], re.I)  # nothing in <head>


async def test_docs_need_no_credentials(shared: Running) -> None:
    users = Users(shared.url)
    try:
        anon = users.anonymous()
        for path in ("/docs", "/docs/openapi.yaml", "/docs/openapi.json", "/health", "/instance/registration-mode"):
            assert ("GET", path) in NO_AUTH_ROUTES
            for headers in ({}, {"Authorization": "Bearer broken"}, {"Authorization": "Bot " + "f" * 64}):
                r = await anon.get(path, headers=headers)
                assert r.status_code == 200, (path, headers, r.text[:200])
    finally:
        await users.close()


async def test_health(shared: Running) -> None:
    users = Users(shared.url)
    try:
        r = await users.anonymous().get("/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        r = await users.anonymous().post("/health")
        assert r.status_code == 405 and "GET" in r.headers["Allow"]
    finally:
        await users.close()


class _BrokenDb:
    async def read(self, fn: Any, *args: Any) -> Any:
        raise OSError("disk on fire")


async def test_health_degraded_when_database_cannot_be_read(daemon: Running) -> None:
    st = daemon.state
    users = Users(daemon.url)
    real = st.db
    try:
        st.db = _BrokenDb()
        r = await users.anonymous().get("/health")
        assert r.status_code == 503
        body = r.json()
        assert body["code"] == "service_unavailable" and body["status"] == "degraded"
        assert body["message"] == body["error"]
    finally:
        st.db = real
        await users.close()
    users = Users(daemon.url)
    try:
        assert (await users.anonymous().get("/health")).status_code == 200
    finally:
        await users.close()


async def test_docs_conventions_render_as_whole_bullets(shared: Running, served: dict[str, Any]) -> None:
    """/docs shows each Conventions bullet of the description as one list item (wrapped
    lines included) and *strict* in italics, not with literal stars (issue 15 part 8)."""
    users = Users(shared.url)
    try:
        page = (await users.anonymous().get("/docs")).text
    finally:
        await users.close()
    intro = page.split("<nav>", 1)[0]
    conventions = intro.split("Conventions", 1)[1]
    lists = re.findall(r"<ul>(.*?)</ul>", conventions, re.S)
    assert len(lists) == 1, "the bullets were split into several lists by their wrapped lines"
    items = re.findall(r"<li>(.*?)</li>", lists[0], re.S)
    source = served["info"]["description"].split("Conventions", 1)[1]
    assert len(items) == len(re.findall(r"^- ", source, re.M))
    assert "<p>" not in lists[0]
    paths = next(i for i in items if i.startswith("Paths are relative"))
    assert "trailing slash" in paths and "CORS preflights" in paths  # first and last lines of one bullet
    assert "*strict*" not in page and "<i>strict</i>" in page


def test_markdown_subset() -> None:
    from together_server.api.docs_html import markdown

    out = markdown("Intro *one* and **two**.\n\n- a wrapped\n  item with `x*`\n- b\n\nafter")
    assert out == ("<p>Intro <i>one</i> and <b>two</b>.</p><ul><li>a wrapped item with <code>x*</code></li>"
                   "<li>b</li></ul><p>after</p>")
    assert markdown("- a <b>\n  & more") == "<ul><li>a &lt;b&gt; &amp; more</li></ul>"
    assert markdown("2 * 3 * 4, a*b*c") == "<p>2 * 3 * 4, a*b*c</p>"
