"""``GET /instance/lan`` (issue 14): where guests on this network can open the server.

What the web client's "Invite people on this network" dialog shows: the HTTPS URLs (one per
address, then the ``.local`` name), the certificate fingerprints and the CA trust page.
"""

from __future__ import annotations

from quart import Blueprint, Response

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
