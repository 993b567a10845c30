"""Who is calling: resolving the ``Authorization`` header into a :class:`Caller`.

API.md §2.1, §2.5. ``resolve`` never raises: it returns a Caller or the ApiError a route
that needs credentials will raise, so the rate limiter (which runs first, §1.6) can
pick the right bucket (§5) from the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from ..errors import ApiError
from .tokens import Revocations, Tokens, sha256_hex


@attrs.frozen
class Caller:
    """An authenticated caller. ``sid``: login session (humans); ``bgen``: bot-token
    generation (bots); ``scheme``: "Bearer" or "Bot" as presented."""

    user_id: str
    username: str
    is_bot: bool
    sid: str | None = None
    bgen: str | None = None
    scheme: str = "Bearer"


@attrs.frozen
class BotCredential:
    """What a live bot token maps to (kept in memory by the bots module)."""

    user_id: str
    username: str
    bgen: str


_SPACE = re.compile(r"\s")


def _has_space(token: str) -> bool:
    return _SPACE.search(token) is not None


def _challenge(code: str, scheme: str) -> ApiError:
    return ApiError(code, headers={"WWW-Authenticate": scheme})


class Authenticator:
    """Checks credentials without SQL: JWT signature + in-memory revocations + bot map."""

    def __init__(
        self, tokens: Tokens, revocations: Revocations,
        bot_lookup: Callable[[str], BotCredential | None] = lambda digest: None,
        bot_live: Callable[[str], bool] = lambda generation: False,
    ) -> None:
        self.tokens = tokens
        self.revocations = revocations
        self.bot_lookup = bot_lookup
        self.bot_live = bot_live

    def from_access_token(self, token: str, scheme: str = "Bearer") -> Caller | ApiError:
        try:
            claims = self.tokens.decode(token)
        except ApiError as exc:
            return _challenge(exc.code, scheme)
        if claims.get("bot") is True:
            bgen = claims["bgen"]
            if not self.bot_live(bgen):
                return _challenge("invalid_bot_token", scheme)
            return Caller(claims["sub"], str(claims.get("username", "")), True, bgen=bgen, scheme=scheme)
        sid = claims["sid"]
        if self.revocations.is_ended("session", sid):
            return _challenge("session_revoked", scheme)
        return Caller(claims["sub"], str(claims.get("username", "")), False, sid=sid, scheme=scheme)

    def from_bot_token(self, token: str) -> Caller | ApiError:
        cred = self.bot_lookup(sha256_hex(token)) if token else None
        if cred is None:
            return _challenge("invalid_bot_token", "Bot")
        return Caller(cred.user_id, cred.username, True, bgen=cred.bgen, scheme="Bot")

    def resolve(self, header: str | None) -> Caller | ApiError:
        """``Authorization`` header -> Caller, or the 401 to raise (missing_token, ...)."""
        if not header:
            return _challenge("missing_token", "Bearer")
        # The scheme word and its one space are exact (§2.1); the token has no whitespace.
        if header.startswith("Bearer "):
            token = header[7:]
            if not token or _has_space(token):
                return _challenge("invalid_token", "Bearer")
            return self.from_access_token(token)
        if header.startswith("Bot "):
            token = header[4:]
            if not token or _has_space(token):
                return _challenge("invalid_bot_token", "Bot")
            return self.from_bot_token(token)
        return _challenge("missing_token", "Bearer")
