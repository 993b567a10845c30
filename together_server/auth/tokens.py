"""Access JWTs (HS256 only), opaque refresh tokens and the in-memory revocation list.

API.md §2.2. Access tokens carry ``sub``, ``username``, ``iat``, ``exp``,
``token_type: "access"`` and ``sid`` (the login session), or ``bot: true`` and ``bgen``
(the bot-token generation) for tokens from ``/bots/connect``. Only SHA-256 hashes of
refresh and bot tokens are stored. Ended login sessions and bot-token generations are
kept in :class:`Revocations` for as long as an access token could still be alive, so
checking a token costs no SQL.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from ..errors import ApiError

ALGORITHM = "HS256"


def sha256_hex(token: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 ``token`` (64 chars): how refresh and bot tokens are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and its SHA-256 hex digest."""
    token = secrets.token_urlsafe(48)
    return token, sha256_hex(token)


def load_or_create_secret(data_dir: Path) -> str:
    """The JWT key from ``<data_dir>/jwt-secret``, generated once with mode 0600."""
    path = data_dir / "jwt-secret"
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) >= 32:
            return secret
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret


class Tokens:
    """Issue and check access JWTs. ``ttl`` in seconds.

    Verified claims are cached by the exact token string (bounded LRU), so a client that
    sends the same token on every request pays for the HMAC and JSON parsing once; the
    expiry is still compared with the clock on every use, and revocation is checked by
    the caller every time.
    """

    CACHE_SIZE = 4096

    def __init__(self, secret: str, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.ttl = ttl
        self._clock = clock
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def issue(self, user_id: str, username: str, *, sid: str | None = None, bgen: str | None = None) -> str:
        now = int(self._clock())
        claims: dict[str, Any] = {
            "sub": user_id, "username": username, "iat": now, "exp": now + self.ttl,
            "token_type": "access",
        }
        if bgen is not None:
            claims["bot"] = True
            claims["bgen"] = bgen
        else:
            claims["sid"] = sid
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> dict[str, Any]:
        """Verified claims; raises ApiError ``token_expired`` or ``invalid_token``.

        Only HS256 is accepted (a token naming ``none`` or any other algorithm fails);
        ``exp``, ``iat`` and ``sub`` are required; no leeway.
        """
        cached = self._cache.get(token)
        if cached is not None:
            if cached["exp"] <= self._clock():
                del self._cache[token]
                raise ApiError("token_expired")
            self._cache.move_to_end(token)
            return cached
        claims = self._verify(token)
        self._cache[token] = claims
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError("token_expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise ApiError("invalid_token") from None
        if claims.get("token_type") != "access" or not isinstance(claims.get("sub"), str):
            raise ApiError("invalid_token")
        # We only ever issue numeric times; pyjwt also takes numeric strings, which would
        # then break the cache's expiry comparison.
        if any(type(claims.get(k)) not in (int, float) for k in ("exp", "iat")):
            raise ApiError("invalid_token")
        if claims.get("bot") is True:
            if not isinstance(claims.get("bgen"), str):
                raise ApiError("invalid_token")
        elif not isinstance(claims.get("sid"), str):
            raise ApiError("invalid_token")
        return claims


class Revocations:
    """Ended login sessions and bot-token generations, kept for the access-token TTL.

    Fed by the storage writer's commit actions (in commit order) and loaded at start.
    ``listeners`` are called with ``("session", sid)`` or ``("bot", bgen)`` so the gateway
    can close bound sessions with 4001.
    """

    def __init__(self, ttl: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._ended: dict[str, float] = {}
        self.listeners: list[Callable[[str, str], None]] = []

    def end(self, kind: str, key: str) -> None:
        self._ended[f"{kind}:{key}"] = self._clock() + self._ttl + 5
        for listener in list(self.listeners):
            listener(kind, key)

    def is_ended(self, kind: str, key: str) -> bool:
        return f"{kind}:{key}" in self._ended

    def prune(self) -> None:
        now = self._clock()
        for k in [k for k, until in self._ended.items() if until < now]:
            del self._ended[k]
