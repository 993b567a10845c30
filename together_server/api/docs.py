"""The served API description (API.md §3.8): YAML, JSON, and an offline HTML page."""

from __future__ import annotations

import functools
import html
from importlib.resources import files
from typing import Any

import orjson
import yaml
from quart import Blueprint, Response

from .common import route

bp = Blueprint("docs", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def spec_text() -> str:
    return (files("together_server") / "openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(spec_text())  # type: ignore[no-any-return]


@functools.cache
def spec_html() -> str:
    doc = spec()
    info = doc.get("info", {})
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(info.get('title', 'API'))}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "code,pre{font:13px ui-monospace,monospace}h2{border-bottom:1px solid #ccc}"
        ".op{margin:1em 0;padding:.5em 1em;border-left:4px solid #58a;background:#f6f8fa}"
        ".m{font-weight:bold;text-transform:uppercase;margin-right:.5em}</style></head><body>",
        f"<h1>{html.escape(info.get('title', 'API'))} <small>{html.escape(str(info.get('version', '')))}</small></h1>",
        "<p>Machine-readable: <a href=/docs/openapi.yaml>openapi.yaml</a> · <a href=/docs/openapi.json>openapi.json</a></p>",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op:
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method, path, op))
    for tag, ops in by_tag.items():
        out.append(f"<h2>{html.escape(tag)}</h2>")
        for method, path, op in ops:
            statuses = ", ".join(html.escape(str(s)) for s in op.get("responses", {}))
            auth = "no auth" if op.get("security") == [] else "auth"
            out.append(
                f"<div class=op><span class=m>{method}</span><code>{html.escape(path)}</code>"
                f"<p>{html.escape(op.get('summary', ''))}</p>"
                f"<p><small>{auth} · responses: {statuses}</small></p></div>"
            )
    out.append("</body></html>")
    return "".join(out)


@route(bp, "/docs/openapi.yaml", ["GET"], auth="none")
async def openapi_yaml() -> Response:
    return Response(spec_text(), content_type="application/yaml")


@route(bp, "/docs/openapi.json", ["GET"], auth="none")
async def openapi_json() -> Response:
    return Response(orjson.dumps(spec()), content_type="application/json")


@route(bp, "/docs", ["GET"], auth="none")
async def docs_page() -> Response:
    return Response(spec_html(), content_type="text/html; charset=utf-8")
