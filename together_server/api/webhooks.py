"""Webhook routes (issue 13): manage a server's webhooks (MANAGE_WEBHOOKS) and the
incoming ``POST /webhooks/:webhook_id/:token`` (no account: the token is the credential)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from quart import Blueprint, Response, request

from ..errors import ApiError, invalid
from ..ratelimit import BucketConfig, RateLimiter
from ..storage import webhooks as store
from ..text import has_visible
from ..validation import UNSET, F, parse_json, query_int
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("webhooks", __name__)

NAME = F("name", required=True, min=1, max=80, visible=True)
CREATE = [NAME, F("channel_id", "uuid", nullable=True), F("url", nullable=True, max=2000),
          F("event_types", "any")]
PATCH = [F("name", min=1, max=80, visible=True), F("channel_id", "uuid"), F("url", max=2000),
         F("event_types", "any"), F("enabled", "bool")]
MAX_CONTENT = 4000


def _check_url(url: str) -> str:
    allow_private = state().config.webhooks.allow_private_addresses
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise invalid({"url": "must be an https URL"})
    if parts.scheme == "http" and not allow_private:
        raise invalid({"url": "must be https (http only with webhooks.allow_private_addresses)"})
    return url


def _check_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise invalid({"event_types": f"must be a non-empty list of: {', '.join(store.EVENT_TYPES)}"})
    bad = [v for v in value if v not in store.EVENT_TYPES]
    if bad:
        raise invalid({"event_types": f"unknown event type {bad[0]!r}; one of {', '.join(store.EVENT_TYPES)}"})
    return list(dict.fromkeys(value))


@route(bp, "/servers/<server_id>/webhooks", ["POST"])
async def create_webhook(server_id: str) -> Response:
    """POST /servers/:id/webhooks: ``{name, channel_id}`` (incoming) or ``{name, url,
    event_types}`` (outgoing); 201 ``{webhook, token, secret, url}`` (shown once). Issue 13."""
    args = await body(CREATE)
    fields: dict[str, Any] = {"name": args["name"]}
    channel_id, url = args["channel_id"] or None, args["url"] or None
    if (channel_id is None) == (url is None):
        raise invalid({"channel_id" if channel_id is None else "url":
                       "give channel_id (incoming) or url (outgoing), not both"})
    if channel_id is not None:
        if args["event_types"] is not UNSET:
            raise invalid({"event_types": "only outgoing webhooks have event types"})
        fields["channel_id"] = channel_id
    else:
        fields["url"] = _check_url(url)
        fields["event_types"] = _check_events(args["event_types"] if args["event_types"] is not UNSET else None)
    sid, uid = path_id(server_id, "unknown_server"), caller().user_id
    return json(await state().db.write(lambda tx: store.create(tx, sid, uid, fields)), 201)


@route(bp, "/servers/<server_id>/webhooks", ["GET"])
async def list_webhooks(server_id: str) -> Response:
    """GET /servers/:id/webhooks: 200 ``{"webhooks": [Webhook]}`` (tokens and secrets never). Issue 13."""
    sid = path_id(server_id, "unknown_server")
    return json(await state().db.read(store.list_webhooks, sid, caller().user_id))


def _ids(server_id: str, webhook_id: str) -> tuple[str, str]:
    return path_id(server_id, "unknown_server"), path_id(webhook_id, "unknown_webhook")


@route(bp, "/servers/<server_id>/webhooks/<webhook_id>", ["GET"])
async def get_webhook(server_id: str, webhook_id: str) -> Response:
    """GET /servers/:id/webhooks/:webhook_id: 200 Webhook. Issue 13."""
    sid, wid = _ids(server_id, webhook_id)
    return json(await state().db.read(store.get_webhook, sid, wid, caller().user_id))


@route(bp, "/servers/<server_id>/webhooks/<webhook_id>", ["PATCH"])
async def update_webhook(server_id: str, webhook_id: str) -> Response:
    """PATCH /servers/:id/webhooks/:webhook_id: name, enabled, channel_id | url, event_types; 200 Webhook."""
    args = await body(PATCH, patch=True)
    changes = {k: v for k, v in args.items() if v is not UNSET}
    if "url" in changes:
        _check_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _check_events(changes["event_types"])
    sid, wid = _ids(server_id, webhook_id)
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.update(tx, sid, wid, uid, changes)))


@route(bp, "/servers/<server_id>/webhooks/<webhook_id>", ["DELETE"])
async def delete_webhook(server_id: str, webhook_id: str) -> Response:
    """DELETE /servers/:id/webhooks/:webhook_id: revoke; 204. Issue 13."""
    sid, wid = _ids(server_id, webhook_id)
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete(tx, sid, wid, uid))
    return no_content()


@route(bp, "/servers/<server_id>/webhooks/<webhook_id>/test", ["POST"])
async def test_webhook(server_id: str, webhook_id: str) -> Response:
    """POST /servers/:id/webhooks/:webhook_id/test: queue a ``ping`` delivery; 202 WebhookDelivery."""
    sid, wid = _ids(server_id, webhook_id)
    uid = caller().user_id
    return json(await state().db.write(lambda tx: store.test_delivery(tx, sid, wid, uid)), 202)


@route(bp, "/servers/<server_id>/webhooks/<webhook_id>/deliveries", ["GET"])
async def list_deliveries(server_id: str, webhook_id: str) -> Response:
    """GET /servers/:id/webhooks/:webhook_id/deliveries?limit=: 200 [WebhookDelivery], newest first."""
    sid, wid = _ids(server_id, webhook_id)
    limit = max(1, min(100, query_int(request.args, "limit", 50)))
    return json(await state().db.read(store.list_deliveries, sid, wid, caller().user_id, limit))


def discord_content(data: dict[str, Any]) -> str:
    """The message text of a Discord-style execute body: ``content``, then each embed's
    title, description, fields and url as lines (CI tools send embeds only)."""
    parts = []
    if isinstance(data.get("content"), str):
        parts.append(data["content"])
    embeds = data.get("embeds")
    if isinstance(embeds, list):
        for embed in embeds[:10]:
            if not isinstance(embed, dict):
                continue
            for key in ("title", "description"):
                if isinstance(embed.get(key), str) and embed[key].strip():
                    parts.append(embed[key])
            for field in embed.get("fields") or []:
                if isinstance(field, dict) and isinstance(field.get("name"), str):
                    parts.append(f"{field['name']}: {field.get('value', '')}")
            if isinstance(embed.get("url"), str):
                parts.append(embed["url"])
    return "\n".join(p for p in parts if p)


def _limiter() -> RateLimiter:
    st = state()
    limiter = st.extras.get("webhook_limiter")
    if limiter is None:
        n = st.config.webhooks.incoming_per_minute
        limiter = st.extras["webhook_limiter"] = RateLimiter(BucketConfig(n, n / 60.0))
    return limiter  # type: ignore[no-any-return]


@route(bp, "/webhooks/<webhook_id>/<token>", ["POST"], auth="none")
async def execute_webhook(webhook_id: str, token: str) -> Response:
    """POST /webhooks/:webhook_id/:token: post into the webhook's channel as the webhook.

    Body (Discord-compatible): ``content`` and/or ``embeds`` (title, description, fields, url
    become lines), ``username``/``avatar_url``/``tts`` accepted and ignored. ``?wait=true``:
    200 Message; else 204. 404 ``unknown_webhook`` (wrong id or token, revoked); 400
    ``validation_failed`` (no text, over 4000 characters); 429 past ``webhooks.incoming_per_minute``. Issue 13."""
    from quart import g

    raw = await request.get_data(cache=False)
    g.body_read = True
    data = parse_json(raw)
    wid = path_id(webhook_id, "unknown_webhook")
    content = discord_content(data).strip()
    if not content or not has_visible(content):
        raise invalid({"content": "must hold text (content or embeds)"})
    if len(content) > MAX_CONTENT:
        raise invalid({"content": f"must be at most {MAX_CONTENT} characters"})
    await state().db.read(store.incoming, wid, token)  # 404 before spending the webhook's tokens
    decision = _limiter().take(wid)
    if not decision.allowed:
        raise ApiError("rate_limited", extra={"retry_after": decision.retry_after},
                       headers=dict(decision.headers()))
    result = await state().db.write(lambda tx: store.execute(tx, wid, token, content))
    if request.args.get("wait", "").lower() in ("1", "true"):
        return json(result)
    return no_content()
