"""Bots: accounts, tokens, revocation and logs (API.md §4.7, §2.3).

Tokens are 64 lowercase hex characters shown once; only their SHA-256 is stored. The
live tokens are mirrored in memory by :class:`BotRegistry` (fed by commit actions, in
commit order), so authenticating a bot costs no SQL and a revoked or regenerated token
stops working the moment its transaction commits.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

from ..auth.request import BotCredential
from ..auth.tokens import sha256_hex
from ..errors import ApiError
from . import accounts
from .db import Tx

Revoke = Callable[[str, str], None]
MESSAGE_LOG_KEEP = 50
BOT_COLUMNS = "b.id, b.user_id, b.name, b.description, b.created_by, b.revoked_at, b.created_at, b.generation"


def bot_json(row: Any) -> dict[str, Any]:
    """Bot (API.md §1.8) from a row of BOT_COLUMNS: ``{id, user_id, name, description, created_by, revoked_at, created_at}``."""
    return {
        "id": row["id"], "user_id": row["user_id"], "name": row["name"],
        "description": row["description"], "created_by": row["created_by"],
        "revoked_at": row["revoked_at"], "created_at": row["created_at"],
    }


def bot_username(name: str) -> str:
    """§4.7: lower-case, runs of non-[a-z0-9] -> '-', trim, cut to 19, + '-bot-<8 hex>'."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:19].rstrip("-") or "bot"
    return f"{base}-bot-{secrets.token_hex(4)}"


class BotRegistry:
    """In-memory live bot tokens: hash -> credential, and the set of live generations."""

    def __init__(self) -> None:
        self._by_hash: dict[str, BotCredential] = {}
        self._hash_of: dict[str, str] = {}  # generation -> token hash

    def load(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT b.token_hash, b.user_id, u.username, b.generation FROM bots b JOIN users u ON u.id = b.user_id"
            " WHERE b.revoked_at IS NULL AND b.token_hash IS NOT NULL"
        )
        for digest, uid, username, gen in rows:
            self.add(digest, BotCredential(uid, username, gen))

    def add(self, digest: str, cred: BotCredential) -> None:
        self._by_hash[digest] = cred
        self._hash_of[cred.bgen] = digest

    def on_revocation(self, kind: str, key: str) -> None:
        """``Revocations`` listener: a ("bot", generation) end drops that token."""
        if kind == "bot":
            digest = self._hash_of.pop(key, None)
            if digest is not None:
                self._by_hash.pop(digest, None)

    def by_hash(self, digest: str) -> BotCredential | None:
        return self._by_hash.get(digest)

    def is_live(self, generation: str) -> bool:
        return generation in self._hash_of


def _log(tx: Tx, bot_id: str, event: str, detail: str | None = None) -> None:
    tx.conn.execute(
        "INSERT INTO bot_logs (bot_id, timestamp, event, detail) VALUES (?, ?, ?, ?)",
        (bot_id, tx.now(), event, detail),
    )


def _new_token(tx: Tx, registry: BotRegistry, row: Any, user_id: str, username: str) -> str:
    token = secrets.token_hex(32)
    digest = sha256_hex(token)
    generation, _ = tx.new_id()
    tx.conn.execute("UPDATE bots SET token_hash = ?, generation = ? WHERE id = ?", (digest, generation, row))
    tx.on_commit(lambda: registry.add(digest, BotCredential(user_id, username, generation)))
    return token


def create_bot(tx: Tx, registry: BotRegistry, creator: str, name: str, description: str | None, limit: int) -> tuple[dict[str, Any], str]:
    """Write job: create bot ``name`` (already validated) with its own bot user account (§4.7).

    Returns ``(Bot, token)``; the token (64 hex chars) is shown once and enters ``registry`` after
    commit. Logs ``bot_created``. Raises 400 ``limit_reached`` when ``creator`` already has
    ``limit`` unrevoked bots.
    """
    live = tx.conn.execute(
        "SELECT count(*) FROM bots WHERE created_by = ? AND revoked_at IS NULL", (creator,)
    ).fetchone()[0]
    if live >= limit:
        raise ApiError("limit_reached", f"You already have {limit} active bots")
    username = bot_username(name)
    user = accounts.create_user(
        tx, username=username, username_fold=username, email=None, email_fold=None,
        password_hash=None, is_bot=True, allow_admin=False,
    )
    bot_id, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO bots (id, user_id, name, description, created_by, generation, created_at)"
        " VALUES (?, ?, ?, ?, ?, '', ?)", (bot_id, user["id"], name, description, creator, now),
    )
    token = _new_token(tx, registry, bot_id, user["id"], username)
    _log(tx, bot_id, "bot_created")
    return get_own_bot(tx.conn, bot_id, creator), token


def get_own_bot(conn: sqlite3.Connection, bot_id: str, creator: str) -> dict[str, Any]:
    """Reader or ``tx.conn``: Bot (§1.8) ``bot_id`` created by ``creator`` (revoked included); 404 ``unknown_bot`` otherwise (§4.7)."""
    row = conn.execute(f"SELECT {BOT_COLUMNS} FROM bots b WHERE b.id = ? AND b.created_by = ?", (bot_id, creator)).fetchone()
    if row is None:
        raise ApiError("unknown_bot")
    return bot_json(row)


