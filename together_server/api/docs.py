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
    return (files("together_server") / "openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(spec_text())  # type: ignore[no-any-return]


@functools.cache
def spec_html() -> str:
    return render(spec())


@route(bp, "/docs/openapi.yaml", ["GET"], auth="none")
async def openapi_yaml() -> Response:
    return Response(spec_text(), content_type="application/yaml")


@route(bp, "/docs/openapi.json", ["GET"], auth="none")
async def openapi_json() -> Response:
    return Response(orjson.dumps(spec()), content_type="application/json")


@route(bp, "/docs", ["GET"], auth="none")
async def docs_page() -> Response:
    return Response(spec_html(), content_type="text/html; charset=utf-8")
