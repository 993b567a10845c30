"""JSON shapes of the shared objects (API.md §1.8), built from SQLite rows.

One function per shape so every route and every gateway event renders an object the
same way. Rows are ``sqlite3.Row`` (or mappings) with the table's column names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Row = Mapping[str, Any]


def user(row: Row, *, own: bool, online: bool = False) -> dict[str, Any]:
    """User: ``own`` adds email, chosen_status and is_admin; ``online`` = has a session."""
    chosen = row["chosen_status"]
    return {
        "id": row["id"],
        "username": row["username"],
        "email": row["email"] if own else None,
        "avatar_url": row["avatar_url"],
        "bio": row["bio"],
        "pronouns": row["pronouns"],
        "status": chosen if online else "offline",
        "chosen_status": chosen if own else None,
        "custom_status": row["custom_status"],
        "activity": row["activity"],
        "created_at": row["created_at"],
        "is_admin": bool(row["is_admin"]) if own else False,
        "is_bot": bool(row["is_bot"]),
    }


def public_user(row: Row, *, online: bool = False) -> dict[str, Any]:
    """PublicUser (§1.8, ``GET /users/:id``): no email/is_admin; ``status`` is the chosen status if ``online`` else "offline"."""
    return {
        "id": row["id"],
        "username": row["username"],
        "avatar_url": row["avatar_url"],
        "status": row["chosen_status"] if online else "offline",
        "custom_status": row["custom_status"],
        "activity": row["activity"],
        "bio": row["bio"],
        "pronouns": row["pronouns"],
        "created_at": row["created_at"],
        "is_bot": bool(row["is_bot"]),
    }


def server(row: Row) -> dict[str, Any]:
    """Server (§1.8) from a ``servers`` row that also carries a ``member_count`` column."""
    return {
        "id": row["id"],
        "name": row["name"],
        "owner_id": row["owner_id"],
        "icon_url": row["icon_url"],
        "is_public": bool(row["is_public"]),
        "require_invite": bool(row["require_invite"]),
        "member_count": row["member_count"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def channel(row: Row) -> dict[str, Any]:
    """Channel (§1.8) from a ``channels`` row."""
    return {
        "id": row["id"],
        "server_id": row["server_id"],
        "name": row["name"],
        "type": row["type"],
        "position": row["position"],
        "category": row["category"],
        "topic": row["topic"],
        "created_at": row["created_at"],
    }


def role_ref(row: Row) -> dict[str, Any]:
    """RoleRef (§1.8): ``{id, name, color, position}``, as listed in Member ``roles``."""
    return {"id": row["id"], "name": row["name"], "color": row["color"], "position": row["position"]}


def role(row: Row) -> dict[str, Any]:
    """Role (§1.8) from a ``roles`` row."""
    return {
        "id": row["id"],
        "server_id": row["server_id"],
        "name": row["name"],
        "permissions": row["permissions"],
        "color": row["color"],
        "position": row["position"],
        "created_at": row["created_at"],
    }


def member(
    row: Row, roles: Iterable[Row] = (), *, online: bool = False, timed_out_until: str | None = None
) -> dict[str, Any]:
    """Member from a join of members + users (``user_id``, ``joined_at`` + user columns)."""
    return {
        "user_id": row["user_id"],
        "username": row["username"],
        "avatar_url": row["avatar_url"],
        "status": row["chosen_status"] if online else "offline",
        "custom_status": row["custom_status"],
        "nickname": None,
        "joined_at": row["joined_at"],
        "roles": [role_ref(r) for r in roles],
        "is_bot": bool(row["is_bot"]),
        "timed_out_until": timed_out_until,
    }


def message(
    row: Row, mention_user_ids: list[str], reactions: list[dict[str, Any]] | None = None,
    attachments: list[dict[str, Any]] | None = None, *,
    thread_reply_count: int = 0, poll: dict[str, Any] | None = None, event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Message (§1.8) from a ``messages`` row (never deleted: ``deleted`` is always False).

    ``mention_user_ids`` is the stored mention list; ``reactions`` the §4.9 list (None -> []);
    ``thread_reply_count`` the undeleted replies of a thread root; ``poll`` / ``event`` the
    Poll / ServerEvent the message carries (issue 12), else null.
    ``attachments`` the [Attachment] of issue 10 (None -> []).
    """
    return {
        "id": row["id"],
        "channel_id": row["channel_id"],
        "author_id": row["author_id"],
        "content": row["content"],
        "reply_to": row["reply_to"],
        "mention_user_ids": mention_user_ids,
        "mention_everyone": bool(row["mention_everyone"]),
        "thread_id": row["thread_id"],
        "thread_reply_count": thread_reply_count,
        "edited_at": row["edited_at"],
        "deleted": False,
        "created_at": row["created_at"],
        "pinned": row["pinned_at"] is not None,
        "pinned_by": row["pinned_by"],
        "pinned_at": row["pinned_at"],
        "poll": poll,
        "event": event,
        "reactions": reactions or [],
        "attachments": attachments or [],
    }


def invite(row: Row) -> dict[str, Any]:
    """Invite (§1.8) from an ``invites`` row."""
    return {
        "id": row["id"],
        "server_id": row["server_id"],
        "code": row["code"],
        "created_by": row["created_by"],
        "max_uses": row["max_uses"],
        "uses": row["uses"],
        "expires_at": row["expires_at"],
        "created_at": row["created_at"],
    }
