"""``GET /link-preview?url=`` (issue 12): a page's title, description and image.

The fetch (``together_server.previews.fetch``) runs in a worker thread under a deadline,
at most :data:`CONCURRENT` at a time; results are cached by URL. Errors: 404
``feature_disabled`` (``[link_previews] enabled = false``), 400 ``validation_failed`` (no
``url``, longer than 2048, not http(s)), 400 ``url_not_allowed`` (a refused address or
scheme, also after a redirect), 502 ``preview_unavailable`` (unreachable, timed out, not
HTML: a client can ignore it and show the bare link).
"""

from __future__ import annotations

import functools
from typing import Any

import trio
from quart import Blueprint, Response, request

from .. import previews
from ..errors import ApiError, invalid
from .common import json, route, state

bp = Blueprint("previews", __name__)

CONCURRENT = 4  # fetches at once across the daemon (each holds a worker thread)


def _parts() -> tuple[previews.PreviewCache, trio.CapacityLimiter]:
    st = state()
    found = st.extras.get("link_previews")
    if found is None:
        cfg = st.config.link_previews
        found = st.extras["link_previews"] = (
            previews.PreviewCache(cfg.cache_entries, cfg.cache_ttl_seconds), trio.CapacityLimiter(CONCURRENT))
    return found  # type: ignore[no-any-return]


@route(bp, "/link-preview", ["GET"])
async def link_preview() -> Response:
    """GET /link-preview?url=: 200 LinkPreview ``{url, title, description, image, site_name}``."""
    cfg = state().config.link_previews
    if not cfg.enabled:
        raise ApiError("feature_disabled", "Link previews are turned off on this server ([link_previews] enabled)")
    url = request.args.get("url")
    if url is None or not url.strip():
        raise invalid({"url": "is required"})
    url = url.strip()
    if len(url) > previews.MAX_URL:
        raise invalid({"url": f"must be at most {previews.MAX_URL} characters"})
    if not url.lower().startswith(("http://", "https://")):
        raise invalid({"url": "must be an http(s) URL"})
    cache, limiter = _parts()
    hit = cache.get(url)
    if hit is None:
        job = functools.partial(previews.fetch, url, allow_private=cfg.allow_private, timeout=cfg.timeout_seconds,
                                max_bytes=cfg.max_bytes, max_redirects=cfg.max_redirects)
        result: Any = None
        async with limiter:
            with trio.move_on_after(cfg.timeout_seconds + 0.5):
                try:
                    result = await trio.to_thread.run_sync(job, abandon_on_cancel=True)
                except previews.PreviewError as exc:
                    result = exc
        if result is None:
            result = previews.PreviewError("preview_unavailable", "timed out")
        cache.put(url, result)
        hit = result
    if isinstance(hit, previews.PreviewError):
        raise ApiError(hit.code, f"No preview: {hit.message}")
    return json(hit)
