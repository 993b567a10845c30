"""``GET /ice-servers``: STUN/TURN for WebRTC with coturn REST credentials (API.md §3.7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from quart import Blueprint, Response

from ..config import IceConfig
from .common import caller, json, route, state

bp = Blueprint("ice", __name__)


def turn_credentials(secret: str, user_id: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """coturn ``use-auth-secret``: username ``<expiry>:<user_id>``, base64 HMAC-SHA1."""
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(cfg: IceConfig, user_id: str) -> dict[str, Any]:
    """The §3.7 answer ``{"iceServers": [...], "ttl": seconds}`` for ``user_id``: one entry per STUN URL,
    plus TURN entries with fresh coturn credentials when ``turn_urls`` and ``turn_secret`` are set.
    """
    servers: list[dict[str, Any]] = [{"urls": url} for url in cfg.stun_urls]
    if cfg.turn_urls and cfg.turn_secret:
        username, credential = turn_credentials(cfg.turn_secret, user_id, cfg.turn_ttl_seconds)
        servers += [{"urls": url, "username": username, "credential": credential} for url in cfg.turn_urls]
    return {"iceServers": servers, "ttl": cfg.turn_ttl_seconds}


@route(bp, "/ice-servers", ["GET"])
async def get_ice_servers() -> Response:
    """GET /ice-servers: STUN/TURN servers with fresh credentials; 200 (API.md §3.7)."""
    return json(ice_servers(state().config.ice, caller().user_id))
