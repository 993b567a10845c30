"""Every route is also served under ``/api`` (API.md §1.1, issue 12), by one rule.

For every route of the contract's table (tests/api_routes.py) and every rule of the app's
URL map, the same request at the root and under ``/api`` gets the same status and error
code: the same handler answered. Ids are unknown ids and bodies are empty objects, so no
call changes anything (every write route refuses ``{}`` or an unknown id). The gateway is
opened for real at ``/api/ws``.
"""

from __future__ import annotations

import orjson
import trio
from api_routes import EXPECTED_ROUTES, normalise_path
from conftest import Users
from trio_websocket import open_websocket_url

from together_server.app import create_app
from together_server.daemon import Running

NOBODY = "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"


def _served_routes(shared: Running) -> set[tuple[str, str]]:
    app = create_app(shared.state)
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("web."):
            continue  # the web client's page and files are not API routes (API.md §1.1)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((method, normalise_path(rule.rule)))
    return found


async def test_every_route_answers_the_same_under_api(shared: Running, users: Users) -> None:
    alice = await users.new("prefix")
    routes = sorted(EXPECTED_ROUTES | _served_routes(shared))
    assert len(routes) >= len(EXPECTED_ROUTES)
    checked = 0
    for method, path in routes:
        if path == "/ws":
            continue  # a WebSocket route: opened for real below
        concrete = path.replace("{}", NOBODY)
        kw = {"content": b"{}", "headers": {"Content-Type": "application/json"}} if method != "GET" else {}
        root = await alice.request(method, concrete, **kw)
        under = await alice.request(method, "/api" + concrete, **kw)
        assert under.status_code == root.status_code, (method, path, root.text, under.text)
        if root.headers.get("content-type", "").startswith("application/json") and root.status_code >= 400:
            assert under.json()["code"] == root.json()["code"], (method, path)
        assert under.status_code != 404 or root.json()["code"] != "not_found", (method, path)
        checked += 1
    assert checked >= len(EXPECTED_ROUTES) - 1


async def test_prefix_serves_real_answers(shared: Running, users: Users) -> None:
    alice = await users.new("prefix")
    s = await alice.server("Prefixed")
    r = await alice.get(f"/api/servers/{s['id']}")
    assert r.status_code == 200 and r.json()["id"] == s["id"]
    r = await alice.post(f"/api/servers/{s['id']}/channels", json={"name": "via-api", "type": "text"})
    assert r.status_code == 201
    assert (await alice.get("/api/health")).status_code == 200
    # only a leading /api/ with more path is removed, and only once
    for odd in ("/api/api/servers", "/apiservers", "/api"):
        r = await alice.get(odd)
        assert r.status_code == 404, odd
    # HEAD and a wrong method behave as at the root
    assert (await alice.request("HEAD", "/api/servers")).status_code == 200
    r = await alice.request("PUT", "/api/servers")
    assert r.status_code == 405 and r.headers["Allow"] == (await alice.request("PUT", "/servers")).headers["Allow"]


async def test_gateway_under_api_prefix(shared: Running, users: Users) -> None:
    alice = await users.new("prefixws")
    url = shared.url.replace("http://", "ws://") + f"/api/ws?token={alice.token}"
    with trio.fail_after(10):
        async with open_websocket_url(url) as ws:
            ready = orjson.loads(await ws.get_message())
            assert ready["t"] == "READY"
            assert ready["d"]["user"]["id"] == alice.id
