"""Signed file URLs: ``/files/<attachment id>/<filename>?ex=<unix>&sig=<hmac>`` (issue 10).

Browsers send no Authorization header with ``<img src>``, so the URL itself carries a
short-lived capability: an HMAC-SHA256 over the attachment id and the expiry, keyed with
a key derived from the server secret (never the secret itself). Expiries are rounded up
to the next :data:`ROUND_SECONDS`, so one attachment keeps the same URL for a while and
browser caches hit; a URL is valid for ``ttl`` to ``ttl + ROUND_SECONDS`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable

from ..errors import ApiError

ROUND_SECONDS = 3600
_KEY_LABEL = b"together-server file URLs v1"


def derive_key(secret: str) -> bytes:
    """The URL-signing key: HMAC-SHA256(server secret, a fixed label)."""
    return hmac.new(secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


class UrlSigner:
    """Makes and checks signed file URLs. ``ttl``: seconds a URL stays valid (≥ 1);
    ``clock``: seconds since the epoch (tests may pass their own)."""

    def __init__(self, secret: str, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._key = derive_key(secret)
        self.ttl = ttl
        self._clock = clock

    def _sig(self, attachment_id: str, ex: int) -> str:
        mac = hmac.new(self._key, f"{attachment_id}:{ex}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def expiry(self) -> int:
        """The ``ex`` a URL made now carries (unix seconds)."""
        now = int(self._clock())
        return -(-(now + self.ttl) // ROUND_SECONDS) * ROUND_SECONDS

    def url(self, attachment_id: str, filename: str) -> str:
        """The signed path (no scheme or host), e.g. ``/files/<id>/cat.png?ex=…&sig=…``."""
        ex = self.expiry()
        name = urllib.parse.quote(filename, safe="")
        return f"/files/{attachment_id}/{name}?ex={ex}&sig={self._sig(attachment_id, ex)}"

    def check(self, attachment_id: str, ex: str | None, sig: str | None) -> int:
        """Seconds the URL stays valid. Raises 403 ``invalid_signature`` when ``ex`` or
        ``sig`` is missing, malformed, altered, or expired."""
        if not ex or not sig or not ex.isascii() or not ex.isdigit() or len(ex) > 12:
            raise ApiError("invalid_signature")
        expected = self._sig(attachment_id, int(ex))
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise ApiError("invalid_signature")
        left = int(ex) - int(self._clock())
        if left <= 0:
            raise ApiError("invalid_signature", "The file link has expired; reload the message for a new one")
        return left
