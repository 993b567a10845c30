"""The audit log: who changed what, written in the same transaction as the change (issue 13).

Every function that makes a moderation or configuration change calls :func:`record` with
its own ``tx`` before returning, so the entry commits (or rolls back) with the change and
can never disagree with it. The reason (``X-Audit-Log-Reason``) and client address come
from the request through ``tx.meta`` (storage/db.py ``REQUEST_META``).

Shape of an entry (AuditLog, as the Together client reads it)::

    {"id", "server_id" (null = instance level), "actor_id", "action", "target_type",
     "target_id", "changes": {field: {"old", "new"}} or details, "details" (same object),
     "reason", "ip_address", "created_at"}
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

import orjson

from ..errors import invalid
from .db import Tx

#: Actions this daemon records (the ``action`` filter accepts exactly these).
ACTIONS = frozenset({
    "server_update", "channel_create", "channel_update", "channel_delete",
    "role_create", "role_update", "role_delete", "override_create", "override_update", "override_delete",
    "member_role_add", "member_role_remove", "member_kick", "member_ban", "member_unban",
    "member_timeout", "member_timeout_remove", "message_delete", "invite_create", "invite_delete",
    "emoji_create", "emoji_update", "emoji_delete", "webhook_create", "webhook_update", "webhook_delete",
    "automod_update", "automod_word_add", "automod_word_remove",
    # instance level (server_id NULL): the admin area and the operator CLI
    "user_disable", "user_enable", "user_delete", "user_password_reset", "user_promote", "user_demote",
    "server_delete", "settings_update",
})

COLUMNS = "id, server_id, actor_id, action, target_type, target_id, changes, reason, ip_address, created_at"


def record(
    tx: Tx, server_id: str | None, actor_id: str | None, action: str, *,
    target_type: str | None = None, target_id: str | None = None,
    changes: dict[str, Any] | None = None, reason: str | None = None,
) -> str:
    """Write one audit entry inside ``tx``; returns its id.

    ``server_id`` None = instance level; ``action`` one of :data:`ACTIONS`; ``changes`` a
    JSON-able dict (use :func:`diff` for before/after). ``reason`` defaults to the request's
    ``X-Audit-Log-Reason``. Raises ValueError for an unknown action (a programming error).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    req_reason, ip = tx.meta
    entry_id, now = tx.new_id()
    tx.conn.execute(
        f"INSERT INTO audit_logs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entry_id, server_id, actor_id, action, target_type, target_id,
         orjson.dumps(changes or {}).decode(), reason if reason is not None else req_reason, ip, now),
    )
    return entry_id


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{field: {"old", "new"}}`` for the keys of ``after`` whose value differs from ``before``."""
    return {k: {"old": before.get(k), "new": v} for k, v in after.items() if before.get(k) != v}


def _shape(row: sqlite3.Row) -> dict[str, Any]:
    changes = orjson.loads(row["changes"])
    return {
        "id": row["id"], "server_id": row["server_id"], "actor_id": row["actor_id"],
        "action": row["action"], "target_type": row["target_type"], "target_id": row["target_id"],
        "changes": changes, "details": changes, "reason": row["reason"],
        "ip_address": row["ip_address"], "created_at": row["created_at"],
    }


def list_entries(
    conn: sqlite3.Connection, server_id: str | None, *, limit: int, before: str | None = None,
    action: str | None = None, user_id: str | None = None, target_type: str | None = None,
) -> list[dict[str, Any]]:
    """Reader: entries of ``server_id`` (None = instance level), newest first, at most ``limit``
    (1-100), older than id ``before``; filters ``action``, actor ``user_id``, ``target_type``.
    Raises 400 ``validation_failed`` for an unknown ``action``. The caller checks permissions.
    """
    if action is not None and action not in ACTIONS:
        raise invalid({"action": "is not a known audit action"})
    where = ["server_id IS ?"]
    args: list[Any] = [server_id]
    for col, val in (("action", action), ("actor_id", user_id), ("target_type", target_type)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    if before is not None:
        where.append("id < ?")
        args.append(before)
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM audit_logs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [_shape(r) for r in rows]


def _purge_job(tx: Tx, *, cutoff: str, batch: int) -> int:
    return purge_batch(tx, cutoff, batch)


def purge_batch(tx: Tx, cutoff: str, batch: int) -> int:
    """Write job: delete at most ``batch`` entries created before ``cutoff`` (RFC 3339); returns
    how many went. The daemon calls it repeatedly (one short transaction each) until it
    returns less than ``batch``, so a large backlog never holds the writer for long."""
    cur = tx.conn.execute(
        "DELETE FROM audit_logs WHERE id IN (SELECT id FROM audit_logs WHERE created_at < ?"
        " ORDER BY created_at LIMIT ?)", (cutoff, batch),
    )
    return cur.rowcount


def cutoff_for(retention_days: int, now_us: int) -> str:
    """The RFC 3339 time ``retention_days`` before ``now_us`` (microseconds since the epoch)."""
    from ..clock import format_us

    return format_us(now_us - retention_days * 86_400 * 1_000_000)


async def purge_loop(db: Any, retention_days: int | Any, batch: int, *, every: float = 3600.0) -> None:
    """Daemon task: every ``every`` seconds (first run at start-up) delete entries older than
    ``retention_days`` (an int, or a callable giving the value in force: the admin area may
    change it) in writer jobs of ``batch`` rows, yielding between them (issue 13: "purged in
    bounded batches"). A retention of 0 keeps everything."""
    import trio

    from ..clock import now_us

    while True:
        days = retention_days() if callable(retention_days) else retention_days
        if days > 0:
            job = functools.partial(_purge_job, cutoff=cutoff_for(days, now_us()), batch=batch)
            while await db.write(job) >= batch:
                await trio.sleep(0)
        await trio.sleep(every)
