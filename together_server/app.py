"""The QuartTrio application: blueprints, the request pipeline and the error renderer.

Order for every HTTP request (API.md §1.1, §1.6, §5):
CORS preflight (answered at once) -> credentials resolved -> rate limit (429) ->
401 if the route needs credentials -> 403 bots_forbidden / bots_only ->
query-string text check (400) -> the handler. Every error, from any stage, is rendered
by ``errors.error_body``; an unexpected exception is logged with its traceback and
answered with a plain ``500 internal_error``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from typing import Any

from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from .api import limiting
from .api.common import AUTH_BUCKET, POLICIES, json
from .auth.request import Caller
from .errors import ApiError, error_body, invalid
from .state import AppState
from .storage.db import REQUEST_META
from .text import bad_utf8_parameter, has_bad_control

log = logging.getLogger("together_server")
access_log = logging.getLogger("together_server.access")

# Not rate limited: the health probe, signed file URLs (a page of images is many
# requests; the signature is the gate and serving is streamed from disk) and custom emoji
# images (public by id, small, loaded by <img> without credentials; issue 12).
UNLIMITED = frozenset({"meta.health", "files.serve", "emojis.image"})
EXPOSE = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, WWW-Authenticate"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD"


def _error_response(exc: ApiError) -> Response:
    resp = json(exc.body(), exc.status)
    for k, v in exc.headers.items():
        resp.headers[k] = v
    if exc.status == 401 and "WWW-Authenticate" not in resp.headers:
        # §2.5: every 401 carries a challenge (login and refresh failures included)
        resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


# Which 404 a malformed path id gets, by the rule's variable name (API.md §1.3).
ID_CODES = {
    "server_id": "unknown_server", "channel_id": "unknown_channel", "message_id": "unknown_message",
    "user_id": "unknown_user", "role_id": "unknown_role", "invite_id": "unknown_invite",
    "code": "unknown_invite", "bot_id": "unknown_bot", "override_id": "unknown_override",
    "dm_id": "unknown_channel", "poll_id": "unknown_poll", "emoji_id": "unknown_emoji", "webhook_id": "unknown_webhook",
}
_SLASH = "\uffff"  # stands for an encoded slash while re-matching


def _rematch_encoded_slash(app: QuartTrio, raw_path: bytes, method: str) -> tuple[Any, Any, ApiError | None]:
    """Paths match exactly (§1.1): ``%2F`` is part of a segment, never a separator.

    The server decodes ``%2F`` before routing, so the request may have matched the wrong
    rule, or none. Re-match the raw path with the encoded slashes kept inside their
    segment. Returns ``(rule, view_args, None)`` when that lands on a reaction route,
    whose emoji may hold a slash (§4.9: it is served), else ``(None, None, error)``: the
    404 of the id holding the slash, or 404/405 as that path would get.
    """
    path = raw_path.split(b"?", 1)[0].decode("latin-1")
    path = urllib.parse.unquote(path.replace("%2F", _SLASH).replace("%2f", _SLASH), errors="replace")
    try:
        rule, args = app.url_map.bind("localhost").match(path, method=method, return_rule=True)
    except MethodNotAllowed as exc:
        return None, None, ApiError("method_not_allowed", headers={"Allow": ", ".join(sorted(exc.valid_methods or []))})
    except HTTPException:
        return None, None, ApiError("not_found")
    if rule.endpoint.startswith("reactions."):
        return rule, {k: v.replace(_SLASH, "/") if isinstance(v, str) else v for k, v in args.items()}, None
    for name, value in args.items():
        if isinstance(value, str) and _SLASH in value:
            if name == "user_id" and "/members/" in rule.rule:
                return None, None, ApiError("unknown_member")
            return None, None, ApiError(ID_CODES.get(name, "not_found"))
    return None, None, ApiError("not_found")


API_PREFIX = "/api"


def strip_api_prefix(asgi_app: Any) -> Any:
    """The one routing rule for the ``/api`` prefix (API.md §1.1, issue 12): an ASGI layer
    that serves ``/api/<path>`` exactly as ``/<path>``, for HTTP and WebSocket (``/api/ws``).

    Only a leading ``/api/`` followed by more path is removed, once: ``/api/servers`` is
    ``/servers`` and ``/api/api/servers`` is ``/api/servers`` (unknown); ``/api``, ``/api/``
    and ``/apix`` are left alone (and get 404 or the web client like any other path). Both
    ``path`` and ``raw_path`` are rewritten, so the encoded-slash re-match sees the same path.
    ``scope["api_prefix"]`` is ``True`` on a rewritten request.
    """

    prefix = API_PREFIX + "/"
    raw_prefix = prefix.encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path")
        if scope.get("type") in ("http", "websocket") and isinstance(path, str) \
                and path.startswith(prefix) and len(path) > len(prefix):
            scope = dict(scope)
            scope["path"] = path[len(API_PREFIX):]
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.startswith(raw_prefix):
                scope["raw_path"] = raw[len(API_PREFIX):]
            scope["api_prefix"] = True
        await asgi_app(scope, receive, send)

    return app


def audit_reason(raw: str | None) -> str | None:
    """The ``X-Audit-Log-Reason`` header as stored: percent-decoded (as Discord clients send
    it), control characters dropped, at most 512 characters; None when absent or blank."""
    if not raw:
        return None
    text = urllib.parse.unquote(raw, errors="replace")
    text = "".join(ch for ch in text if ch.isprintable() or ch == " ").strip()
    return text[:512] or None


def create_app(st: AppState) -> QuartTrio:
    """Build the app around ``st`` (the handlers reach it through ``api.common.state``)."""
    app = QuartTrio("together_server", static_folder=None)
    from .api.uploads import UploadHTTPConnection

    app.asgi_http_class = UploadHTTPConnection  # upload bodies stream with back pressure (issue 10)
    app.config["STATE"] = st
    app.config["MAX_CONTENT_LENGTH"] = st.config.server.max_body_bytes
    # Slow bodies are cut at the connection by a rate rule (serving.py), not by Quart's
    # fixed 60 s for the whole body (which would also cut a big upload on a slow link).
    app.config["BODY_TIMEOUT"] = None
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.config["JSON_SORT_KEYS"] = False
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = True

    from .api import register_blueprints

    register_blueprints(app)
    app.asgi_app = strip_api_prefix(app.asgi_app)  # type: ignore[method-assign]
    limiting.build_limiters(st)
    # A literal segment beats an id (API.md §1.1): werkzeug would let DELETE
    # /servers/browse fall through to /servers/<server_id>; we answer 405 instead.
    literal_methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            literal_methods.setdefault(rule.rule, set()).update((rule.methods or set()) - {"OPTIONS"})
    origins = set(st.config.server.allowed_origins)
    limits_on = st.config.ratelimit.enabled

    def origin_allowed(origin: str | None) -> bool:
        return bool(origin) and ("*" in origins or origin in origins)

    access_log_on = st.config.logging.access_log

    @app.before_request
    async def pipeline() -> Response | None:
        # Bound once: every ``request.x`` / ``g.x`` goes through a context-local proxy,
        # and this runs on every request.
        req = request._get_current_object()  # noqa: SLF001
        ctx = g._get_current_object()  # noqa: SLF001
        st.inflight += 1
        ctx.counted = True
        if st.shutting_down:
            # a request on a kept-alive connection during the drain: answer, then close
            raise ApiError("service_unavailable", "The server is shutting down",
                           headers={"Connection": "close", "Retry-After": "5"})
        if access_log_on:
            ctx.started = time.perf_counter()
        headers_in = req.headers
        if req.method == "OPTIONS" and headers_in.get("Origin") and headers_in.get("Access-Control-Request-Method"):
            resp = Response(b"", status=204)
            if origin_allowed(headers_in.get("Origin")):
                resp.headers["Access-Control-Allow-Origin"] = headers_in["Origin"]
                resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                resp.headers["Access-Control-Max-Age"] = "600"
                resp.headers["Vary"] = "Origin"
            ctx.preflight = True
            return resp
        slash_refusal = None
        raw_path = req.scope.get("raw_path") or b""
        if b"%2f" in raw_path.lower():
            rule, args, slash_refusal = _rematch_encoded_slash(app, raw_path, req.method)
            if rule is not None:  # a reaction emoji holding "/": route it as such
                req.url_rule, req.view_args, req.routing_exception = rule, args, None
        endpoint = req.endpoint or ""
        policy = POLICIES.get(endpoint, "any")
        who = st.auth.resolve(headers_in.get("Authorization"))
        ctx.caller = who
        if limits_on and endpoint not in UNLIMITED and not endpoint.startswith("web."):  # web: static files
            ip = limiting.peer_ip(st, req.remote_addr, headers_in.getlist("X-Forwarded-For"))
            rl_headers, refusal = limiting.check(st, auth_route=endpoint in AUTH_BUCKET, who=who, ip=ip)
            ctx.ratelimit_headers = rl_headers
            if refusal is not None:
                raise refusal
        if slash_refusal is not None:
            if slash_refusal.status == 404 and slash_refusal.code != "not_found" and isinstance(who, ApiError):
                raise who  # 401 before 404 (§1.6): every route with an id needs credentials
            raise slash_refusal
        if req.routing_exception is not None:
            if has_bad_control(req.path):  # §1.2: a control character anywhere is a 400
                raise invalid({"path": "must not contain control characters"})
            return None  # dispatch raises the 404/405
        rule = req.url_rule
        if rule is not None and rule.arguments and req.path in literal_methods:
            allow = ", ".join(sorted(literal_methods[req.path]))
            raise ApiError("method_not_allowed", headers={"Allow": allow})
        if policy != "none":
            if isinstance(who, ApiError):
                raise who
            assert isinstance(who, Caller)
            if policy == "human" and who.is_bot:
                raise ApiError("bots_forbidden")
            if policy == "bot" and not who.is_bot:
                raise ApiError("bots_only")
        for key, value in (req.view_args or {}).items():
            # §1.2: control characters anywhere (the path too) are a 400, before lookups
            if isinstance(value, str) and has_bad_control(value):
                raise invalid({key: "must not contain control characters"})
        if req.query_string:
            bad = bad_utf8_parameter(req.query_string)
            if bad is not None:  # §1.2: text is UTF-8; U+FFFD stand-ins would pass as text
                raise invalid({bad: "must be valid UTF-8"})
            for key, value in req.args.items(multi=True):
                if has_bad_control(key) or has_bad_control(value):
                    raise invalid({key if not has_bad_control(key) else "query": "must not contain control characters"})
        if req.method != "GET":
            # the audit log's reason and address for this request's writes (storage/audit.py)
            REQUEST_META.set((audit_reason(headers_in.get("X-Audit-Log-Reason")), req.remote_addr))
        return None

    @app.after_request
    async def finish(resp: Response) -> Response:
        req = request._get_current_object()  # noqa: SLF001
        ctx = g._get_current_object()  # noqa: SLF001
        # Wait for the whole request body even when nothing read it (a 429, 401 or 403
        # refused before the handler): hypercorn recycles a keep-alive connection only once
        # the request is complete, and otherwise the client's next request on it hangs.
        if not getattr(ctx, "body_read", False):
            with contextlib.suppress(Exception):
                await req.body
        if resp.status_code == 204:
            # No Content means no body and nothing describing one (RFC 9110 §15.3.5, 9112 §6.3):
            # Quart would label it text/html with Content-Length: 0 (issue 12).
            resp.headers.pop("Content-Type", None)
            resp.headers.pop("Content-Length", None)
        for k, v in getattr(ctx, "ratelimit_headers", ()):
            resp.headers[k] = v
        origin = req.headers.get("Origin")
        if origin and origin_allowed(origin) and not getattr(ctx, "preflight", False):
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Expose-Headers"] = EXPOSE
            resp.headers["Vary"] = "Origin"
        if access_log_on:
            took = (time.perf_counter() - getattr(ctx, "started", time.perf_counter())) * 1000
            # the path only: query strings may carry tokens (DESIGN.md "Secrets")
            access_log.info("%s %s %d %.1fms", request.method, request.path, resp.status_code, took)
        return resp

    @app.teardown_request
    async def done(_exc: BaseException | None) -> None:
        if g.get("counted"):
            st.inflight -= 1

    @app.errorhandler(ApiError)
    async def api_error(exc: ApiError) -> Response:
        return _error_response(exc)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        if isinstance(exc, MethodNotAllowed):
            allow = sorted(set(exc.valid_methods or []))
            err = ApiError("method_not_allowed", headers={"Allow": ", ".join(allow)})
        elif isinstance(exc, RequestEntityTooLarge) or exc.code == 413:
            # The body is refused unread, so this connection cannot carry another
            # request: tell the client to open a new one instead of hanging on it.
            err = ApiError("payload_too_large", headers={"Connection": "close"})
        elif exc.code == 404:
            err = ApiError("not_found")
        elif exc.code == 400 and request.path == "/ws":
            # a plain HTTP request on the gateway route (no Upgrade: websocket)
            err = invalid({"Upgrade": "must be websocket: /ws is the gateway"})
        elif exc.code == 400:
            err = ApiError("invalid_json", "Malformed request")
        else:
            code = exc.code or 500
            body = error_body("internal_error" if code >= 500 else "not_found", exc.name)
            return json(body, code)
        return _error_response(err)

    @app.errorhandler(Exception)
    async def crash(exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return _error_response(exc)
        if isinstance(exc, HTTPException):
            return await http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(ApiError("internal_error"))

    return app


def json_error(exc: ApiError) -> tuple[dict[str, Any], int]:
    """An ApiError as ``(error body, HTTP status)``: the §1.4 body and the status from its code."""
    return exc.body(), exc.status
