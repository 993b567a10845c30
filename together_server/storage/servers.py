"""Servers, membership and invites (API.md §3.3, §4.2 first half, §4.3).

Write functions take a :class:`~.db.Tx`, re-check everything inside the transaction and
emit their gateway events with audiences taken inside it (§6.7: before the change for
removals, after it for additions).
"""

from __future__ import annotations

import secrets
import sqlite3
import string
from collections.abc import Callable
from typing import Any

from .. import permissions as p
from .. import records
from ..errors import ApiError
from . import attachments, audit, overrides, perms, readstate, templates, voice, webhooks
from .access import need_member, need_server_bit
from .db import Event, Tx
from .perms import member_ids

Online = Callable[[str], bool]

SERVER_COLUMNS = (
    "id, name, owner_id, icon_url, is_public, require_invite, member_count, created_at, updated_at"
)
SQL_SERVER = f"SELECT {SERVER_COLUMNS} FROM servers WHERE id = ? AND deleted_at IS NULL"
SQL_MY_SERVERS = (
    f"SELECT {', '.join('s.' + c.strip() for c in SERVER_COLUMNS.split(','))}"
    " FROM servers s JOIN members m ON m.server_id = s.id"
    " WHERE m.user_id = ? AND s.deleted_at IS NULL ORDER BY s.created_at, s.id"
)
SQL_BROWSE = (
    f"SELECT {SERVER_COLUMNS} FROM servers s WHERE is_public = 1 AND deleted_at IS NULL"
    " ORDER BY member_count DESC, created_at DESC, id DESC"
)
SQL_MEMBERS = (
    "SELECT m.user_id, m.joined_at, u.username, u.avatar_url, u.chosen_status, u.custom_status,"
    " u.is_bot FROM members m JOIN users u ON u.id = m.user_id WHERE m.server_id = ?"
)
SQL_MEMBER_ROLES = (
    "SELECT mr.user_id, r.id, r.name, r.color, r.position, r.created_at FROM member_roles mr"
    " JOIN roles r ON r.id = mr.role_id WHERE mr.server_id = ?"
    " ORDER BY r.position DESC, r.created_at ASC, r.id ASC"
)
SQL_TIMEOUTS = "SELECT user_id, expires_at FROM timeouts WHERE server_id = ? AND expires_at > ?"
INVITE_COLUMNS = "id, server_id, code, created_by, max_uses, uses, expires_at, created_at"
SQL_INVITE_BY_CODE = (
    f"SELECT i.{INVITE_COLUMNS.replace(', ', ', i.')} FROM invites i"
    " JOIN servers s ON s.id = i.server_id AND s.deleted_at IS NULL WHERE i.code = ?"
)
CODE_ALPHABET = string.ascii_letters + string.digits


# -- reads ---------------------------------------------------------------------------

def get_server(conn: sqlite3.Connection, server_id: str) -> sqlite3.Row | None:
    """Reader or ``tx.conn``: the ``servers`` row (SERVER_COLUMNS) of ``server_id``, or None if missing or tombstoned."""
    return conn.execute(SQL_SERVER, (server_id,)).fetchone()  # type: ignore[no-any-return]


def holders_of(conn: sqlite3.Connection, server_id: str, bit: int) -> set[str]:
    """Members whose server-level permissions hold ``bit`` (invite events, §6.7)."""
    return {uid for uid, base in perms.server_perms_by_member(conn, server_id).items() if p.has(base, bit)}


def my_servers(conn: sqlite3.Connection, user_id: str) -> list[dict[str, Any]]:
    """Reader: [Server] (§1.8) ``user_id`` is a member of, oldest ``created_at`` first (``GET /servers``, §3.3)."""
    return [records.server(r) for r in conn.execute(SQL_MY_SERVERS, (user_id,))]


def browse(conn: sqlite3.Connection, user_id: str) -> list[dict[str, Any]]:
    """Reader: every public [Server], the caller's own included (as the Together reference lists
    them; its client marks the joined ones), most members first, then newest (``GET
    /servers/browse``, §4.2 round 2, issue 12). ``user_id`` is the caller (any account)."""
    return [records.server(r) for r in conn.execute(SQL_BROWSE)]


