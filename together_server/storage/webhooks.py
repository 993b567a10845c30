"""Webhooks (issue 13): incoming (post into a channel with a secret token) and outgoing
(server events POSTed to a URL, signed with HMAC-SHA256, retried with back-off).

* Incoming: ``create`` with ``channel_id`` makes a bot user (named as the webhook) that
  authors its messages and returns the secret token once; only its SHA-256 is stored.
  ``execute`` posts as that user after checking the token (404 ``unknown_webhook`` for a
  wrong id or token, a deleted webhook or channel). Deleting the webhook revokes it.
* Outgoing: ``create`` with ``url`` + ``event_types`` returns the signing secret once (it is
  kept to sign). The owning functions call :func:`enqueue` inside their transaction
  (``messages.store_message``/``edit``/``remove``, ``servers.add_member``/``remove_member``):
  a ``webhook_deliveries`` row per subscribed webhook, committed with the change; the
  deliverer (together_server/webhook_delivery.py) picks due rows up within a poll interval.
  Pending deliveries survive a restart.

Event types: ``message.created``, ``message.updated``, ``message.deleted``,
``member.joined``, ``member.left`` (and ``ping`` for the test route).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from typing import Any

import orjson

from .. import permissions as p
from ..errors import ApiError
from . import audit
from .access import need_member, need_server_bit, viewers_tx
from .db import Event, Tx

EVENT_TYPES = ("message.created", "message.updated", "message.deleted", "member.joined", "member.left")
COLUMNS = (
    "id, server_id, kind, name, channel_id, user_id, url, event_types, enabled, delivery_failures,"
    " last_used_at, created_by, created_at, updated_at"
)
DELIVERY_COLUMNS = "id, webhook_id, event, status, attempts, response_status, error, next_at, created_at, updated_at"
MAX_PER_SERVER = 50

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shape(row: sqlite3.Row) -> dict[str, Any]:
    """Webhook (the Together client's WebhookDto plus ``kind``, ``channel_id``, ``user_id``)."""
    return {
        "id": row["id"], "server_id": row["server_id"], "kind": row["kind"], "name": row["name"],
        "channel_id": row["channel_id"], "user_id": row["user_id"], "url": row["url"],
        "event_types": orjson.loads(row["event_types"]), "enabled": bool(row["enabled"]),
        "delivery_failures": row["delivery_failures"], "last_used_at": row["last_used_at"],
        "created_by": row["created_by"], "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def _need_manage(conn: sqlite3.Connection, server_id: str, user_id: str) -> None:
    need_server_bit(need_member(conn, server_id, user_id), p.Permission.MANAGE_WEBHOOKS)


def _row(conn: sqlite3.Connection, server_id: str, webhook_id: str) -> sqlite3.Row:
    row = conn.execute(f"SELECT {COLUMNS} FROM webhooks WHERE id = ? AND server_id = ?",
                       (webhook_id, server_id)).fetchone()
    if row is None:
        raise ApiError("unknown_webhook")
    return row


def _check_channel(conn: sqlite3.Connection, server_id: str, channel_id: str) -> None:
    row = conn.execute("SELECT type FROM channels WHERE id = ? AND server_id = ?", (channel_id, server_id)).fetchone()
    if row is None:
        raise ApiError("unknown_channel")
    if row["type"] != "text":
        raise ApiError("validation_failed", errors={"channel_id": "must be a text channel"})


def create(tx: Tx, server_id: str, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Write job: a webhook from validated ``fields``: ``name`` and either ``channel_id``
    (incoming) or ``url`` + ``event_types`` (outgoing). Returns ``{"webhook", "token"|None,
    "secret"|None, "url"}`` (incoming: ``url`` is the path to POST to, with the token).
    Needs MANAGE_WEBHOOKS; 404 ``unknown_server``/``unknown_channel``, 403
    ``missing_permission``, 400 ``limit_reached`` (50 per server). Audited."""
    _need_manage(tx.conn, server_id, user_id)
    (count,) = tx.conn.execute("SELECT count(*) FROM webhooks WHERE server_id = ?", (server_id,)).fetchone()
    if count >= MAX_PER_SERVER:
        raise ApiError("limit_reached", f"A server holds at most {MAX_PER_SERVER} webhooks")
    wid, now = tx.new_id()
    token = secret = None
    if fields.get("channel_id"):
        _check_channel(tx.conn, server_id, fields["channel_id"])
        token = secrets.token_urlsafe(32)
        bot_id, _ = tx.new_id()
        tx.conn.execute(
            "INSERT INTO users (id, username, username_fold, is_bot, created_at) VALUES (?, ?, ?, 1, ?)",
            (bot_id, fields["name"], f"webhook:{wid}", now))
        tx.conn.execute(
            "INSERT INTO webhooks (id, server_id, kind, name, channel_id, user_id, token_hash, created_by,"
            " created_at, updated_at) VALUES (?, ?, 'incoming', ?, ?, ?, ?, ?, ?, ?)",
            (wid, server_id, fields["name"], fields["channel_id"], bot_id, token_hash(token), user_id, now, now))
    else:
        secret = secrets.token_hex(32)
        tx.conn.execute(
            "INSERT INTO webhooks (id, server_id, kind, name, url, secret, event_types, created_by, created_at,"
            " updated_at) VALUES (?, ?, 'outgoing', ?, ?, ?, ?, ?, ?, ?)",
            (wid, server_id, fields["name"], fields["url"], secret, orjson.dumps(fields["event_types"]).decode(),
             user_id, now, now))
    data = shape(_row(tx.conn, server_id, wid))
    audit.record(tx, server_id, user_id, "webhook_create", target_type="webhook", target_id=wid,
                 changes=audit.diff({}, {k: data[k] for k in ("name", "kind", "channel_id", "url", "event_types")}))
    tx.cache.clear()
    return {"webhook": data, "token": token, "secret": secret,
            "url": f"/webhooks/{wid}/{token}" if token else None}


def list_webhooks(conn: sqlite3.Connection, server_id: str, user_id: str) -> dict[str, Any]:
    """Reader: ``{"webhooks": [Webhook]}`` oldest first. Needs MANAGE_WEBHOOKS."""
    _need_manage(conn, server_id, user_id)
    rows = conn.execute(f"SELECT {COLUMNS} FROM webhooks WHERE server_id = ? ORDER BY id", (server_id,))
    return {"webhooks": [shape(r) for r in rows]}


def get_webhook(conn: sqlite3.Connection, server_id: str, webhook_id: str, user_id: str) -> dict[str, Any]:
    """Reader: one Webhook. Needs MANAGE_WEBHOOKS; 404 ``unknown_webhook``."""
    _need_manage(conn, server_id, user_id)
    return shape(_row(conn, server_id, webhook_id))


def update(tx: Tx, server_id: str, webhook_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Write job: change ``name``, ``enabled``, and ``channel_id`` (incoming) or ``url`` /
    ``event_types`` (outgoing; 400 for the other kind's fields). Audited."""
    _need_manage(tx.conn, server_id, user_id)
    old = shape(_row(tx.conn, server_id, webhook_id))
    wrong = {"incoming": ("url", "event_types"), "outgoing": ("channel_id",)}[old["kind"]]
    bad = {k: f"not a field of an {old['kind']} webhook" for k in wrong if k in changes}
    if bad:
        raise ApiError("validation_failed", errors=bad)
    if "channel_id" in changes:
        _check_channel(tx.conn, server_id, changes["channel_id"])
    changed = audit.diff(old, changes)
    if changed:
        sets = {k: (orjson.dumps(v).decode() if k == "event_types" else int(v) if k == "enabled" else v)
                for k, v in changes.items()}
        now = tx.now()
        cols = ", ".join(f"{k} = ?" for k in sets)
        tx.conn.execute(f"UPDATE webhooks SET {cols}, updated_at = ? WHERE id = ?", (*sets.values(), now, webhook_id))
        if "name" in changes and old["user_id"]:
            tx.conn.execute("UPDATE users SET username = ? WHERE id = ?", (changes["name"], old["user_id"]))
        audit.record(tx, server_id, user_id, "webhook_update", target_type="webhook", target_id=webhook_id,
                     changes=changed)
        tx.cache.clear()
    return shape(_row(tx.conn, server_id, webhook_id))


def delete(tx: Tx, server_id: str, webhook_id: str, user_id: str) -> None:
    """Write job: delete (revoke) the webhook and its delivery log; its messages stay,
    authored by its user. Audited."""
    _need_manage(tx.conn, server_id, user_id)
    old = _row(tx.conn, server_id, webhook_id)
    tx.conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
    tx.conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
    audit.record(tx, server_id, user_id, "webhook_delete", target_type="webhook", target_id=webhook_id,
                 changes={"name": {"old": old["name"], "new": None}, "kind": {"old": old["kind"], "new": None}})
    tx.cache.clear()


# -- incoming ----------------------------------------------------------------------


def incoming(conn: sqlite3.Connection, webhook_id: str, token: str) -> sqlite3.Row:
    """The enabled incoming webhook ``webhook_id`` if ``token`` is its token; else 404
    ``unknown_webhook`` (the same answer for a wrong id and a wrong token)."""
    row = conn.execute(
        "SELECT w.id, w.server_id, w.channel_id, w.user_id, w.token_hash, w.enabled FROM webhooks w"
        " JOIN servers s ON s.id = w.server_id AND s.deleted_at IS NULL"
        " WHERE w.id = ? AND w.kind = 'incoming'", (webhook_id,)).fetchone()
    if row is None or not row["enabled"] or not secrets.compare_digest(row["token_hash"], token_hash(token)):
        raise ApiError("unknown_webhook")
    return row


def execute(tx: Tx, webhook_id: str, token: str, content: str) -> dict[str, Any]:
    """Write job: post ``content`` into the webhook's channel as its user; returns the
    Message. 404 ``unknown_webhook``. Mentions resolve; ``@everyone`` does not ping."""
    from . import messages

    hook = incoming(tx.conn, webhook_id, token)
    mid, now = tx.new_id()
    tx.conn.execute("UPDATE webhooks SET last_used_at = ? WHERE id = ?", (now, webhook_id))
    _row, data = messages.store_message(tx, mid, now, hook["server_id"], hook["channel_id"], hook["user_id"],
                                        content, None, False)
    tx.emit(Event("MESSAGE_CREATE", data, viewers_tx(tx, hook["channel_id"])))
    return data


# -- outgoing ----------------------------------------------------------------------


def _subscribers(tx: Tx, server_id: str) -> list[tuple[str, frozenset[str]]]:
    key = ("webhooks", server_id)
    cached = tx.cache.get(key)
    if cached is None:
        rows = tx.conn.execute(
            "SELECT id, event_types FROM webhooks WHERE server_id = ? AND kind = 'outgoing' AND enabled = 1",
            (server_id,)).fetchall()
        cached = tx.cache.put(key, [(r[0], frozenset(orjson.loads(r[1]))) for r in rows])
    return cached  # type: ignore[no-any-return]


def enqueue(tx: Tx, server_id: str, event: str, data: Any, *, only: str | None = None) -> list[str]:
    """Write step: queue ``event`` with ``data`` for each enabled outgoing webhook of the
    server subscribed to it (``only``: that webhook, whatever it subscribes to); returns the
    delivery ids. Costs one cache lookup when the server has none."""
    hooks = _subscribers(tx, server_id)
    if not hooks and only is None:
        return []
    targets = [only] if only is not None else [wid for wid, events in hooks if event in events]
    if not targets:
        return []
    ids = []
    for wid in targets:
        did, now = tx.new_id()
        payload = orjson.dumps({"event": event, "server_id": server_id, "delivery_id": did,
                                "timestamp": now, "data": data}).decode()
        tx.conn.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, next_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (did, wid, event, payload, now, now, now))
        ids.append(did)
    return ids


def test_delivery(tx: Tx, server_id: str, webhook_id: str, user_id: str) -> dict[str, Any]:
    """Write job: queue a ``ping`` delivery to outgoing webhook ``webhook_id``; returns the
    WebhookDelivery (pending). 400 for an incoming webhook."""
    _need_manage(tx.conn, server_id, user_id)
    row = _row(tx.conn, server_id, webhook_id)
    if row["kind"] != "outgoing":
        raise ApiError("validation_failed", errors={"webhook_id": "only outgoing webhooks deliver"})
    (did,) = enqueue(tx, server_id, "ping", {"webhook_id": webhook_id, "name": row["name"]}, only=webhook_id)
    return delivery_shape(tx.conn.execute(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?",
                                          (did,)).fetchone())


def delivery_shape(row: sqlite3.Row) -> dict[str, Any]:
    """WebhookDelivery: id, webhook_id, event, status (pending|success|failed), attempts,
    response_status, error, next_at (next attempt while pending), created_at, updated_at."""
    return {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row


def list_deliveries(conn: sqlite3.Connection, server_id: str, webhook_id: str, user_id: str,
                    limit: int) -> list[dict[str, Any]]:
    """Reader: the webhook's delivery log, newest first (``limit`` 1-100). Needs MANAGE_WEBHOOKS."""
    _need_manage(conn, server_id, user_id)
    _row(conn, server_id, webhook_id)
    rows = conn.execute(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?"
                        " ORDER BY id DESC LIMIT ?", (webhook_id, limit))
    return [delivery_shape(r) for r in rows]


def due(conn: sqlite3.Connection, now: str, limit: int) -> list[dict[str, Any]]:
    """Reader (deliverer): pending deliveries due by ``now``, oldest first, with their target."""
    rows = conn.execute(
        "SELECT d.id, d.webhook_id, d.event, d.payload, d.attempts, w.url, w.secret FROM webhook_deliveries d"
        " JOIN webhooks w ON w.id = d.webhook_id WHERE d.status = 'pending' AND d.next_at <= ?"
        " ORDER BY d.next_at LIMIT ?", (now, limit)).fetchall()
    return [dict(r) for r in rows]


def next_due(conn: sqlite3.Connection) -> str | None:
    """Reader (deliverer): when the earliest pending delivery is due, or None."""
    row = conn.execute("SELECT min(next_at) FROM webhook_deliveries WHERE status = 'pending'").fetchone()
    return row[0] if row else None


def record_attempt(tx: Tx, delivery_id: str, *, ok: bool, status: int | None, error: str | None,
                   next_at: str | None) -> None:
    """Write job (deliverer): one attempt's outcome. ``next_at`` None with ``ok`` False = gave
    up (status failed, the webhook's ``delivery_failures`` + 1); ``ok`` sets last_used_at."""
    now = tx.now()
    new_status = "success" if ok else ("pending" if next_at else "failed")
    tx.conn.execute(
        "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, response_status = ?, error = ?,"
        " next_at = coalesce(?, next_at), updated_at = ? WHERE id = ?",
        (new_status, status, error, next_at, now, delivery_id))
    if ok:
        tx.conn.execute("UPDATE webhooks SET last_used_at = ? WHERE id = (SELECT webhook_id FROM webhook_deliveries"
                        " WHERE id = ?)", (now, delivery_id))
    elif next_at is None:
        tx.conn.execute("UPDATE webhooks SET delivery_failures = delivery_failures + 1 WHERE id ="
                        " (SELECT webhook_id FROM webhook_deliveries WHERE id = ?)", (delivery_id,))
