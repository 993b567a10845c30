"""Bad input never gets a 5xx: malformed JSON, wrong types, huge bodies, control characters,
malformed ids, unknown paths and wrong methods (API.md §1.1-§1.4, issue 2).

Every answer checked here also has the §1.4 error body: ``message``, ``code``, ``error``
(a copy of ``message``) and, on 400 ``validation_failed``, ``errors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio
from conftest import Api, Users, make_config

from together_server.daemon import Running, run_daemon

ZERO = "00000000-0000-7000-8000-000000000000"


def check_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Assert ``r`` is the §1.4 error body with ``status``/``code`` (and names ``field``)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["error"] == body["message"]
    if code == "validation_failed":
        assert isinstance(body["errors"], dict) and body["errors"]
        if field is not None:
            assert field in body["errors"], body
    else:
        assert "errors" not in body
    assert "Traceback" not in r.text
    return body  # type: ignore[no-any-return]


@pytest.fixture
async def world(users: Users) -> dict[str, Any]:
    owner = await users.new("owner")
    srv = await owner.server("Bad input")
    chan = await owner.channel(srv["id"])
    msg = await owner.send(chan["id"], "hello")
    return {"owner": owner, "srv": srv, "chan": chan, "msg": msg}


async def raw_post(api: Api, path: str, data: bytes) -> httpx.Response:
    return await api.post(path, content=data, headers={"Content-Type": "application/json"})


BAD_JSON = [
    b"{", b"not json", b'{"content": "x"} trailing', b"\xef\xbb\xbf{}",
    b'{"content": NaN}', b'{"content": Infinity}', b'{"content": -Infinity}',
    b'{"content": "\\ud800"}', b'{"content": "a\\udc00b"}', b'{"content": "\\udbff"}',
    b'{"content": "\xff\xfe"}', b'{"content": "\xc3"}', b'{"content": "\xed\xa0\x80"}',
    b'{"content": "x", "n": 123456789012345678901234567890}',
    b'{"content": "x", "n": 9223372036854775808}',
    b'{"content": "x", "n": -9223372036854775809}',
    b'{"content": "x", "n": [1, {"deep": 18446744073709551616}]}',
    b'{"content": "x", "n": 1e400}',
]


@pytest.mark.parametrize("data", BAD_JSON)
async def test_invalid_json_bodies(world: dict[str, Any], data: bytes) -> None:
    owner, chan = world["owner"], world["chan"]
    r = await raw_post(owner, f"/channels/{chan['id']}/messages", data)
    check_error(r, 400, "invalid_json")
    r = await owner.post("/auth/login", content=data, auth=False)
    check_error(r, 400, "invalid_json")


@pytest.mark.parametrize("data", [b"[]", b"1", b'"x"', b"null", b"true", b'[{"content": "x"}]'])
async def test_non_object_json(world: dict[str, Any], data: bytes) -> None:
    r = await raw_post(world["owner"], "/servers", data)
    check_error(r, 400, "invalid_json")


async def test_int64_edges_still_parse(world: dict[str, Any]) -> None:
    """Integers inside 64 bits and ordinary floats in ignored fields are fine."""
    owner, chan = world["owner"], world["chan"]
    for extra in (b"9223372036854775807", b"-9223372036854775808", b"1.5e308", b"0.1"):
        r = await raw_post(owner, f"/channels/{chan['id']}/messages", b'{"content": "ok", "n": ' + extra + b"}")
        assert r.status_code == 201, (extra, r.text)


async def test_content_type_is_ignored_and_empty_body_is_empty_object(world: dict[str, Any]) -> None:
    owner = world["owner"]
    r = await owner.post("/servers", content=b'{"name": "typed"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    r = await owner.post("/servers", content=b"")
    check_error(r, 400, "validation_failed", "name")


@pytest.mark.parametrize("value", [1.0, True, "1", 1e2, [1], {"n": 1}, 2**31, -1, 0])
async def test_int_fields_are_exact(world: dict[str, Any], value: Any) -> None:
    owner, srv = world["owner"], world["srv"]
    r = await owner.post(f"/servers/{srv['id']}/invites", json={"max_uses": value})
    check_error(r, 400, "validation_failed", "max_uses")


async def test_int_field_literal_forms(world: dict[str, Any]) -> None:
    owner, srv = world["owner"], world["srv"]
    for lit in (b"1.0", b"1e0", b"1E2", b"true", b"2147483648"):
        r = await raw_post(owner, f"/servers/{srv['id']}/invites", b'{"max_uses": ' + lit + b"}")
        check_error(r, 400, "validation_failed", "max_uses")
    r = await raw_post(owner, f"/servers/{srv['id']}/invites", b'{"max_uses": 2147483647}')
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("value", [1, 0, "true", None, "yes", 1.0])
async def test_bool_fields_are_exact(world: dict[str, Any], value: Any) -> None:
    r = await world["owner"].post("/servers", json={"name": "b", "is_public": value})
    check_error(r, 400, "validation_failed", "is_public")


@pytest.mark.parametrize("value", [5, True, ["x"], {"a": 1}, None])
async def test_string_fields_are_exact(world: dict[str, Any], value: Any) -> None:
    owner, chan = world["owner"], world["chan"]
    r = await owner.post(f"/channels/{chan['id']}/messages", json={"content": value})
    check_error(r, 400, "validation_failed", "content")


async def test_unknown_fields_in_strict_bodies(world: dict[str, Any]) -> None:
    owner, srv = world["owner"], world["srv"]
    r = await owner.post(f"/servers/{srv['id']}/invites", json={"max_uses": 2, "bogus": 1})
    body = check_error(r, 400, "validation_failed", "bogus")
    assert "max_uses" not in body["errors"]
    r = await owner.post("/users/@me/password", json={"current_password": "x", "new_password": "12345678", "extra": 1})
    check_error(r, 400, "validation_failed", "extra")
    r = await owner.delete("/users/@me", json={"password": "x", "really": True})
    check_error(r, 400, "validation_failed", "really")
    # not strict: unknown fields are ignored
    r = await owner.post("/servers", json={"name": "loose", "bogus": 1})
    assert r.status_code == 201


async def raw_http(running: Running, head: str, body: bytes, declared: int | None = None) -> tuple[int, bytes]:
    """Send one request over a raw socket while reading the answer.

    httpx only reads a response after writing the whole body, so it cannot see the early
    413 the server sends before the body has arrived; this client writes and reads at once.
    """
    stream = await trio.open_tcp_stream(running.host, running.port)
    length = len(body) if declared is None else declared
    await stream.send_all(f"{head}\r\nHost: t\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n".encode())
    data = b""

    async def write() -> None:
        try:
            for i in range(0, len(body), 65536):
                await stream.send_all(body[i:i + 65536])
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            while True:
                head_end = data.find(b"\r\n\r\n")
                if head_end >= 0:
                    headers = data[:head_end].decode("latin-1").lower()
                    n = int(headers.split("content-length:")[1].split("\r\n")[0])
                    if len(data) >= head_end + 4 + n:
                        break
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
            nursery.cancel_scope.cancel()
    await stream.aclose()
    status = int(data.split(b" ", 2)[1])
    return status, data[data.find(b"\r\n\r\n") + 4:]


async def test_body_over_limit_is_413(world: dict[str, Any], shared: Running) -> None:
    owner, chan = world["owner"], world["chan"]
    limit = shared.state.config.server.max_body_bytes
    auth = f"Authorization: Bearer {owner.token}\r\nContent-Type: application/json"
    for path, payload, declared in (
        (f"/channels/{chan['id']}/messages", b'{"content": "' + b"a" * (1024 * 1024) + b'"}', 10 * 1024 * 1024),
        (f"/channels/{chan['id']}/messages", b'{"content": "' + b"a" * (limit - 14) + b'"}', None),
        ("/auth/register", b'{"username": "' + b"a" * limit + b'"}', None),
        ("/servers", b"{" + b" " * limit + b"}", None),
    ):
        assert (declared or len(payload)) > limit
        status, body = await raw_http(shared, f"POST {path} HTTP/1.1\r\n{auth}", payload, declared)
        assert status == 413, body[:200]
        err = orjson.loads(body)
        assert err["code"] == "payload_too_large" and err["error"] == err["message"]
    # exactly at the limit is fine (and parsed: here a validation error, not a 413)
    at_limit = b'{"content": "' + b"a" * (limit - 15) + b'"}'
    assert len(at_limit) == limit
    status, body = await raw_http(shared, f"POST /channels/{chan['id']}/messages HTTP/1.1\r\n{auth}", at_limit)
    assert status == 400 and orjson.loads(body)["code"] == "validation_failed"


async def test_ten_megabyte_strings_in_fields(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With a body limit above 10 MB, a 10 MB field is a plain 400 naming the field."""
    cfg = make_config(tmp_path / "big", server={"max_body_bytes": 32 * 1024 * 1024})
    running: Running = await nursery.start(lambda task_status: run_daemon(
        cfg, task_status=task_status, install_signal_handlers=False))
    users = Users(running.url)
    try:
        owner = await users.new("big")
        srv = await owner.server("big")
        chan = await owner.channel(srv["id"])
        huge = "😀" * (10 * 1024 * 1024 // 4)
        r = await owner.post(f"/channels/{chan['id']}/messages", json={"content": huge})
        check_error(r, 400, "validation_failed", "content")
        r = await owner.post("/servers", json={"name": huge})
        check_error(r, 400, "validation_failed", "name")
        r = await owner.patch("/users/@me", json={"bio": huge})
        check_error(r, 400, "validation_failed", "bio")
        r = await owner.post("/auth/login", json={"username": huge, "password": huge}, auth=False)
        check_error(r, 400, "validation_failed", "username")
        r = await owner.post("/auth/refresh", json={"refresh_token": huge}, auth=False)
        check_error(r, 400, "validation_failed", "refresh_token")
    finally:
        await users.close()
        running.shutdown()


CONTROLS = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9f"]


@pytest.mark.parametrize("ch", CONTROLS)
async def test_control_characters_in_body(world: dict[str, Any], ch: str) -> None:
    owner, chan, srv = world["owner"], world["chan"], world["srv"]
    r = await owner.post(f"/channels/{chan['id']}/messages", json={"content": f"a{ch}b"})
    check_error(r, 400, "validation_failed", "content")
    r = await owner.patch(f"/servers/{srv['id']}", json={"name": f"n{ch}"})
    check_error(r, 400, "validation_failed", "name")
    r = await owner.post("/auth/login", json={"username": f"x{ch}y", "password": "whatever1"}, auth=False)
    check_error(r, 400, "validation_failed", "username")


async def test_tab_lf_cr_are_allowed(world: dict[str, Any]) -> None:
    owner, chan = world["owner"], world["chan"]
    m = await owner.send(chan["id"], "a\tb\nc\r\nd")
    assert m["content"] == "a\tb\nc\r\nd"


@pytest.mark.parametrize("ch", ["%00", "%01", "%1B", "%7F", "%C2%85"])
async def test_control_characters_in_query(world: dict[str, Any], ch: str) -> None:
    owner, chan = world["owner"], world["chan"]
    r = await owner.get(f"/channels/{chan['id']}/messages?limit=5{ch}")
    check_error(r, 400, "validation_failed", "limit")
    r = await owner.get(f"/channels/{chan['id']}/messages?foo{ch}=1")
    check_error(r, 400, "validation_failed")
    r = await owner.get(f"/servers?unused=a{ch}")
    check_error(r, 400, "validation_failed")


@pytest.mark.parametrize("ch", ["%00", "%01", "%7F", "%C2%85"])
async def test_control_characters_in_path(world: dict[str, Any], ch: str) -> None:
    """§1.2: a control character anywhere in a request, the path included, is a 400."""
    owner, chan, srv = world["owner"], world["chan"], world["srv"]
    for path in (f"/servers/{srv['id']}{ch}", f"/channels/{chan['id']}/messages/{ch}",
                 f"/invites/abcd{ch}efg", f"/users/{ch}", f"/servers/{ch}/channels"):
        r = await owner.get(path)
        check_error(r, 400, "validation_failed")


MALFORMED_IDS = [
    "not-a-uuid", "1234", "{ID}", "urn:uuid:ID", "NOHYPHENS", "ID0", "ID-", "%20ID",
    "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0g", "0190f5d27c1e-7a3b-9c4d-5e6f7a8b9c0d",
]


def malformed(template: str, real: str) -> str:
    return template.replace("NOHYPHENS", real.replace("-", "")).replace("ID", real)


@pytest.mark.parametrize("template", MALFORMED_IDS)
async def test_malformed_path_ids_are_the_routes_404(world: dict[str, Any], template: str) -> None:
    owner, srv, chan, msg = world["owner"], world["srv"], world["chan"], world["msg"]
    s, c, m = (malformed(template, x["id"]) for x in (srv, chan, msg))
    cases = [
        ("GET", f"/servers/{s}", "unknown_server"),
        ("PATCH", f"/servers/{s}", "unknown_server"),
        ("DELETE", f"/servers/{s}", "unknown_server"),
        ("GET", f"/servers/{s}/channels", "unknown_server"),
        ("GET", f"/servers/{s}/members", "unknown_server"),
        ("POST", f"/servers/{s}/join", "unknown_server"),
        ("DELETE", f"/servers/{s}/leave", "unknown_server"),
        ("GET", f"/servers/{s}/invites", "unknown_server"),
        ("GET", f"/servers/{s}/emojis", "unknown_server"),
        ("DELETE", f"/servers/{srv['id']}/invites/{s}", "unknown_invite"),
        ("GET", f"/servers/{s}/channels/{c}", "unknown_server"),
        ("GET", f"/servers/{srv['id']}/channels/{c}", "unknown_channel"),
        ("GET", f"/channels/{c}", "unknown_channel"),
        ("PATCH", f"/channels/{c}", "unknown_channel"),
        ("DELETE", f"/channels/{c}", "unknown_channel"),
        ("GET", f"/channels/{c}/messages", "unknown_channel"),
        ("POST", f"/channels/{c}/messages", "unknown_channel"),
        ("GET", f"/channels/{c}/messages/{m}", "unknown_channel"),
        ("GET", f"/channels/{chan['id']}/messages/{m}", "unknown_message"),
        ("PATCH", f"/messages/{m}", "unknown_message"),
        ("DELETE", f"/messages/{m}", "unknown_message"),
        ("GET", f"/messages/{m}/attachments", "unknown_message"),
        ("GET", f"/users/{s}", "unknown_user"),
    ]
    bodies = {"PATCH": {"name": "x", "content": "x"}, "POST": {"content": "x"}}
    for method, path, code in cases:
        r = await owner.request(method, path, json=bodies.get(method))
        check_error(r, 404, code)


async def test_id_letter_case_is_free(world: dict[str, Any]) -> None:
    owner, srv = world["owner"], world["srv"]
    r = await owner.get(f"/servers/{srv['id'].upper()}")
    assert r.status_code == 200 and r.json()["id"] == srv["id"]


@pytest.mark.parametrize("template", ["x", "{ID}", "NOHYPHENS", "ID0", "urn:uuid:ID", ""])
async def test_malformed_ids_in_query_and_body_are_400(world: dict[str, Any], template: str) -> None:
    owner, chan, msg = world["owner"], world["chan"], world["msg"]
    bad = malformed(template, msg["id"])
    if bad:
        for name in ("before", "after"):
            r = await owner.get(f"/channels/{chan['id']}/messages", params={name: bad})
            check_error(r, 400, "validation_failed", name)
        r = await owner.post(f"/channels/{chan['id']}/messages", json={"content": "x", "reply_to": bad})
        check_error(r, 400, "validation_failed", "reply_to")
    else:
        # "" in a nullable id field of a POST means null (§1.2)
        m = await owner.send(chan["id"], "no reply", reply_to="")
        assert m["reply_to"] is None


UNKNOWN_PATHS = [
    # ("//servers" is not here: httpx sends it as "/", which is the web client's page)
    "/servers/", "/servers//channels", "/users/@me/", "/health/", "/Servers",
    "/apiservers", "/api/api/servers", "/api/", "/servers/{S}/", "/servers/{S}//channels", "/channels/{C}/messages/",
    "/nope", "/threads", "/admin/nope", "/metrics", "/files",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
async def test_unknown_paths_are_not_found(world: dict[str, Any], path: str) -> None:
    owner = world["owner"]
    real = path.replace("{S}", world["srv"]["id"]).replace("{C}", world["chan"]["id"])
    for method in ("GET", "POST", "DELETE"):
        r = await owner.request(method, real)
        check_error(r, 404, "not_found")
    r = await owner.request("GET", real, auth=False)
    check_error(r, 404, "not_found")


WRONG_METHODS = [
    ("PUT", "/servers", {"GET", "POST"}),
    ("DELETE", "/servers", {"GET", "POST"}),
    ("POST", "/servers/{S}", {"GET", "PATCH", "DELETE"}),
    ("PUT", "/channels/{C}", {"GET", "PATCH", "DELETE"}),
    ("DELETE", "/channels/{C}/messages", {"GET", "POST"}),
    ("PATCH", "/channels/{C}/messages/{M}", {"GET"}),
    ("GET", "/messages/{M}", {"PATCH", "DELETE"}),
    ("GET", "/auth/login", {"POST"}),
    ("GET", "/servers/{S}/join", {"POST"}),
    ("POST", "/servers/{S}/leave", {"DELETE"}),
    ("POST", "/health", {"GET"}),
    ("POST", "/server-templates", {"GET"}),
    ("PUT", "/servers/{S}/emojis", {"GET", "POST"}),
    ("PUT", "/messages/{M}/attachments", {"GET", "POST"}),
    ("PUT", "/users/@me", {"GET", "PATCH", "DELETE"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
async def test_wrong_method_is_405_with_allow(world: dict[str, Any], method: str, path: str, allowed: set[str]) -> None:
    real = (path.replace("{S}", world["srv"]["id"]).replace("{C}", world["chan"]["id"])
            .replace("{M}", world["msg"]["id"]))
    for api_auth in (True, False):
        r = await world["owner"].request(method, real, auth=api_auth)
        check_error(r, 405, "method_not_allowed")
        allow = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed <= allow, allow
        assert method not in allow
        assert allow <= allowed | {"HEAD"}


async def test_head_is_get_without_body(world: dict[str, Any]) -> None:
    owner, chan = world["owner"], world["chan"]
    for path in ("/servers", f"/channels/{chan['id']}/messages", "/health", "/users/@me"):
        g = await owner.get(path)
        h = await owner.request("HEAD", path)
        assert h.status_code == g.status_code == 200
        assert h.content == b""
        assert h.headers["content-type"].startswith("application/json")
    r = await owner.request("HEAD", "/users/@me", auth=False)
    assert r.status_code == 401 and r.content == b""
    r = await owner.request("HEAD", f"/servers/{ZERO}")
    assert r.status_code == 404


async def test_options_without_preflight_is_405(world: dict[str, Any]) -> None:
    owner = world["owner"]
    for headers in ({}, {"Origin": "http://elsewhere.example"}, {"Access-Control-Request-Method": "GET"}):
        r = await owner.request("OPTIONS", "/servers", headers=headers)
        check_error(r, 405, "method_not_allowed")
        assert "OPTIONS" not in r.headers["allow"]
    # a real preflight is 204 whatever the route (the origin is not allowed: no CORS headers)
    r = await owner.request("OPTIONS", "/servers", headers={
        "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and "access-control-allow-origin" not in r.headers


async def test_bad_input_orders_400_before_404(world: dict[str, Any]) -> None:
    """§1.6: an invalid body or query is a 400 even when the target does not exist."""
    owner = world["owner"]
    r = await owner.post(f"/channels/{ZERO}/messages", json={"content": ""})
    check_error(r, 400, "validation_failed", "content")
    r = await owner.get(f"/channels/{ZERO}/messages?limit=x")
    check_error(r, 400, "validation_failed", "limit")
    r = await owner.patch(f"/servers/{ZERO}", json={"name": 5})
    check_error(r, 400, "validation_failed", "name")


async def test_every_validation_error_is_reported_at_once(world: dict[str, Any]) -> None:
    r = await world["owner"].post("/servers", json={"name": "", "icon_url": "ftp://x", "is_public": "no"})
    body = check_error(r, 400, "validation_failed")
    assert set(body["errors"]) == {"name", "icon_url", "is_public"}