def server_for_member(conn: sqlite3.Connection, server_id: str, user_id: str) -> dict[str, Any]:
    """Reader: Server (§1.8) ``server_id``; 404 ``unknown_server`` unless ``user_id`` is a member (``GET /servers/:id``, §3.3)."""
    need_member(conn, server_id, user_id)
    row = get_server(conn, server_id)
    assert row is not None
    return records.server(row)


def list_members(
    conn: sqlite3.Connection, server_id: str, now: str, online: Online, only: str | None = None
) -> list[dict[str, Any]]:
    """Members, earliest ``joined_at`` first (ties by user_id); ``only`` = one user."""
    roles: dict[str, list[sqlite3.Row]] = {}
    for r in conn.execute(SQL_MEMBER_ROLES, (server_id,)):
        roles.setdefault(r["user_id"], []).append(r)
    timeouts = dict(conn.execute(SQL_TIMEOUTS, (server_id, now)).fetchall())
    rows = conn.execute(SQL_MEMBERS, (server_id,)).fetchall()
    rows.sort(key=lambda r: (r["joined_at"], r["user_id"]))
    return [
        records.member(r, roles.get(r["user_id"], ()), online=online(r["user_id"]),
                       timed_out_until=timeouts.get(r["user_id"]))
        for r in rows if only is None or r["user_id"] == only
    ]


def members_for_member(
    conn: sqlite3.Connection, server_id: str, user_id: str, now: str, online: Online
) -> list[dict[str, Any]]:
    """Reader: [Member] (§1.8) of ``server_id``, earliest ``joined_at`` first; ``now`` (RFC 3339) decides
    running timeouts, ``online(user_id)`` the status. 404 ``unknown_server`` for non-members
    (``GET /servers/:id/members``, §4.2).
    """
    need_member(conn, server_id, user_id)
    return list_members(conn, server_id, now, online)


# -- server writes -------------------------------------------------------------------

def create_server(tx: Tx, owner_id: str, fields: dict[str, Any], template_id: str | None = None) -> dict[str, Any]:
    """Write job: create a server from validated ``fields`` (name, icon_url?, is_public?, require_invite?)
    with ``owner_id`` as owner and first member; returns the Server (§3.3). With ``template_id`` (a
    key of ``templates.BY_ID``, checked by the caller) its roles and channels are created in the same
    transaction. Emits SERVER_CREATE to the owner, then the template's ROLE_CREATE / CHANNEL_CREATE.
    """
    sid, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO servers (id, name, owner_id, icon_url, is_public, require_invite,"
        " member_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
        (sid, fields["name"], owner_id, fields.get("icon_url"), int(bool(fields.get("is_public"))),
         int(bool(fields.get("require_invite"))), now, now),
    )
    tx.conn.execute("INSERT INTO members (server_id, user_id, joined_at) VALUES (?, ?, ?)", (sid, owner_id, now))
    row = get_server(tx.conn, sid)
    assert row is not None
    data = records.server(row)
    tx.emit(Event("SERVER_CREATE", data, {owner_id}))
    if template_id is not None:
        templates.apply(tx, sid, owner_id, template_id)
    return data


