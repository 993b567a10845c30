"""Permission bits and the one permission computation (API.md §4.1, §4.2, §4.4, §4.5).

Pure: no I/O, no clock. Every permission answer in the daemon (REST handlers, gateway
audiences, search filtering) goes through `base_permissions` and `channel_permissions`;
`together_server.storage.perms` only loads their inputs from SQLite.

Shapes: a permission set is an ``int`` bitfield in ``0..ALL`` (bits 0-14 of API.md §4.1, issue 13's bits 15-17, issue 12's bit 18). An override
is an ``(allow, deny)`` pair of ints. Role positions are ints ``0..2**31-1``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "ALL",
    "CHANNEL_BITS",
    "DEFAULT",
    "SERVER_BITS",
    "Permission",
    "base_permissions",
    "channel_permissions",
    "has",
    "highest_position",
    "names",
    "outranks",
    "override_change_allowed",
    "rank",
    "role_grant_allowed",
    "role_position_allowed",
]


class Permission(enum.IntFlag):
    """The permission bits: API.md §4.1's 0-14, then issue 13's audit/webhook/automod bits and
    issue 12's MANAGE_EMOJIS (the next free bits; the Together reference defines none for them).
    Member names are the API names."""

    VIEW_CHANNEL = 1 << 0
    SEND_MESSAGES = 1 << 1
    MANAGE_MESSAGES = 1 << 2
    ATTACH_FILES = 1 << 3
    ADD_REACTIONS = 1 << 4
    CONNECT_VOICE = 1 << 5
    SPEAK = 1 << 6
    MUTE_MEMBERS = 1 << 7
    KICK_MEMBERS = 1 << 8
    BAN_MEMBERS = 1 << 9
    MANAGE_CHANNELS = 1 << 10
    MANAGE_ROLES = 1 << 11
    MANAGE_SERVER = 1 << 12
    ADMINISTRATOR = 1 << 13
    CREATE_INVITES = 1 << 14
    VIEW_AUDIT_LOG = 1 << 15
    MANAGE_WEBHOOKS = 1 << 16
    MANAGE_AUTOMOD = 1 << 17
    MANAGE_EMOJIS = 1 << 18


_P = Permission

#: Every defined bit: 524287.
ALL: int = (1 << 19) - 1

#: The only bits an override may hold (API.md §4.1): 1151.
CHANNEL_BITS: int = int(
    _P.VIEW_CHANNEL
    | _P.SEND_MESSAGES
    | _P.MANAGE_MESSAGES
    | _P.ATTACH_FILES
    | _P.ADD_REACTIONS
    | _P.CONNECT_VOICE
    | _P.SPEAK
    | _P.MANAGE_CHANNELS
)

#: Bits that only roles can grant and overrides never touch: ALL & ~CHANNEL_BITS.
SERVER_BITS: int = ALL & ~CHANNEL_BITS

#: What every member has whatever their roles (API.md §4.1): 123.
DEFAULT: int = int(
    _P.VIEW_CHANNEL | _P.SEND_MESSAGES | _P.ATTACH_FILES | _P.ADD_REACTIONS | _P.CONNECT_VOICE | _P.SPEAK
)

_ADMIN = int(_P.ADMINISTRATOR)

# Bit order, precomputed: names() runs for every Role and Override rendered.
_NAMED_BITS: tuple[tuple[int, str], ...] = tuple((int(p), p.name or "") for p in Permission)


def has(perms: int, bit: int) -> bool:
    """True if `perms` holds every bit of `bit` (one `Permission` or an OR of several)."""
    return perms & bit == bit


def names(perms: int) -> list[str]:
    """API names of the bits set in `perms`, lowest bit first; bits above 14 are ignored."""
    return [name for value, name in _NAMED_BITS if perms & value]


def base_permissions(is_owner: bool, role_permissions: Iterable[int]) -> int:
    """Steps 1-2 of API.md §4.1: a member's server-level permissions.

    `role_permissions` are the ``permissions`` of every role the member holds. The owner
    and any holder of ADMINISTRATOR get `ALL`; everyone else gets `DEFAULT` OR their
    roles' bits, masked to the defined bits. Server-level actions (kick, ban, timeout,
    roles, invites, MANAGE_SERVER, creating a channel) use this value alone.
    """
    if is_owner:
        return ALL
    base = DEFAULT
    for value in role_permissions:
        base |= value
    base &= ALL
    return ALL if base & _ADMIN else base


def channel_permissions(
    base: int,
    *,
    is_owner: bool,
    everyone: tuple[int, int] | None,
    roles: Iterable[tuple[int, int]],
    member: tuple[int, int] | None,
) -> int:
    """Steps 3-4 of API.md §4.1: a member's permissions in one channel.

    `base` comes from `base_permissions`. `everyone` is the channel's everyone override
    (``role_id`` == server id), `roles` the channel's overrides for the member's own roles
    (only those: the caller filters), `member` the override for this user; each an
    ``(allow, deny)`` pair or None. Within a step deny is applied before allow, so a bit
    both denied and allowed at the same step ends up allowed. Owners and ADMINISTRATOR
    holders get `ALL` (overrides do not apply). Overrides touch only `CHANNEL_BITS`: any
    server bit found in one is ignored, so server bits always equal those of `base`.
    """
    if is_owner or base & _ADMIN:
        return ALL
    p = base & ALL
    if everyone is not None:
        allow, deny = everyone
        p = (p & ~(deny & CHANNEL_BITS)) | (allow & CHANNEL_BITS)
    role_allow = role_deny = 0
    for allow, deny in roles:
        role_allow |= allow
        role_deny |= deny
    p = (p & ~(role_deny & CHANNEL_BITS)) | (role_allow & CHANNEL_BITS)
    if member is not None:
        allow, deny = member
        p = (p & ~(deny & CHANNEL_BITS)) | (allow & CHANNEL_BITS)
    return p


def override_change_allowed(caller_perms: int, old_allow: int, old_deny: int, new_allow: int, new_deny: int) -> bool:
    """API.md §4.5: may a caller with `caller_perms` (channel-level) make this change?

    Every channel bit whose allowed or denied state differs between old and new must be
    in `caller_perms`. A new override is old ``(0, 0)``; a DELETE is new ``(0, 0)``.
    Owners and ADMINISTRATOR holders pass because their channel permissions are `ALL`.
    Server bits are left out of the comparison: overrides ignore them, and a PUT holding
    one is a 400 `validation_failed` checked before this (for every caller).
    """
    changed = ((old_allow ^ new_allow) | (old_deny ^ new_deny)) & CHANNEL_BITS
    return changed & ~caller_perms == 0


def role_grant_allowed(caller_perms: int, old_perms: int, new_perms: int) -> bool:
    """API.md §4.4: may a caller with server-level `caller_perms` set a role's bits?

    Granting means the bits of ``new_perms & ~old_perms`` (use ``old_perms=0`` on create);
    without ADMINISTRATOR every granted bit must be held by the caller. Removing bits is
    never restricted here. The owner passes because their base is `ALL`.
    """
    if caller_perms & _ADMIN:
        return True
    return (new_perms & ~old_perms) & ~caller_perms == 0


def highest_position(positions: Iterable[int]) -> int:
    """*H* of API.md §4.4: the highest of a caller's role positions, 0 if they have none."""
    return max(positions, default=0)


def rank(positions: Iterable[int]) -> int:
    """A target's rank (API.md §4.2): their highest role position, -1 if they have none."""
    return max(positions, default=-1)


def outranks(
    caller_positions: Iterable[int],
    target_positions: Iterable[int],
    *,
    caller_is_owner: bool = False,
) -> bool:
    """API.md §4.2: may the caller kick, ban or time out this member, as far as rank goes?

    True if the caller owns the server, or the target's `rank` is below the caller's
    `highest_position`. A member with no role (rank -1) is below any caller, even one
    with no role (H = 0). Targeting the owner or yourself is refused before this
    (`cannot_target_owner`, `cannot_target_self`); non-members are exempt, so callers
    only use this against a member.
    """
    if caller_is_owner:
        return True
    return rank(target_positions) < highest_position(caller_positions)


def role_position_allowed(caller_positions: Iterable[int], position: int, *, caller_is_owner: bool = False) -> bool:
    """API.md §4.4: may the caller touch a role at `position`, or move one there?

    True for the owner, else only when ``position < H``. Use it for the role's current
    position (edit, delete, assign, remove) and for a new position (create, move).
    """
    if caller_is_owner:
        return True
    return position < highest_position(caller_positions)
