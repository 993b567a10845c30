"""Built-in server templates (issue 12 "Server templates").

Shape. **ServerTemplate** = ``{id, name, description, category, channels: [{name, type,
category, position}], roles: [{name, permissions, color, position}], is_builtin,
created_at}`` (the Together reference's fields plus ``roles``, ours). ``category`` is one
of ``gaming`` | ``community`` | ``study`` | ``custom``. Templates are data in this module:
nothing is stored, and ``POST /servers`` with ``template_id`` creates the server, its
channels and its roles in one transaction (:func:`apply`).
"""

from __future__ import annotations

from typing import Any

from .. import permissions as p
from .. import records
from ..text import fold
from .db import Event, Tx

_P = p.Permission
CREATED_AT = "2026-01-01T00:00:00.000000Z"  # when the built-in set was written
MODERATOR = int(_P.MANAGE_MESSAGES | _P.MUTE_MEMBERS | _P.KICK_MEMBERS | _P.CREATE_INVITES)
ORGANIZER = int(MODERATOR | _P.MANAGE_CHANNELS | _P.MANAGE_ROLES | _P.BAN_MEMBERS)


def _chans(*groups: tuple[str | None, str, list[str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for category, kind, names in groups:
        for name in names:
            out.append({"name": name, "type": kind, "category": category, "position": len(out)})
    return out


def _roles(*specs: tuple[str, int, str | None]) -> list[dict[str, Any]]:
    # listed highest first; positions count down to 0 so the first outranks the rest
    return [{"name": n, "permissions": perm, "color": color, "position": len(specs) - 1 - i}
            for i, (n, perm, color) in enumerate(specs)]


BUILTIN: list[dict[str, Any]] = [
    {
        "id": "gaming",
        "name": "Gaming",
        "description": "Text channels for chat and clips, voice rooms for squads.",
        "category": "gaming",
        "channels": _chans(
            ("Text", "text", ["general", "clips-and-highlights", "looking-for-group"]),
            ("Voice", "voice", ["Lobby", "Squad 1", "Squad 2"]),
        ),
        "roles": _roles(("Moderator", MODERATOR, "#e67e22"), ("Gamer", 0, "#3498db")),
    },
    {
        "id": "lan-party",
        "name": "LAN party",
        "description": "Announcements and setup help, a lobby, and a voice channel per team.",
        "category": "gaming",
        "channels": _chans(
            ("Info", "text", ["announcements", "setup-help", "match-results"]),
            ("Chat", "text", ["general"]),
            ("Voice", "voice", ["Lobby", "Team Red", "Team Blue", "Team Green", "Team Yellow"]),
        ),
        "roles": _roles(("Organizer", ORGANIZER, "#9b59b6"), ("Team Red", 0, "#e74c3c"),
                        ("Team Blue", 0, "#3498db"), ("Team Green", 0, "#2ecc71"),
                        ("Team Yellow", 0, "#f1c40f")),
    },
    {
        "id": "study-group",
        "name": "Study group",
        "description": "Resources, homework help and quiet voice rooms for studying together.",
        "category": "study",
        "channels": _chans(
            ("Study", "text", ["announcements", "general", "resources", "homework-help"]),
            ("Rooms", "voice", ["Study Room 1", "Study Room 2"]),
        ),
        "roles": _roles(("Tutor", MODERATOR, "#16a085")),
    },
    {
        "id": "friends",
        "name": "Friends",
        "description": "A small hangout: one place to talk, one to share, one to call.",
        "category": "community",
        "channels": _chans(
            (None, "text", ["general", "media"]),
            (None, "voice", ["Hangout"]),
        ),
        "roles": [],
    },
]
BY_ID = {t["id"]: t for t in BUILTIN}


def list_templates() -> list[dict[str, Any]]:
    """[ServerTemplate], in a fixed order."""
    return [{**t, "is_builtin": True, "created_at": CREATED_AT} for t in BUILTIN]


def apply(tx: Tx, server_id: str, owner_id: str, template_id: str) -> None:
    """Step of ``servers.create_server`` (same transaction, after the server row): create
    the template's roles, then its channels. Emits ROLE_CREATE for each role, then
    CHANNEL_CREATE for each channel, to the owner (the only member)."""
    template = BY_ID[template_id]
    for spec in template["roles"]:
        rid, now = tx.new_id()
        tx.conn.execute(
            "INSERT INTO roles (id, server_id, name, permissions, color, position, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rid, server_id, spec["name"], spec["permissions"], spec["color"], spec["position"], now),
        )
        row = tx.conn.execute("SELECT * FROM roles WHERE id = ?", (rid,)).fetchone()
        tx.emit(Event("ROLE_CREATE", records.role(row), {owner_id}))
    for spec in template["channels"]:
        cid, now = tx.new_id()
        tx.conn.execute(
            "INSERT INTO channels (id, server_id, name, name_fold, type, position, category, topic, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (cid, server_id, spec["name"], fold(spec["name"]), spec["type"], spec["position"], spec["category"], now),
        )
        row = tx.conn.execute("SELECT * FROM channels WHERE id = ?", (cid,)).fetchone()
        tx.emit(Event("CHANNEL_CREATE", records.channel(row), {owner_id}))
