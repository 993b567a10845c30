"""``GET /instance/lan`` and ``GET /instance/lan/qr.svg`` (issue 14): where guests on this
network can open the server, and a QR code of such a URL.

What the web client's "Invite people on this network" dialog shows: the HTTPS URLs (one per
address, then the ``.local`` name), the certificate fingerprints and the CA trust page.
"""

from __future__ import annotations

import io
import re

from quart import Blueprint, Response, request

from ..errors import invalid
from .common import json, route, state

bp = Blueprint("lan", __name__)

OFF = {"lan": False, "urls": [], "local_name": None, "port": None, "tls_sha256": None,
       "ca_sha256": None, "trust_url": None}


@route(bp, "/instance/lan", ["GET"], auth="none")
async def lan_info() -> Response:
    """GET /instance/lan (no auth): 200 ``{lan: bool, urls: [str], local_name: str|null, port: int|null,
    tls_sha256: str|null, ca_sha256: str|null, trust_url: str|null}``; ``lan: false`` and empty
    ``urls`` without LAN mode (``tls_sha256`` set when HTTPS uses the operator's certificate)."""
    lan = state().extras.get("lan")
    return json(lan.public() if lan is not None else OFF)


QR_MAX = 1024
_URL = re.compile(r"^https?://[\x21-\x7e]+$")


@route(bp, "/instance/lan/qr.svg", ["GET"], auth="none")
async def lan_qr() -> Response:
    """GET /instance/lan/qr.svg?text=<http(s) URL, ≤ 1024 chars> (no auth): 200 ``image/svg+xml``,
    a QR code of the URL (``segno``, so a phone joins by scanning; an ``<img>`` cannot send a
    bearer token); 400 ``validation_failed`` for anything else."""
    text = request.args.get("text", "")
    if len(text) > QR_MAX or not _URL.match(text):
        raise invalid({"text": f"must be an http(s) URL of at most {QR_MAX} characters"})
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="svg", scale=6, border=2, xmldecl=False,
                                                  svgclass=None, lineclass=None)
    return Response(buf.getvalue(), 200, {"Content-Type": "image/svg+xml", "Cache-Control": "max-age=3600"})
