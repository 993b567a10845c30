"""The objects a request handler may use, built once by ``daemon.py`` (STYLE.md §2)."""

from __future__ import annotations

from typing import Any

import attrs

from .auth.passwords import Passwords
from .auth.request import Authenticator
from .auth.tokens import Revocations, Tokens
from .config import Config
from .storage.db import Database


@attrs.define
class AppState:
    """Everything a request handler or gateway session needs, built once by ``run_daemon``.

    Config, the Database, token issuing/decoding and revocations (§2.2, §2.3), the Authenticator,
    password hashing, the gateway hub (presence), the live bot registry, rate limiters (None when
    ``ratelimit.enabled`` is false), trusted proxy networks, and ``extras`` for optional modules.
    """
    config: Config
    db: Database
    tokens: Tokens
    revocations: Revocations
    auth: Authenticator
    passwords: Passwords
    hub: Any  # gateway.hub.Hub (presence: ``hub.is_online(user_id)``)
    bots: Any = None  # storage.bots.BotRegistry (live bot tokens)
    limiters: Any = None  # ratelimit.Limiters or None when disabled
    trusted_proxies: tuple[Any, ...] = ()
    files: Any = None  # api.uploads.FileService (blob store, upload settings; issue 10)
    files_signer: Any = None  # files.signing.UrlSigner (the /files/... URLs)
    extras: dict[str, Any] = attrs.field(factory=dict)
    inflight: int = 0  # HTTP requests being handled (shutdown waits for them)
    shutting_down: bool = False  # set at the shutdown trigger: new requests get 503

    def revoke(self, kind: str, key: str) -> None:
        """Commit action: a login session / bot generation ended (§2.2, §2.3)."""
        self.revocations.end(kind, key)

    def is_online(self, user_id: str) -> bool:
        return bool(self.hub is not None and self.hub.is_online(user_id))
