"""Render the OpenAPI document as one self-contained HTML page (API.md §3.8: ``GET /docs``).

No assets from other hosts: inline CSS, no scripts. Each operation shows its summary,
description (a light Markdown subset: paragraphs, ``code``, **bold**, *italic*, fenced
blocks, ``-`` lists whose items may wrap onto indented lines, and ``|`` tables), parameters, request-body fields with their rules, and the
responses with the error codes each status can carry (``x-error-codes``).
"""

from __future__ import annotations

import html
import re
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
CSS = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:64em;margin:2em auto;padding:0 1em;color:#1b1f23}"
    "code,pre{font:13px ui-monospace,monospace;background:#f3f4f6;border-radius:3px}code{padding:0 .2em}"
    "pre{padding:.6em;overflow-x:auto}h2{border-bottom:1px solid #ccc;margin-top:2em}"
    "details{margin:.6em 0;border-left:4px solid #58a;background:#fafbfc;padding:.3em 1em}"
    "summary{cursor:pointer}.m{font-weight:bold;text-transform:uppercase;display:inline-block;width:4.5em}"
    "table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:.2em .5em;"
    "vertical-align:top;text-align:left}nav a{margin-right:.8em}"
)


_CODE = re.compile(r"(`[^`]+`)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?![\s*])([^*]+?)(?<!\s)\*(?![\w*])")


def _inline(text: str) -> str:
    """Escaped text with `code`, **bold** and *italic*; nothing inside a code span is
    formatted (so `gener*` keeps its star)."""
    out = []
    for i, piece in enumerate(_CODE.split(text)):
        if i % 2:
            out.append(f"<code>{html.escape(piece[1:-1], quote=False)}</code>")
        else:
            piece = _BOLD.sub(r"<b>\1</b>", html.escape(piece, quote=False))
            out.append(_ITALIC.sub(r"<i>\1</i>", piece))
    return "".join(out)


def _is_item(line: str) -> bool:
    return line.lstrip().startswith(("- ", "* "))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def markdown(text: str) -> str:
    """The Markdown subset the spec's descriptions use, escaped."""
    parts: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            parts.append(f"<pre>{html.escape(chr(10).join(block))}</pre>")
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                    rows.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
                i += 1
            parts.append("<table>" + "".join(rows) + "</table>")
            continue
        if _is_item(line):
            items = []
            while i < len(lines) and _is_item(lines[i]):
                depth = _indent(lines[i])
                item = [lines[i].lstrip()[2:]]
                i += 1
                # a wrapped item: the following lines indented past its "- " belong to it
                while i < len(lines) and lines[i].strip() and not _is_item(lines[i]) \
                        and _indent(lines[i]) > depth:
                    item.append(lines[i].strip())
                    i += 1
                items.append(f"<li>{_inline(' '.join(item))}</li>")
            parts.append("<ul>" + "".join(items) + "</ul>")
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not lines[i].startswith(("```", "|")) \
                and not lines[i].lstrip().startswith(("- ", "* ")):
            para.append(lines[i])
            i += 1
        if para:
            parts.append(f"<p>{_inline(' '.join(para))}</p>")
        else:
            i += 1
    return "".join(parts)


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"].lstrip("#/").split("/")
        node = doc
        for key in ref:
            node = node[key]
    return node


def _rules(schema: dict[str, Any]) -> str:
    bits = []
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "min"),
                       ("maximum", "max"), ("pattern", "pattern"), ("format", "format")):
        if key in schema:
            bits.append(f"{label} {schema[key]}")
    if "enum" in schema:
        bits.append("one of " + ", ".join(map(str, schema["enum"])))
    if schema.get("nullable"):
        bits.append("nullable")
    return "; ".join(bits)


def _fields(doc: dict[str, Any], schema: Any) -> str:
    schema = _resolve(doc, schema)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not props:
        return ""
    required = set(schema.get("required", []))
    rows = []
    for name, prop in props.items():
        prop = _resolve(doc, prop)
        kind = prop.get("type", "")
        if kind == "array":
            kind = f"array of {_resolve(doc, prop.get('items', {})).get('type', 'object')}"
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(str(kind))}</td>"
            f"<td>{'required' if name in required else ''}</td><td>{html.escape(_rules(prop))}</td>"
            f"<td>{_inline(prop.get('description', ''))}</td></tr>"
        )
    strict = " (strict: unknown fields are refused)" if schema.get("additionalProperties") is False else ""
    return (f"<p><b>Body fields</b>{strict}</p><table><tr><th>field</th><th>type</th><th></th>"
            f"<th>rules</th><th>notes</th></tr>{''.join(rows)}</table>")


def _operation(doc: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> str:
    out = [f"<details id={html.escape(op.get('operationId', ''))}><summary><span class=m>{method}</span>"
           f"<code>{html.escape(path)}</code> — {_inline(op.get('summary', ''))}</summary>"]
    out.append("<p><i>no credentials needed</i></p>" if op.get("security") == [] else "")
    if op.get("description"):
        out.append(markdown(op["description"]))
    params = [_resolve(doc, p) for p in op.get("parameters", [])]
    if params:
        rows = "".join(
            f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{html.escape(p.get('in', ''))}</td>"
            f"<td>{html.escape(_rules(_resolve(doc, p.get('schema', {}))))}</td>"
            f"<td>{_inline(p.get('description', ''))}</td></tr>" for p in params)
        out.append(f"<p><b>Parameters</b></p><table><tr><th>name</th><th>in</th><th>rules</th>"
                   f"<th>notes</th></tr>{rows}</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body is not None:
        out.append(_fields(doc, body))
    codes = op.get("x-error-codes", {})
    rows = []
    for status, resp in op.get("responses", {}).items():
        resp = _resolve(doc, resp)
        errs = ", ".join(f"<code>{html.escape(c)}</code>" for c in codes.get(str(status), []))
        rows.append(f"<tr><td>{html.escape(str(status))}</td><td>{_inline(resp.get('description', ''))}</td>"
                    f"<td>{errs}</td></tr>")
    out.append(f"<p><b>Responses</b></p><table><tr><th>status</th><th>meaning</th><th>codes</th></tr>"
               f"{''.join(rows)}</table></details>")
    return "".join(out)


def render(doc: dict[str, Any]) -> str:
    """One self-contained HTML page (no external assets) from an OpenAPI ``doc`` dict: operations
    grouped by their first tag, each expandable (API.md §3.8).
    """
    info = doc.get("info", {})
    title = html.escape(info.get("title", "API"))
    by_tag: dict[str, list[str]] = {}
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op:
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation(doc, method, path, op))
    nav = "".join(f"<a href=#tag-{html.escape(t)}>{html.escape(t)}</a>" for t in by_tag)
    sections = "".join(f"<h2 id=tag-{html.escape(t)}>{html.escape(t)}</h2>{''.join(ops)}" for t, ops in by_tag.items())
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
        f"<style>{CSS}</style></head><body><h1>{title} <small>{html.escape(str(info.get('version', '')))}</small></h1>"
        f"{markdown(info.get('description', ''))}"
        "<p>Machine-readable: <a href=/docs/openapi.yaml>openapi.yaml</a> · <a href=/docs/openapi.json>openapi.json</a>."
        " Click an operation to open it.</p>"
        f"<nav>{nav}</nav>{sections}</body></html>"
    )
