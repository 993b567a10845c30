"""Accounts and login sessions: register, login, refresh rotation, logout, session ends.

API.md §2.2, §2.4, §3.1. Write functions take a :class:`~.db.Tx` and run on the writer
thread; their checks run again inside the transaction (§1.9). Refresh outcomes that must
commit a revocation (reuse detection) are *returned* as an error code, not raised, so
the revocation is not rolled back with the failing job.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..auth.tokens import new_refresh_token, sha256_hex
from ..clock import format_us, parse_ts
from ..errors import ApiError
from .db import Tx, integrity

MAX_LIVE_SESSIONS = 10
ROTATION_GRACE_SECONDS = 2.0

USER_COLUMNS = (
    "id, username, email, avatar_url, bio, pronouns, chosen_status, custom_status, activity,"
    " is_admin, is_bot, deleted_at, created_at, password_hash, disabled_at"
)
SQL_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = ?"
SQL_USER_BY_FOLD = f"SELECT {USER_COLUMNS} FROM users WHERE username_fold = ?"
SQL_INSERT_USER = (
    "INSERT INTO users (id, username, username_fold, email, email_fold, password_hash,"
    " is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
SQL_INSERT_SESSION = (
    "INSERT INTO login_sessions (id, user_id, created_at, refreshed_at) VALUES (?, ?, ?, ?)"
)
SQL_INSERT_REFRESH = "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?, ?, ?)"
SQL_LIVE_SESSIONS = (
    "SELECT id FROM login_sessions WHERE user_id = ? AND ended_at IS NULL AND refreshed_at >= ?"
    " ORDER BY refreshed_at ASC, id ASC"
)
SQL_REFRESH_LOOKUP = (
    "SELECT t.session_id, t.issued_at, t.rotated_at, s.user_id, s.ended_at"
    " FROM refresh_tokens t JOIN login_sessions s ON s.id = t.session_id WHERE t.token_hash = ?"
)
SQL_END_SESSION = (
    "UPDATE login_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL"
)
SQL_RECENTLY_ENDED = "SELECT id FROM login_sessions WHERE ended_at >= ?"
SQL_EXPIRED_SESSIONS = (
    "SELECT id FROM login_sessions WHERE ended_at IS NULL AND refreshed_at < ?"
)

UNIQUE_ERRORS = {"users.username_fold": "username_taken", "users.email_fold": "email_taken"}


def _shift(ts: str, seconds: float) -> str:
    dt = parse_ts(ts)
    return format_us(int(dt.timestamp() * 1_000_000) + int(seconds * 1_000_000))


def end_session(tx: Tx, session_id: str, reason: str, revoke: Any) -> bool:
    """End a login session (any cause of §2.2); ``revoke(kind, key)`` runs after commit."""
    cur = tx.conn.execute(SQL_END_SESSION, (tx.now(), reason, session_id))
    if cur.rowcount:
        tx.on_commit(lambda: revoke("session", session_id))
        return True
    return False


def start_session(tx: Tx, user_id: str, ttl: int, revoke: Any) -> tuple[str, str]:
    """New login session + refresh token; evicts the least recently refreshed past 10."""
    sid, now = tx.new_id()
    live = [r[0] for r in tx.conn.execute(SQL_LIVE_SESSIONS, (user_id, _shift(now, -ttl)))]
    while len(live) >= MAX_LIVE_SESSIONS:
        end_session(tx, live.pop(0), "eviction", revoke)
    tx.conn.execute(SQL_INSERT_SESSION, (sid, user_id, now, now))
    token, digest = new_refresh_token()
    tx.conn.execute(SQL_INSERT_REFRESH, (digest, sid, now))
    return sid, token


def create_user(
    tx: Tx, *, username: str, username_fold: str, email: str | None, email_fold: str | None,
    password_hash: str | None, is_bot: bool = False, allow_admin: bool = True,
) -> sqlite3.Row:
    """Insert a user; the first account on the instance becomes admin. 409 on conflicts."""
    uid, now = tx.new_id()
    first = allow_admin and tx.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
    with integrity(UNIQUE_ERRORS):
        tx.conn.execute(
            SQL_INSERT_USER, (uid, username, username_fold, email, email_fold, password_hash, int(first), now)
        )
    if is_bot:
        tx.conn.execute("UPDATE users SET is_bot = 1 WHERE id = ?", (uid,))
    row = tx.conn.execute(SQL_USER_BY_ID, (uid,)).fetchone()
    assert row is not None
    return row


def refresh(tx: Tx, token: str, ttl: int, revoke: Any) -> tuple[str, Any]:
    """Rotate ``token``. Returns ("ok", (user_row, sid, new_token)) or ("error", code).

    A token rotated < 2 s ago gets ``refresh_token_rotated`` (nothing revoked); later
    reuse ends the whole login session and gets ``refresh_token_reused``.
    """
    row = tx.conn.execute(SQL_REFRESH_LOOKUP, (sha256_hex(token),)).fetchone()
    now = tx.now()
    if row is None or row["ended_at"] is not None:
        return "error", "invalid_refresh_token"
    if row["issued_at"] < _shift(now, -ttl):
        end_session(tx, row["session_id"], "refresh_expiry", revoke)
        return "error", "invalid_refresh_token"
    if row["rotated_at"] is not None:
        if row["rotated_at"] >= _shift(now, -ROTATION_GRACE_SECONDS):
            return "error", "refresh_token_rotated"
        end_session(tx, row["session_id"], "reuse_detected", revoke)
        return "error", "refresh_token_reused"
    sid = row["session_id"]
    tx.conn.execute("UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ?", (now, sha256_hex(token)))
    tx.conn.execute("UPDATE login_sessions SET refreshed_at = ? WHERE id = ?", (now, sid))
    new_token, digest = new_refresh_token()
    tx.conn.execute(SQL_INSERT_REFRESH, (digest, sid, now))
    user = tx.conn.execute(SQL_USER_BY_ID, (row["user_id"],)).fetchone()
    if user is not None and user["disabled_at"] is not None:
        return "error", "account_disabled"
    if user is None or user["deleted_at"] is not None:
        return "error", "invalid_refresh_token"
    return "ok", (user, sid, new_token)


def logout(tx: Tx, token: str, revoke: Any) -> None:
    """Write job: end the login session of refresh ``token`` (reason "logout"); unknown tokens do nothing.

    ``revoke("session", sid)`` runs after commit, so its access tokens die too (API.md §2.2, §3.1).
    """
    row = tx.conn.execute(SQL_REFRESH_LOOKUP, (sha256_hex(token),)).fetchone()
    if row is not None:
        end_session(tx, row["session_id"], "logout", revoke)


def end_other_sessions(tx: Tx, user_id: str, keep: str | None, reason: str, revoke: Any) -> None:
    """Write job: end every live login session of ``user_id`` except ``keep`` (a session id, or None for all).

    ``reason`` is stored as end_reason; each ended session calls ``revoke("session", sid)`` after commit (§2.2).
    """
    rows = tx.conn.execute(
        "SELECT id FROM login_sessions WHERE user_id = ? AND ended_at IS NULL", (user_id,)
    ).fetchall()
    for (sid,) in rows:
        if sid != keep:
            end_session(tx, sid, reason, revoke)


def expire_sessions(tx: Tx, ttl: int, revoke: Any) -> int:
    """End every session not refreshed for ``ttl`` seconds (the once-a-minute sweep)."""
    cutoff = _shift(tx.now(), -ttl)
    ids = [r[0] for r in tx.conn.execute(SQL_EXPIRED_SESSIONS, (cutoff,))]
    for sid in ids:
        end_session(tx, sid, "refresh_expiry", revoke)
    return len(ids)


def recently_ended(conn: sqlite3.Connection, since: str) -> list[str]:
    """Reader: ids of login sessions ended at or after ``since`` (RFC 3339), to refill Revocations at start (§2.2)."""
    return [r[0] for r in conn.execute(SQL_RECENTLY_ENDED, (since,))]


def get_user(conn: sqlite3.Connection, user_id: str) -> sqlite3.Row | None:
    """Reader or ``tx.conn``: the ``users`` row (USER_COLUMNS, deleted users included) for ``user_id``, or None."""
    return conn.execute(SQL_USER_BY_ID, (user_id,)).fetchone()  # type: ignore[no-any-return]


def get_user_by_name(conn: sqlite3.Connection, fold: str) -> sqlite3.Row | None:
    """Reader: the ``users`` row whose ``username_fold`` equals ``fold`` (the folded name, §1.2), or None."""
    return conn.execute(SQL_USER_BY_FOLD, (fold,)).fetchone()  # type: ignore[no-any-return]


def require_user(conn: sqlite3.Connection, user_id: str) -> sqlite3.Row:
    """Like ``get_user`` but raises ApiError 404 ``unknown_user`` when there is no such row."""
    row = get_user(conn, user_id)
    if row is None:
        raise ApiError("unknown_user")
    return row