def list_bots(conn: sqlite3.Connection, creator: str) -> list[dict[str, Any]]:
    """Reader: every Bot (§1.8) created by ``creator``, oldest first, revoked ones included (``GET /bots``, §4.7)."""
    rows = conn.execute(
        f"SELECT {BOT_COLUMNS} FROM bots b WHERE b.created_by = ? ORDER BY b.created_at, b.id", (creator,)
    )
    return [bot_json(r) for r in rows]


def update_bot(tx: Tx, bot_id: str, creator: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Write job: apply ``changes`` (column -> value: ``name``, ``description``) to an own bot; returns the Bot.

    Raises 404 ``unknown_bot`` (not the caller's), 400 ``bot_revoked`` (§4.7). Emits no event.
    """
    bot = get_own_bot(tx.conn, bot_id, creator)
    if bot["revoked_at"] is not None:
        raise ApiError("bot_revoked")
    if changes:
        cols = ", ".join(f"{k} = ?" for k in changes)
        tx.conn.execute(f"UPDATE bots SET {cols} WHERE id = ?", (*changes.values(), bot_id))
    return get_own_bot(tx.conn, bot_id, creator)


def _end_generation(tx: Tx, bot_id: str, revoke: Revoke) -> None:
    """After commit, the live generation ends: the registry drops it and gateway sessions
    bound to it close with 4001 (both listen to ``Revocations``)."""
    generation = tx.conn.execute("SELECT generation FROM bots WHERE id = ?", (bot_id,)).fetchone()[0]
    tx.on_commit(lambda: revoke("bot", generation))


def revoke_bot(tx: Tx, bot_id: str, creator: str, revoke: Revoke) -> None:
    """Write job: set ``revoked_at`` and drop the token hash; after commit ``revoke("bot", generation)``
    ends the token and its gateway sessions. Logs ``bot_revoked``; already revoked: does nothing.
    Raises 404 ``unknown_bot`` (§4.7).
    """
    bot = get_own_bot(tx.conn, bot_id, creator)
    if bot["revoked_at"] is not None:
        return
    _end_generation(tx, bot_id, revoke)
    tx.conn.execute("UPDATE bots SET revoked_at = ?, token_hash = NULL WHERE id = ?", (tx.now(), bot_id))
    _log(tx, bot_id, "bot_revoked")


def regenerate(tx: Tx, registry: BotRegistry, bot_id: str, creator: str, revoke: Revoke) -> tuple[dict[str, Any], str]:
    """Write job: replace an own bot's token; the old generation is revoked after commit (§4.7).

    Returns ``(Bot, new token)``. Raises 404 ``unknown_bot``, 400 ``bot_revoked``.
    """
    bot = get_own_bot(tx.conn, bot_id, creator)
    if bot["revoked_at"] is not None:
        raise ApiError("bot_revoked")
    _end_generation(tx, bot_id, revoke)
    username = tx.conn.execute("SELECT username FROM users WHERE id = ?", (bot["user_id"],)).fetchone()[0]
    token = _new_token(tx, registry, bot_id, bot["user_id"], username)
    return get_own_bot(tx.conn, bot_id, creator), token


def logs(conn: sqlite3.Connection, bot_id: str, creator: str) -> list[dict[str, Any]]:
    """Reader: the bot's log as ``[{"timestamp": ts, "event": str, "detail": str | None}]``, newest first.

    Raises 404 ``unknown_bot`` unless ``creator`` made the bot (``GET /bots/:id/logs``, §4.7).
    """
    get_own_bot(conn, bot_id, creator)
    rows = conn.execute(
        "SELECT timestamp, event, detail FROM bot_logs WHERE bot_id = ? ORDER BY id DESC", (bot_id,)
    )
    return [{"timestamp": r[0], "event": r[1], "detail": r[2]} for r in rows]


def log_message(tx: Tx, message: Any) -> None:
    """Step of ``messages.post``: a bot's post logs ``message_sent`` (its 50 newest kept, §4.7).

    ``message`` is the new messages row (a mapping with author_id, channel_id, content)."""
    # Memoised in the writer cache: a user id is a bot's from its creation on, so a cached
    # "not a bot" can never turn stale.
    key = ("bot_of_user", message["author_id"])
    hit = tx.cache.get(key)
    if hit is None:
        row = tx.conn.execute("SELECT id FROM bots WHERE user_id = ?", (message["author_id"],)).fetchone()
        hit = tx.cache.put(key, (row[0] if row else None,))
    bot_id = hit[0]
    if bot_id is None:
        return
    _log(tx, bot_id, "message_sent", f"[channel {message['channel_id']}] {message['content'][:80]}")
    tx.conn.execute(
        "DELETE FROM bot_logs WHERE bot_id = ? AND event = 'message_sent' AND id NOT IN ("
        " SELECT id FROM bot_logs WHERE bot_id = ? AND event = 'message_sent' ORDER BY id DESC LIMIT ?)",
        (bot_id, bot_id, MESSAGE_LOG_KEEP),
    )


def revoke_all_of(tx: Tx, creator: str, revoke: Revoke) -> None:
    """Step of ``users.delete_account``: every live bot ``creator`` made is revoked (§3.2, §4.7);
    ``revoke(kind, id)`` runs after commit."""
    for (bot_id,) in tx.conn.execute(
        "SELECT id FROM bots WHERE created_by = ? AND revoked_at IS NULL", (creator,)
    ).fetchall():
        revoke_bot(tx, bot_id, creator, revoke)
