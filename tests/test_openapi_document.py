"""The served OpenAPI document, together_server/openapi.yaml (API.md §3.8).

Checks the document on its own, without a running daemon: version 3.0.3, valid per
openapi-spec-validator, every ``$ref`` resolves, operation ids unique, the routes are exactly
those of API.md (``tests/api_routes.py``), the auth, error and 204 conventions hold on every
operation, and the component schemas accept and refuse what API.md says they should.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import pytest
import yaml
from api_routes import EXPECTED_ROUTES, NO_AUTH_ROUTES, ROUTES_BY_SECTION, normalise_path
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import OpenAPIV30SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT4

from together_server.errors import CODES

METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
PATH_PARAM_NAMES = {
    "server_id", "channel_id", "message_id", "user_id", "role_id", "invite_id", "code", "bot_id",
    "override_id", "emoji", "dm_id", "word", "webhook_id", "token", "poll_id", "emoji_id", "attachment_id", "filename",
}
SHARED_OBJECTS = {
    "User", "PublicUser", "Server", "Member", "RoleRef", "Channel", "Message", "DmChannel",
    "DirectMessage", "Role", "Invite", "InvitePreview", "VoiceState", "VoiceStateWithUsername",
    "Override", "Ban", "Timeout", "Bot", "Reaction", "SearchResponse", "IceServers", "Error",
    "AuthResponse",
}
# Bodies marked *strict* in API.md: an unknown field is 400 validation_failed.
STRICT_BODIES = {
    ("POST", "/users/@me/password"), ("DELETE", "/users/@me"),
    ("POST", "/servers/{}/members/{}/kick"), ("POST", "/servers/{}/members/{}/ban"),
    ("POST", "/servers/{}/members/{}/timeout"), ("POST", "/servers/{}/invites"),
    ("POST", "/servers/{}/roles"), ("PATCH", "/servers/{}/roles/{}"), ("PUT", "/channels/{}/overrides"),
    ("POST", "/channels/{}/voice"), ("PATCH", "/channels/{}/voice"),
}
REUSABLE_ERRORS = {
    "400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound",
    "405": "MethodNotAllowed", "409": "Conflict", "413": "PayloadTooLarge", "429": "TooManyRequests",
}
UNLIMITED_PATHS = {"/health", "/files/{attachment_id}/{filename}", "/emojis/{emoji_id}"}
RATE_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
DOC_URI = "urn:together:openapi"


@cache
def _doc() -> dict[str, Any]:
    text = resources.files("together_server").joinpath("openapi.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader either way


@pytest.fixture
def doc() -> dict[str, Any]:
    return _doc()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def _deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve(doc, node["$ref"])
    return node


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


# ---------------------------------------------------------------------------- the document


def test_openapi_version_is_3_0_3(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.0.3"


def test_document_is_valid_openapi_3_0(doc: dict[str, Any]) -> None:
    validate(doc, cls=OpenAPIV30SpecValidator)


def test_document_survives_json(doc: dict[str, Any]) -> None:
    # GET /docs/openapi.json serves the same document: nothing YAML-only may hide in it.
    assert json.loads(json.dumps(doc)) == doc


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = [node["$ref"] for _, node in _walk(doc) if isinstance(node, dict) and "$ref" in node]
    assert refs
    for ref in refs:
        _resolve(doc, ref)


def test_operations_have_responses_and_unique_ids(doc: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for method, path, op in _operations(doc):
        assert op.get("responses"), f"{method} {path} has no responses"
        op_id = op.get("operationId")
        assert op_id, f"{method} {path} has no operationId"
        assert op_id not in seen, f"operationId {op_id} used by {seen[op_id]} and {method} {path}"
        seen[op_id] = f"{method} {path}"


# ---------------------------------------------------------------------------- routes


def test_routes_equal_api_md(doc: dict[str, Any]) -> None:
    documented = {(method, normalise_path(path)) for method, path, _ in _operations(doc)}
    assert documented - EXPECTED_ROUTES == set(), "documented but not in API.md"
    assert EXPECTED_ROUTES - documented == set(), "in API.md but not documented"
    assert len(EXPECTED_ROUTES) == sum(len(r) for r in ROUTES_BY_SECTION.values())


def test_no_head_or_options_operations(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        assert not {"head", "options", "trace"} & set(item), path


def test_normalise_path_spellings() -> None:
    assert normalise_path("/servers/{server_id}/channels/{channel_id}") == "/servers/{}/channels/{}"
    assert normalise_path("/servers/<server_id>/channels/<channel_id>") == "/servers/{}/channels/{}"
    assert normalise_path("/channels/:id/messages/:mid/reactions/<path:emoji>") == (
        "/channels/{}/messages/{}/reactions/{}"
    )
    assert normalise_path("/users/@me") == "/users/@me"


def test_path_parameters_are_declared_with_contract_names(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        in_template = re.findall(r"\{([^}]*)\}", path)
        assert set(in_template) <= PATH_PARAM_NAMES, path
        for method, _, op in ((m, p, o) for m, p, o in _operations(doc) if p == path):
            params = [_deref(doc, p) for p in item.get("parameters", []) + op.get("parameters", [])]
            declared = [p["name"] for p in params if p["in"] == "path"]
            assert sorted(declared) == sorted(in_template), f"{method} {path}"
            assert all(p["required"] for p in params if p["in"] == "path")


def test_message_list_and_search_query_parameters(doc: dict[str, Any]) -> None:
    def query(method: str, path: str) -> dict[str, Any]:
        op = doc["paths"][path][method]
        params = [_deref(doc, p) for p in op.get("parameters", [])]
        return {p["name"]: p for p in params if p["in"] == "query"}

    for path in ("/channels/{channel_id}/messages", "/dm-channels/{dm_id}/messages"):
        assert set(query("get", path)) == {"before", "after", "limit"}
    search = query("get", "/servers/{server_id}/search")
    assert set(search) == {"q", "channel_id", "before", "limit", "sort", "offset"}
    assert search["q"]["required"] is True
    assert (search["q"]["schema"]["minLength"], search["q"]["schema"]["maxLength"]) == (2, 200)
    assert (search["limit"]["schema"]["minimum"], search["limit"]["schema"]["maximum"]) == (1, 100)
    assert (search["offset"]["schema"]["minimum"], search["offset"]["schema"]["maximum"]) == (0, 1000)
    assert search["sort"]["schema"]["enum"] == ["newest", "relevance"]


# ---------------------------------------------------------------------------- auth


def test_security_schemes(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer",
                                     "bearerFormat": "JWT"}
    assert (schemes["botAuth"]["type"], schemes["botAuth"]["in"], schemes["botAuth"]["name"]) == (
        "apiKey", "header", "Authorization")
    assert doc["security"] == [{"bearerAuth": []}, {"botAuth": []}]


def test_no_auth_routes_have_empty_security(doc: dict[str, Any]) -> None:
    open_routes = set()
    for method, path, op in _operations(doc):
        security = op.get("security", doc["security"])
        if security == []:
            open_routes.add((method, normalise_path(path)))
        else:
            assert "401" in op["responses"], f"{method} {path} needs auth but lists no 401"
    assert open_routes == NO_AUTH_ROUTES


def test_human_only_and_bot_only_routes(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        route = (method, normalise_path(path))
        human_only = route[1].startswith("/bots") and route != ("POST", "/bots/connect") or route in {
            ("POST", "/users/@me/password"), ("DELETE", "/users/@me")}
        if human_only:
            assert op["security"] == [{"bearerAuth": []}], route
            assert "bots_forbidden" in op["x-error-codes"]["403"], route
        elif route == ("POST", "/bots/connect"):
            assert op["security"] == [{"botAuth": []}]
            assert "bots_only" in op["x-error-codes"]["403"]
        else:
            assert "bots_forbidden" not in op.get("x-error-codes", {}).get("403", []), route


# ---------------------------------------------------------------------------- responses


def test_reusable_error_responses(doc: dict[str, Any]) -> None:
    responses = doc["components"]["responses"]
    for name in REUSABLE_ERRORS.values():
        response = responses[name]
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert RATE_HEADERS <= set(response["headers"]), name
    assert "Retry-After" in responses["TooManyRequests"]["headers"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]


def test_every_operation_answers_errors_the_contract_way(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        responses = op["responses"]
        codes = op["x-error-codes"]
        error_statuses = {s for s in responses if s[0] in "45"}
        assert set(codes) == error_statuses | ({"503"} if path == "/health" else set()), f"{method} {path}"
        for status, names in codes.items():
            assert names, f"{method} {path} {status}"
            for name in names:
                assert CODES[name][0] == int(status), f"{method} {path}: {name} is not a {status}"
            if status in REUSABLE_ERRORS:
                assert responses[status] == {"$ref": f"#/components/responses/{REUSABLE_ERRORS[status]}"}
        # Every route but /health and signed file URLs is rate limited (API.md §5, issue 10).
        assert ("429" in responses) == (path not in UNLIMITED_PATHS), f"{method} {path}"
        if op.get("requestBody"):
            assert {"400", "413"} <= set(responses), f"{method} {path}"
            if "application/json" in op["requestBody"]["content"]:
                assert "invalid_json" in codes["400"]


def test_success_responses(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        ok = {s: _deref(doc, r) for s, r in op["responses"].items() if s[0] in "12"}
        assert ok, f"{method} {path} has no success response"
        for status, response in ok.items():
            assert response["description"]
            if status in ("101", "204", "304"):
                assert "content" not in response, f"{method} {path} {status} must have no body"
            else:
                assert response["content"], f"{method} {path} {status}"
            if path not in UNLIMITED_PATHS:
                assert RATE_HEADERS <= set(response.get("headers", {})), f"{method} {path} {status}"
    assert set(doc["paths"]["/ws"]["get"]["responses"]) == {"101", "400", "401", "429"}
    assert set(doc["paths"]["/health"]["get"]["responses"]) == {"200", "503"}
    assert set(doc["paths"]["/channels/{channel_id}/voice"]["post"]["responses"]) >= {"200", "201"}
    assert set(doc["paths"]["/dm-channels"]["post"]["responses"]) >= {"200", "201"}


def test_strict_bodies_forbid_unknown_fields(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        body = op.get("requestBody")
        if body is None or "application/json" not in body["content"]:
            continue  # multipart uploads (issue 10) have no JSON fields
        schema = _deref(doc, body["content"]["application/json"]["schema"])
        strict = (method, normalise_path(path)) in STRICT_BODIES
        assert (schema.get("additionalProperties") is False) == strict, f"{method} {path}"


# ---------------------------------------------------------------------------- schemas


def test_shared_objects_and_error_schema(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert SHARED_OBJECTS <= set(schemas)
    error = schemas["Error"]
    assert set(error["properties"]) == {
        "message", "code", "error", "errors", "retry_after", "timed_out_until", "status", "reason"}
    assert error["required"] == ["message", "code", "error"]
    # The error code list matches the one the application renders (together_server/errors.py).
    assert set(error["properties"]["code"]["enum"]) == set(CODES)


def _object_schemas(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, sub in _walk(node, where):
        if isinstance(sub, dict) and isinstance(sub.get("properties"), dict) and "/anyOf/" not in path \
                and "/oneOf/" not in path:
            yield path, sub


def test_nullable_response_fields_are_required(doc: dict[str, Any]) -> None:
    # API.md: nullable fields are always present. Request bodies are exempt (fields optional).
    schemas = doc["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        if name.endswith("Request"):
            continue
        for where, obj in _object_schemas(schema, name):
            for field, prop in obj["properties"].items():
                if prop.get("nullable"):
                    checked += 1
                    assert field in obj.get("required", []), f"{where}.{field} is nullable but not required"
    assert checked > 30


def _validator(doc: dict[str, Any], name: str) -> OAS30Validator:
    registry = Registry().with_resource(DOC_URI, DRAFT4.create_resource(doc))
    return OAS30Validator({"$ref": f"{DOC_URI}#/components/schemas/{name}"}, registry=registry,
                          format_checker=oas30_format_checker)


U = "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"
T = "2026-03-14T10:30:00.123456Z"
MESSAGE = {
    "id": U, "channel_id": U, "author_id": U, "content": "hi", "reply_to": None, "mention_user_ids": [U],
    "mention_everyone": False, "thread_id": None, "thread_reply_count": 0, "edited_at": None,
    "deleted": False, "created_at": T, "pinned": False, "pinned_by": None, "pinned_at": None,
    "poll": None, "event": None, "reactions": [{"emoji": "👍", "count": 1, "me": True}], "attachments": [],
}
MEMBER = {
    "user_id": U, "username": "alice", "avatar_url": None, "status": "online", "custom_status": None,
    "nickname": None, "joined_at": T, "roles": [{"id": U, "name": "mod", "color": None, "position": 1}],
    "is_bot": False, "timed_out_until": None,
}
SEARCH = {"results": [], "total": 0, "has_more": False, "next_cursor": None, "next_offset": None}
NAME_101 = "n" * 101

# (schema, instance, valid?)
CASES: list[tuple[str, Any, bool]] = [
    ("Message", MESSAGE, True),
    ("Message", {**MESSAGE, "poll": {}}, False),
    ("Message", {**MESSAGE, "deleted": True}, False),
    ("Message", {k: v for k, v in MESSAGE.items() if k != "reactions"}, False),
    ("Message", {**MESSAGE, "id": U.upper()}, False),
    ("Message", {**MESSAGE, "created_at": "2026-03-14T10:30:00Z"}, False),
    ("Member", MEMBER, True),
    ("Member", {**MEMBER, "nickname": "al"}, False),
    ("SearchResponse", SEARCH, True),
    ("SearchResponse", {k: v for k, v in SEARCH.items() if k != "next_offset"}, False),
    ("Error", {"message": "m", "code": "rate_limited", "error": "m", "retry_after": 0.35}, True),
    ("Error", {"message": "m", "code": "no_such_code", "error": "m"}, False),
    ("IceServers", {"iceServers": [{"urls": "stun:x.org:3478"}], "ttl": 86400}, True),
    ("RegisterRequest", {"username": "alice_1", "password": "12345678", "email": ""}, True),
    ("RegisterRequest", {"username": "alice_1", "password": "12345678", "email": "a@b.org"}, True),
    ("RegisterRequest", {"username": "EveryOne", "password": "12345678"}, False),
    ("RegisterRequest", {"username": "a", "password": "12345678"}, False),
    ("RegisterRequest", {"username": "alice", "password": "1234567"}, False),
    ("RegisterRequest", {"username": "alice", "password": "12345678", "email": "a@@b.org"}, False),
    ("CreateServerRequest", {"name": " 東京 "}, True),
    ("CreateServerRequest", {"name": "\u200b \u3164"}, False),
    ("CreateServerRequest", {"name": "ok\u0001"}, False),
    ("CreateServerRequest", {"name": "tab\tok"}, True),
    ("CreateServerRequest", {"name": NAME_101}, False),
    ("CreateServerRequest", {"name": "x", "template_id": "t"}, False),
    ("UpdateServerRequest", {"name": None, "icon_url": ""}, True),
    ("UpdateServerRequest", {"icon_url": "ftp://x.org/a.png"}, False),
    ("UpdateChannelRequest", {"position": 2147483647}, True),
    ("UpdateChannelRequest", {"type": "voice"}, False),
    ("CreateMessageRequest", {"content": "x" * 4000, "reply_to": ""}, True),
    ("CreateMessageRequest", {"content": "x" * 4001}, False),
    ("CreateMessageRequest", {"content": "   "}, False),
    ("TimeoutRequest", {"duration_minutes": 40320}, True),
    ("TimeoutRequest", {"duration_minutes": 40321}, False),
    ("TimeoutRequest", {"duration_minutes": 10, "extra": 1}, False),
    ("CreateInviteRequest", {"max_uses": None, "expires_in_hours": 720}, True),
    ("CreateInviteRequest", {"expires_in_hours": 721}, False),
    ("CreateRoleRequest", {"name": "mod", "permissions": 524287, "color": "#A0b0C0"}, True),
    ("CreateRoleRequest", {"name": "mod", "permissions": 524288}, False),
    ("CreateRoleRequest", {"name": "mod", "color": "red"}, False),
    ("UpdateRoleRequest", {"color": ""}, True),
    ("PutOverrideRequest", {"role_id": U, "allow": 1151, "deny": 0}, True),
    ("PutOverrideRequest", {"user_id": U, "role_id": None, "allow": 0, "deny": 1}, True),
    ("PutOverrideRequest", {"role_id": U, "user_id": U, "allow": 0, "deny": 0}, False),
    ("PutOverrideRequest", {"allow": 0, "deny": 0}, False),
    ("PutOverrideRequest", {"role_id": U, "allow": 128, "deny": 0}, False),
    ("UpdateVoiceRequest", {"self_mute": True}, True),
    ("UpdateVoiceRequest", {}, False),
    ("UpdateVoiceRequest", {"self_mute": None}, False),
    ("CreateBotRequest", {"name": "  Welcome helper  "}, True),
    ("CreateBotRequest", {"name": "   "}, False),
    ("CreateBotRequest", {"name": "b" * 65}, False),
    ("UpdateBotRequest", {"description": None}, True),
    ("OpenDmRequest", {"user_id": U.upper()}, True),
    ("OpenDmRequest", {"user_id": "{" + U + "}"}, False),
]


@pytest.mark.parametrize(("name", "instance", "valid"), CASES)
def test_schema_accepts_and_refuses(doc: dict[str, Any], name: str, instance: Any, valid: bool) -> None:
    errors = list(_validator(doc, name).iter_errors(instance))
    assert (not errors) == valid, [e.message for e in errors]
