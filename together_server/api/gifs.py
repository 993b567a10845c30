"""``GET /giphy/search?q=&limit=`` (issue 12): GIF search through Giphy.

Off unless ``[giphy] api_key`` is set: then 404 ``feature_disabled`` says so. The upstream
call (``[giphy] base_url``/v1/gifs/search) runs in a worker thread with a 5 s timeout; a
failure is 502 ``upstream_unavailable``. Answer: [GifResult] ``{url, preview_url, title,
width, height}`` (the Together reference's shape).
"""

from __future__ import annotations

from typing import Any

import httpx
import trio
from quart import Blueprint, Response, request

from ..errors import ApiError, invalid
from ..validation import query_int
from .common import json, route, state

bp = Blueprint("gifs", __name__)

TIMEOUT_SECONDS = 5.0


def _int(value: Any) -> int:
    try:
        return max(0, min(100_000, int(value)))
    except (TypeError, ValueError):
        return 0


def _result(item: dict[str, Any]) -> dict[str, Any] | None:
    images = item.get("images") or {}
    full = images.get("fixed_height") or images.get("original") or {}
    small = images.get("fixed_height_small") or images.get("preview_gif") or full
    url = full.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        return None
    preview = small.get("url") if isinstance(small.get("url"), str) else url
    return {"url": url, "preview_url": preview, "title": str(item.get("title") or "")[:200],
            "width": _int(full.get("width")), "height": _int(full.get("height"))}


def _search(base_url: str, key: str, q: str, limit: int, rating: str) -> list[dict[str, Any]]:
    with httpx.Client(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
        resp = client.get(f"{base_url.rstrip('/')}/v1/gifs/search",
                          params={"api_key": key, "q": q, "limit": limit, "rating": rating})
        resp.raise_for_status()
        data = resp.json().get("data")
    if not isinstance(data, list):
        raise ValueError("unexpected answer")
    return [r for r in (_result(i) for i in data if isinstance(i, dict)) if r is not None]


@route(bp, "/giphy/search", ["GET"])
async def search() -> Response:
    """GET /giphy/search?q=&limit= (1-50, default 15): 200 [GifResult]."""
    cfg = state().config.giphy
    if not cfg.api_key:
        raise ApiError("feature_disabled", "GIF search is not configured on this server (set [giphy] api_key)")
    q = (request.args.get("q") or "").strip()
    if not q or len(q) > 100:
        raise invalid({"q": "must be 1-100 characters"})
    limit = query_int(request.args, "limit", 15)
    if not 1 <= limit <= 50:
        raise invalid({"limit": "must be between 1 and 50"})
    key = cfg.api_key
    try:
        found = await trio.to_thread.run_sync(_search, cfg.base_url, key, q, limit, cfg.rating)
    except (httpx.HTTPError, ValueError) as exc:
        raise ApiError("upstream_unavailable", f"GIF search failed: {type(exc).__name__}") from None
    return json(found)
