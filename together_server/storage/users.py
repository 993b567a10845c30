"""Profiles, password changes and account deletion (API.md §3.2)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from .. import records
from ..errors import ApiError
from . import accounts, attachments, bots
from .db import Event, Tx
from .perms import member_ids
from .servers import remove_member

Revoke = Callable[[str, str], None]
PRESENCE_FIELDS = ("chosen_status", "custom_status", "activity")
PROFILE_FIELDS = ("avatar_url", "bio", "pronouns")

def co_member_ids(conn: Any, user_id: str) -> set[str]:
    """Every user sharing at least one server with ``user_id`` (and the user)."""
    rows = conn.execute(
        "SELECT DISTINCT m2.user_id FROM members m1 JOIN members m2 ON m2.server_id = m1.server_id"
        " JOIN servers s ON s.id = m1.server_id AND s.deleted_at IS NULL WHERE m1.user_id = ?",
        (user_id,),
    )
    return {r[0] for r in rows} | {user_id}


def update_profile(
    tx: Tx, user_id: str, changes: dict[str, Any], online: Callable[[str], bool]
) -> dict[str, Any]:
    """PATCH /users/@me; emits PRESENCE_UPDATE / USER_UPDATE when what others see changes."""
    before = accounts.require_user(tx.conn, user_id)
    if changes:
        cols = ", ".join(f"{k} = ?" for k in changes)
        tx.conn.execute(f"UPDATE users SET {cols} WHERE id = ?", (*changes.values(), user_id))
    after = accounts.require_user(tx.conn, user_id)
    is_online = online(user_id)
    seen_before = records.public_user(before, online=is_online)
    seen_after = records.public_user(after, online=is_online)
    audience = None
    if any(seen_before[k] != seen_after[k] for k in ("status", "custom_status", "activity")):
        audience = co_member_ids(tx.conn, user_id)
        tx.emit(Event("PRESENCE_UPDATE", {
            "user_id": user_id, "status": seen_after["status"],
            "custom_status": after["custom_status"], "activity": after["activity"],
        }, audience))
    if any(before[k] != after[k] for k in PROFILE_FIELDS):
        audience = audience or co_member_ids(tx.conn, user_id)
        tx.emit(Event("USER_UPDATE", seen_after, audience))
    return records.user(after, own=True, online=is_online)


def change_password(tx: Tx, user_id: str, keep_sid: str | None, new_hash: str, revoke: Revoke) -> None:
    """Write job: store ``new_hash`` (argon2id PHC string) and end every login session of ``user_id``
    except ``keep_sid`` (reason "password_change"; ``revoke`` runs after commit). The current
    password is checked by the caller. ``POST /users/@me/password``, API.md §3.2. Emits no event.
    """
    tx.conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, user_id))
    accounts.end_other_sessions(tx, user_id, keep_sid, "password_change", revoke)


def delete_account(tx: Tx, user_id: str, revoke: Revoke) -> None:
    """Write job of ``DELETE /users/@me`` (§3.2). Raises 400 ``owner_cannot_leave`` while the user owns
    a server. In this order:
    1. ``servers.remove_member`` for each server (MEMBER_LEAVE to its members before the removal,
       then the override deletions and voice leaves that removal sends);
    2. ``bots.revoke_all_of``: the bots the user made are revoked;
    3. ``accounts.end_other_sessions``: every login session ends (revoked after commit);
    4. the row is scrubbed (a ``deleted-user-…`` name, no e-mail, no password).
    """
    owned = tx.conn.execute(
        "SELECT 1 FROM servers WHERE owner_id = ? AND deleted_at IS NULL LIMIT 1", (user_id,)
    ).fetchone()
    if owned is not None:
        raise ApiError("owner_cannot_leave", "Delete the servers you own first")
    server_ids = [r[0] for r in tx.conn.execute(
        "SELECT m.server_id FROM members m JOIN servers s ON s.id = m.server_id"
        " WHERE m.user_id = ? AND s.deleted_at IS NULL", (user_id,))]
    for sid in server_ids:
        remove_member(tx, sid, user_id, Event(
            "MEMBER_LEAVE", {"server_id": sid, "user_id": user_id}, member_ids(tx.conn, sid)))
    tx.conn.execute("DELETE FROM members WHERE user_id = ?", (user_id,))
    bots.revoke_all_of(tx, user_id, revoke)
    accounts.end_other_sessions(tx, user_id, None, "account_deleted", revoke)
    attachments.release_for_user(tx, user_id)  # every file the account uploaded (issue 10)
    name = f"deleted-user-{secrets.token_hex(4)}"
    tx.conn.execute(
        "UPDATE users SET username = ?, username_fold = ?, email = NULL, email_fold = NULL,"
        " password_hash = NULL, avatar_url = NULL, bio = NULL, pronouns = NULL, custom_status = NULL,"
        " activity = NULL, deleted_at = ? WHERE id = ?",
        (name, name, tx.now(), user_id),
    )