def update_server(tx: Tx, server_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Write job: apply ``changes`` (name/icon_url/is_public/require_invite), bump ``updated_at``; returns
    the Server (§3.3). Needs MANAGE_SERVER (owner passes). Raises 404 ``unknown_server``, 403
    ``missing_permission``. Emits SERVER_UPDATE to every member.
    """
    ctx = need_member(tx.conn, server_id, user_id)
    need_server_bit(ctx, p.Permission.MANAGE_SERVER)
    sets = {k: (int(v) if isinstance(v, bool) else v) for k, v in changes.items()}
    old = get_server(tx.conn, server_id)
    changed = audit.diff(dict(old) if old is not None else {}, sets)
    if changed:
        audit.record(tx, server_id, user_id, "server_update", target_type="server", target_id=server_id,
                     changes=changed)
    now = tx.now()
    if sets:
        cols = ", ".join(f"{k} = ?" for k in sets)
        tx.conn.execute(f"UPDATE servers SET {cols}, updated_at = ? WHERE id = ?", (*sets.values(), now, server_id))
    row = get_server(tx.conn, server_id)
    assert row is not None
    data = records.server(row)
    tx.emit(Event("SERVER_UPDATE", data, member_ids(tx.conn, server_id)))
    return data


def delete_server(tx: Tx, server_id: str, user_id: str) -> None:
    """Write job: tombstone the server (owner only); a background purge reclaims its rows (§3.3).

    Raises 404 ``unknown_server`` (not a member), 403 ``not_owner``. Everything that happens,
    in this order, audiences taken before the tombstone (every member):
    1. each voice state in the server ends: ``VOICE_STATE_UPDATE`` leave per state (§4.6),
       so clients still know the server when they read it;
    2. its invites are deleted (no event: the server is going);
    3. ``SERVER_DELETE {id}`` to every member.
    Messages, channels, roles and memberships go later with the purge (``purge_deleted_servers``).
    """
    ctx = need_member(tx.conn, server_id, user_id)
    if not ctx.is_owner:
        raise ApiError("not_owner")
    tombstone_server(tx, server_id)


def tombstone_server(tx: Tx, server_id: str) -> None:
    """Write step of ``delete_server`` after its permission check (also the admin area's
    delete, issue 13): steps 1-3 above."""
    audience = member_ids(tx.conn, server_id)
    voice.end_for_server(tx, server_id, audience)
    tx.conn.execute("UPDATE servers SET deleted_at = ? WHERE id = ?", (tx.now(), server_id))
    tx.conn.execute("DELETE FROM invites WHERE server_id = ?", (server_id,))
    attachments.release_for_server(tx, server_id)  # files leave every answer now (issue 10)
    tx.emit(Event("SERVER_DELETE", {"id": server_id}, audience))


def purge_deleted_servers(tx: Tx, batch: int = 2000) -> int:
    """Delete up to ``batch`` message rows of tombstoned servers, then the servers
    themselves once empty. Returns how many rows went (0 = nothing left)."""
    row = tx.conn.execute("SELECT id FROM servers WHERE deleted_at IS NOT NULL LIMIT 1").fetchone()
    if row is None:
        return 0
    sid = row[0]
    cur = tx.conn.execute(
        "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE server_id = ? LIMIT ?)", (sid, batch)
    )
    if cur.rowcount:
        return cur.rowcount
    tx.conn.execute(
        "DELETE FROM read_states WHERE channel_id IN (SELECT id FROM channels WHERE server_id = ?)", (sid,)
    )
    tx.conn.execute("DELETE FROM servers WHERE id = ?", (sid,))  # cascades to the rest
    return 1


# -- membership ----------------------------------------------------------------------

def _is_banned(conn: sqlite3.Connection, server_id: str, user_id: str) -> bool:
    return conn.execute("SELECT 1 FROM bans WHERE server_id = ? AND user_id = ?", (server_id, user_id)).fetchone() is not None


def add_member(tx: Tx, server_id: str, user_id: str, online: Online) -> None:
    """Insert the membership, bump member_count, emit SERVER_CREATE then MEMBER_JOIN."""
    _, now = tx.new_id()
    tx.conn.execute("INSERT INTO members (server_id, user_id, joined_at) VALUES (?, ?, ?)", (server_id, user_id, now))
    tx.conn.execute("UPDATE servers SET member_count = member_count + 1 WHERE id = ?", (server_id,))
    row = get_server(tx.conn, server_id)
    assert row is not None
    tx.emit(Event("SERVER_CREATE", records.server(row), {user_id}))
    member = list_members(tx.conn, server_id, now, online, only=user_id)[0]
    tx.emit(Event("MEMBER_JOIN", {**member, "server_id": server_id}, member_ids(tx.conn, server_id)))
    webhooks.enqueue(tx, server_id, "member.joined", {"server_id": server_id, "user_id": user_id})


def join(tx: Tx, server_id: str, user_id: str, online: Online) -> None:
    """POST /servers/:id/join, checks in the §1.6 order."""
    row = get_server(tx.conn, server_id)
    is_member = row is not None and perms.member_context(tx.conn, server_id, user_id) is not None
    if row is None or (not row["is_public"] and not is_member):
        raise ApiError("unknown_server")
    if is_member:
        raise ApiError("already_member")
    if _is_banned(tx.conn, server_id, user_id):
        raise ApiError("banned")
    if row["require_invite"]:
        raise ApiError("invite_required")
    add_member(tx, server_id, user_id, online)


def remove_member(tx: Tx, server_id: str, user_id: str, event: Event | None) -> None:
    """Write step: remove a membership with every side effect of §4.2 (leave, kick, ban, account delete).

    In this order:
    1. ``event`` (MEMBER_LEAVE / MEMBER_KICK / MEMBER_BAN), audience taken by the caller
       before the removal (the removed user included, §6.7);
    2. the member's roles and the membership go, ``member_count`` drops;
    3. ``readstate.drop_member``: their read states in the server's channels (no event);
    4. ``overrides.drop_member``: each user override of theirs goes, ``CHANNEL_OVERRIDE_DELETE``
       to that channel's remaining viewers;
    5. ``voice.end_for_member``: their voice state there ends, ``VOICE_STATE_UPDATE`` leave to
       the channel's remaining viewers (§4.6);
    6. ``webhooks.enqueue``: ``member.left`` to the server's outgoing webhooks (issue 13).
    """
    if event is not None:
        tx.emit(event)
    tx.conn.execute("DELETE FROM member_roles WHERE server_id = ? AND user_id = ?", (server_id, user_id))
    tx.conn.execute("DELETE FROM members WHERE server_id = ? AND user_id = ?", (server_id, user_id))
    tx.conn.execute("UPDATE servers SET member_count = member_count - 1 WHERE id = ?", (server_id,))
    readstate.drop_member(tx, server_id, user_id)
    overrides.drop_member(tx, server_id, user_id)
    voice.end_for_member(tx, server_id, user_id)
    webhooks.enqueue(tx, server_id, "member.left", {"server_id": server_id, "user_id": user_id})


def leave(tx: Tx, server_id: str, user_id: str) -> None:
    """Write job: ``user_id`` leaves ``server_id`` with every side effect of ``remove_member`` (§4.2).

    Raises 404 ``unknown_server`` (not a member), 400 ``owner_cannot_leave``. Emits MEMBER_LEAVE
    ``{server_id, user_id}`` to the members before the removal.
    """
    ctx = need_member(tx.conn, server_id, user_id)
    if ctx.is_owner:
        raise ApiError("owner_cannot_leave")
    audience = member_ids(tx.conn, server_id)
    remove_member(tx, server_id, user_id, Event("MEMBER_LEAVE", {"server_id": server_id, "user_id": user_id}, audience))


# -- invites -------------------------------------------------------------------------

def live_invite(conn: sqlite3.Connection, code: str, now: str) -> sqlite3.Row | None:
    """The invite with ``code`` if it is neither expired nor used up."""
    row = conn.execute(SQL_INVITE_BY_CODE, (code,)).fetchone()
    if row is None or not _usable(row, now):
        return None
    return row  # type: ignore[no-any-return]


def _usable(row: sqlite3.Row, now: str) -> bool:
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return False
    return row["max_uses"] is None or row["uses"] < row["max_uses"]


def use_invite_and_join(tx: Tx, invite: sqlite3.Row, user_id: str, online: Online) -> None:
    """Write job step: count one use of ``invite`` (an invites row) and add ``user_id`` as member via
    ``add_member`` (SERVER_CREATE to the joiner, then MEMBER_JOIN). No checks here: callers
    (``accept_invite``, registration with an invite) have done them (§4.3, §3.1).
    """
    tx.conn.execute("UPDATE invites SET uses = uses + 1 WHERE id = ?", (invite["id"],))
    add_member(tx, invite["server_id"], user_id, online)


def create_invite(tx: Tx, server_id: str, user_id: str, max_uses: int | None, hours: int | None) -> dict[str, Any]:
    """Write job: new Invite (§1.8) with an 8-char ``[A-Za-z0-9]`` code; ``max_uses`` None = unlimited,
    ``hours`` (1–720) or None = never expires. Needs CREATE_INVITES. Raises 404 ``unknown_server``,
    403 ``missing_permission``. Emits INVITE_CREATE to holders of CREATE_INVITES (§4.3).
    """
    ctx = need_member(tx.conn, server_id, user_id)
    need_server_bit(ctx, p.Permission.CREATE_INVITES)
    iid, now = tx.new_id()
    expires = None
    if hours is not None:
        from ..clock import format_us, parse_ts
        expires = format_us(int(parse_ts(now).timestamp() * 1_000_000) + hours * 3_600_000_000)
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if tx.conn.execute("SELECT 1 FROM invites WHERE code = ?", (code,)).fetchone() is None:
            break
    tx.conn.execute(
        "INSERT INTO invites (id, server_id, code, created_by, max_uses, uses, expires_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, 0, ?, ?)", (iid, server_id, code, user_id, max_uses, expires, now),
    )
    row = tx.conn.execute(f"SELECT {INVITE_COLUMNS} FROM invites WHERE id = ?", (iid,)).fetchone()
    data = records.invite(row)
    audit.record(tx, server_id, user_id, "invite_create", target_type="invite", target_id=iid,
                 changes={"code": {"old": None, "new": code}, "max_uses": {"old": None, "new": max_uses},
                          "expires_at": {"old": None, "new": expires}})
    tx.emit(Event("INVITE_CREATE", data, holders_of(tx.conn, server_id, p.Permission.CREATE_INVITES)))
    return data


def list_invites(conn: sqlite3.Connection, server_id: str, user_id: str) -> list[dict[str, Any]]:
    """Reader: [Invite] of ``server_id``, newest first, expired and used-up included. Needs CREATE_INVITES; raises 404 ``unknown_server``, 403 ``missing_permission`` (§4.3)."""
    ctx = need_member(conn, server_id, user_id)
    need_server_bit(ctx, p.Permission.CREATE_INVITES)
    rows = conn.execute(
        f"SELECT {INVITE_COLUMNS} FROM invites WHERE server_id = ? ORDER BY created_at DESC, id DESC", (server_id,)
    )
    return [records.invite(r) for r in rows]


def delete_invite(tx: Tx, server_id: str, invite_id: str, user_id: str) -> None:
    """Write job: delete invite ``invite_id`` of ``server_id``: allowed with MANAGE_SERVER, or CREATE_INVITES
    for one's own invite (§4.3). Raises 404 ``unknown_server``/``unknown_invite``, 403
    ``missing_permission``. Emits INVITE_DELETE ``{server_id, invite_id}`` to holders of CREATE_INVITES.
    """
    ctx = need_member(tx.conn, server_id, user_id)
    base = perms.server_perms(ctx)
    row = tx.conn.execute(
        "SELECT created_by, code FROM invites WHERE id = ? AND server_id = ?", (invite_id, server_id)
    ).fetchone()
    if row is None:
        raise ApiError("unknown_invite")
    own = row["created_by"] == user_id
    if not (p.has(base, p.Permission.MANAGE_SERVER) or (own and p.has(base, p.Permission.CREATE_INVITES))):
        raise ApiError("missing_permission")
    audience = holders_of(tx.conn, server_id, p.Permission.CREATE_INVITES)
    audit.record(tx, server_id, user_id, "invite_delete", target_type="invite", target_id=invite_id,
                 changes={"code": {"old": row["code"], "new": None}})
    tx.conn.execute("DELETE FROM invites WHERE id = ?", (invite_id,))
    tx.emit(Event("INVITE_DELETE", {"server_id": server_id, "invite_id": invite_id}, audience))


def preview_invite(conn: sqlite3.Connection, code: str, now: str) -> dict[str, Any]:
    """Reader: the §4.3 preview ``{code, server_id, server_name, server_icon_url, member_count, expires_at}``.

    ``now`` is an RFC 3339 timestamp. Raises 404 ``unknown_invite`` if the code is unknown, expired or used up.
    """
    row = live_invite(conn, code, now)
    if row is None:
        raise ApiError("unknown_invite")
    srv = get_server(conn, row["server_id"])
    assert srv is not None
    return {
        "code": row["code"], "server_id": srv["id"], "server_name": srv["name"],
        "server_icon_url": srv["icon_url"], "member_count": srv["member_count"],
        "expires_at": row["expires_at"],
    }


def accept_invite(tx: Tx, code: str, user_id: str, online: Online) -> str:
    """POST /invites/:code/accept in the §1.6 order; returns the server id."""
    row = tx.conn.execute(SQL_INVITE_BY_CODE, (code,)).fetchone()
    if row is None:
        raise ApiError("unknown_invite")
    server_id = row["server_id"]
    if _is_banned(tx.conn, server_id, user_id):
        raise ApiError("banned")
    if perms.member_context(tx.conn, server_id, user_id) is not None:
        raise ApiError("already_member")
    if not _usable(row, tx.now()):
        raise ApiError("invite_expired")
    use_invite_and_join(tx, row, user_id, online)
    return server_id  # type: ignore[no-any-return]
