"""The served API description (API.md §3.8): YAML, JSON, and an offline HTML page."""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

import orjson
import yaml
from quart import Blueprint, Response

from .common import route
from .docs_html import render

bp = Blueprint("docs", __name__)


@functools.cache
def spec_text() -> str:
    """The packaged ``openapi.yaml`` text (OpenAPI 3.0.3), read once and cached (API.md §3.8)."""
    return (files("together_server") / "openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI document parsed from ``spec_text()`` as a dict (cached)."""
    return yaml.safe_load(spec_text())  # type: ignore[no-any-return]


@functools.cache
def spec_html() -> str:
    """The offline HTML reference rendered from ``spec()`` (cached)."""
    return render(spec())


@route(bp, "/docs/openapi.yaml", ["GET"], auth="none")
async def openapi_yaml() -> Response:
    """GET /docs/openapi.yaml (no auth): the OpenAPI document; 200 ``application/yaml`` (API.md §3.8)."""
    return Response(spec_text(), content_type="application/yaml")


@route(bp, "/docs/openapi.json", ["GET"], auth="none")
async def openapi_json() -> Response:
    """GET /docs/openapi.json (no auth): the same document as JSON; 200 (API.md §3.8, extension)."""
    return Response(orjson.dumps(spec()), content_type="application/json")


@route(bp, "/docs", ["GET"], auth="none")
async def docs_page() -> Response:
    """GET /docs (no auth): the human-readable API reference; 200 ``text/html`` (API.md §3.8, extension)."""
    return Response(spec_html(), content_type="text/html; charset=utf-8")
