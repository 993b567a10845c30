"""Helpers every blueprint uses: route policies, the caller, bodies, ids, JSON answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from quart import Blueprint, Response, current_app, g, request

from ..auth.request import Caller
from ..errors import ApiError
from ..ids import normalize_uuid
from ..state import AppState
from ..validation import F, parse_fields, parse_json

# endpoint name -> "none" | "any" | "human" | "bot" (who may call; checked before handlers)
POLICIES: dict[str, str] = {}
# endpoints counted against the ``auth`` rate-limit bucket (API.md §5)
AUTH_BUCKET: set[str] = set()

Fn = TypeVar("Fn", bound=Callable[..., Any])


def route(
    bp: Blueprint, rules: str | list[str], methods: list[str], *, auth: str = "any",
    auth_bucket: bool = False,
) -> Callable[[Fn], Fn]:
    """Register a view on one or more rules with its auth policy (API.md §2.1, §1.6)."""
    def deco(fn: Fn) -> Fn:
        endpoint = f"{bp.name}.{fn.__name__}"
        POLICIES[endpoint] = auth
        if auth_bucket:
            AUTH_BUCKET.add(endpoint)
        for rule in [rules] if isinstance(rules, str) else rules:
            bp.add_url_rule(rule, endpoint=fn.__name__, view_func=fn, methods=methods)
        return fn
    return deco


def state() -> AppState:
    """The AppState of the running app (``current_app.config['STATE']``)."""
    return current_app.config["STATE"]  # type: ignore[no-any-return]


def caller() -> Caller:
    """The authenticated caller (the before-request hook already refused bad credentials)."""
    c = g.get("caller")
    if not isinstance(c, Caller):
        raise ApiError("missing_token", headers={"WWW-Authenticate": "Bearer"})
    return c


async def body(specs: list[F], *, strict: bool = False, patch: bool = False) -> dict[str, Any]:
    """Parse and validate the JSON body (API.md §1.2); raises 400/413."""
    raw = await request.get_data(cache=False)
    g.body_read = True  # the after-request hook need not drain it
    return parse_fields(parse_json(raw), specs, strict=strict, patch=patch)


async def optional_body(specs: list[F], *, strict: bool = False) -> dict[str, Any]:
    """Same, but an empty body means "no fields" without parsing (kick, ban, ack...)."""
    raw = await request.get_data(cache=False)
    g.body_read = True
    return parse_fields(parse_json(raw) if raw else {}, specs, strict=strict)


def path_id(value: str, code: str) -> str:
    """A path id, lower-cased; a malformed one is the 404 ``code`` (API.md §1.3)."""
    norm = normalize_uuid(value)
    if norm is None:
        raise ApiError(code)
    return norm


def json(obj: Any, status: int = 200) -> Response:
    """A Response with ``obj`` serialized by orjson, ``Content-Type: application/json`` and ``status`` (default 200)."""
    return Response(orjson.dumps(obj), status=status, content_type="application/json")


def created(result: Any) -> Response:
    """201 with ``result``, or the 400 ``automod_blocked`` of an automod ``Blocked`` (issue 13):
    for write jobs that post a message (messages, thread replies, polls, events)."""
    from ..storage.automod import Blocked

    if isinstance(result, Blocked):
        raise result.error()
    return json(result, 201)


def no_content() -> Response:
    """An empty 204 Response."""
    return Response(b"", status=204)
