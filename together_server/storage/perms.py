"""Load the inputs of the permission computation from SQLite (API.md §4.1, §4.2, §4.4).

Sync helpers taking a `sqlite3.Connection`: they run inside reader threads and inside the
writer's transaction (so a write job re-checks against what it is about to change). They
only read. The arithmetic itself is `together_server.permissions`; nothing here decides a
bit on its own.

Tombstoned servers (``servers.deleted_at`` set) count as absent everywhere: no member
context, no viewers, no visible channels.

Indexes these queries lean on (all in 0001_initial.sql): the primary keys of members,
member_roles and timeouts, ``channels_server``, and the partial ``overrides_role`` /
``overrides_user`` (see the note on the override queries). Requires SQLite JSON1
(``json_group_array``), built in since SQLite 3.38.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import attrs
import orjson

from together_server import permissions as p

__all__ = [
    "MemberContext",
    "channel_perms",
    "member_context",
    "server_perms",
    "server_perms_by_member",
    "timed_out_until",
    "viewers",
    "visible_channel_ids",
]

# Why one row with a JSON array instead of one row per role or override: on the hot path
# (every REST check) returning rows costs more than finding them; a member with 50 roles
# took ~50 µs as 50 rows, ~40 µs as one (bench/bench_permissions.py). The JSON stays
# inside SQLite (JSON1, built in since 3.38) and orjson reads it back.

# One row whenever the query runs: owner_id NULL means "not a member, or the server is
# missing or tombstoned". Roles are [[id, position, permissions], ...]; an assignment
# pointing at a role that is gone or belongs to another server is left out.
_MEMBER_CONTEXT_SQL = """
SELECT s.owner_id,
       json_group_array(json_array(r.id, r.position, r.permissions))
         FILTER (WHERE r.id IS NOT NULL)
FROM members AS m
JOIN servers AS s ON s.id = m.server_id AND s.deleted_at IS NULL
LEFT JOIN member_roles AS mr ON mr.server_id = m.server_id AND mr.user_id = m.user_id
LEFT JOIN roles AS r ON r.id = mr.role_id AND r.server_id = m.server_id
WHERE m.server_id = :server AND m.user_id = :user
"""

# Override queries name "role_id IS NOT NULL" / "user_id = ..." so that SQLite can use the
# partial unique indexes overrides_role / overrides_user (0001_initial.sql has no plain
# index on overrides.channel_id, so a bare "channel_id = ?" scans the whole table).

# No row: the channel is not in this server. Otherwise the everyone override, this user's
# override (NULLs when absent), and every role override as [[role_id, allow, deny], ...];
# the caller keeps those of the member's roles (the everyone override's role_id is the
# server id, which is never one of them).
_CHANNEL_OVERRIDES_FOR_USER_SQL = """
SELECT e.allow, e.deny, u.allow, u.deny,
       (SELECT json_group_array(json_array(o.role_id, o.allow, o.deny))
        FROM overrides AS o
        WHERE o.channel_id = c.id AND o.role_id IS NOT NULL)
FROM channels AS c
LEFT JOIN overrides AS e ON e.channel_id = c.id AND e.role_id = :server
LEFT JOIN overrides AS u ON u.channel_id = c.id AND u.user_id = :user
WHERE c.id = :channel AND c.server_id = :server
"""

_CHANNEL_IN_SERVER_SQL = "SELECT 1 FROM channels WHERE id = :channel AND server_id = :server"

_CHANNEL_SERVER_SQL = """
SELECT c.server_id, s.owner_id
FROM channels AS c
JOIN servers AS s ON s.id = c.server_id AND s.deleted_at IS NULL
WHERE c.id = ?
"""

_SERVER_OWNER_SQL = "SELECT owner_id FROM servers WHERE id = ? AND deleted_at IS NULL"

_SERVER_ROLES_SQL = "SELECT id, permissions FROM roles WHERE server_id = ?"

# One row per member with their role ids comma-joined (NULL: no roles). Role ids are
# UUIDs, so a comma never appears inside one. One short string per member instead of one
# row per assignment: ~2.5x faster for 500 members holding 3 roles each.
_SERVER_MEMBERS_ROLES_SQL = """
SELECT m.user_id,
       (SELECT group_concat(mr.role_id) FROM member_roles AS mr
        WHERE mr.server_id = m.server_id AND mr.user_id = m.user_id)
FROM members AS m
WHERE m.server_id = ?
"""

_CHANNEL_OVERRIDES_SQL = """
SELECT role_id, NULL, allow, deny FROM overrides
WHERE channel_id = :channel AND role_id IS NOT NULL
UNION ALL
SELECT NULL, user_id, allow, deny FROM overrides
WHERE channel_id = :channel AND user_id IS NOT NULL
"""

_SERVER_CHANNELS_SQL = """
SELECT id FROM channels WHERE server_id = ? ORDER BY position, created_at, id
"""

_SERVER_OVERRIDES_FOR_USER_SQL = """
SELECT o.channel_id, o.role_id, NULL, o.allow, o.deny
FROM channels AS c
JOIN overrides AS o ON o.channel_id = c.id AND o.role_id IS NOT NULL
WHERE c.server_id = :server
UNION ALL
SELECT o.channel_id, NULL, o.user_id, o.allow, o.deny
FROM channels AS c
JOIN overrides AS o ON o.channel_id = c.id AND o.user_id = :user
WHERE c.server_id = :server
"""

_TIMED_OUT_UNTIL_SQL = """
SELECT MAX(expires_at) FROM timeouts
WHERE server_id = ? AND user_id = ? AND expires_at > ?
"""

_Pair = tuple[int, int]


@attrs.frozen(slots=True)
class MemberContext:
    """What the permission computation needs to know about one member of one server.

    `role_ids` and `role_positions` cover the roles the member holds (positions in no
    particular order); `base` is steps 1-2 of §4.1 (`ALL` for the owner and for
    ADMINISTRATOR holders).
    """

    server_id: str
    user_id: str
    is_owner: bool
    role_ids: frozenset[str]
    role_positions: tuple[int, ...]
    base: int

    @property
    def highest_position(self) -> int:
        """*H* of §4.4: highest role position, 0 with no roles."""
        return p.highest_position(self.role_positions)

    @property
    def rank(self) -> int:
        """Rank of §4.2 when targeted: highest role position, -1 with no roles."""
        return p.rank(self.role_positions)


@attrs.frozen(slots=True)
class _Overrides:
    everyone: _Pair | None
    by_role: dict[str, _Pair]
    by_user: dict[str, _Pair]

    def apply(self, base: int, is_owner: bool, role_ids: Iterable[str], user_id: str) -> int:
        by_role = self.by_role
        return p.channel_permissions(
            base,
            is_owner=is_owner,
            everyone=self.everyone,
            roles=[by_role[r] for r in role_ids if r in by_role],
            member=self.by_user.get(user_id),
        )


def _split_overrides(
    rows: Iterable[tuple[str | None, str | None, int, int]],
    server_id: str,
) -> _Overrides:
    everyone: _Pair | None = None
    by_role: dict[str, _Pair] = {}
    by_user: dict[str, _Pair] = {}
    for role_id, user_id, allow, deny in rows:
        pair = (allow, deny)
        if role_id is not None:
            if role_id == server_id:  # the everyone override (§4.1 extension)
                everyone = pair
            else:
                by_role[role_id] = pair
        elif user_id is not None:
            by_user[user_id] = pair
    return _Overrides(everyone, by_role, by_user)


def member_context(conn: sqlite3.Connection, server_id: str, user_id: str) -> MemberContext | None:
    """Load `user_id`'s standing in `server_id`: one query, one row.

    Returns None when the user is not a member or the server is missing or tombstoned
    (handlers answer 404 `unknown_server` then, §1.6).
    """
    owner_id, roles_json = conn.execute(_MEMBER_CONTEXT_SQL, {"server": server_id, "user": user_id}).fetchone()
    if owner_id is None:
        return None
    is_owner = owner_id == user_id
    role_ids: list[str] = []
    positions: list[int] = []
    role_perms: list[int] = []
    for role_id, position, perms in orjson.loads(roles_json):
        role_ids.append(role_id)
        positions.append(position)
        role_perms.append(perms)
    return MemberContext(
        server_id=server_id,
        user_id=user_id,
        is_owner=is_owner,
        role_ids=frozenset(role_ids),
        role_positions=tuple(positions),
        base=p.base_permissions(is_owner, role_perms),
    )


def server_perms(ctx: MemberContext) -> int:
    """Server-level permissions (§4.1 steps 1-2) for kick, ban, timeout, roles, invites,
    MANAGE_SERVER and creating a channel."""
    return ctx.base


def channel_perms(conn: sqlite3.Connection, ctx: MemberContext, channel_id: str, server_id: str) -> int:
    """Effective permissions (§4.1 steps 1-4) of `ctx`'s member in `channel_id`: one query,
    one row. `ctx` is the authority on the member's roles and base permissions; read it
    in the same snapshot (or transaction) as this call.

    Returns 0 when the channel does not exist or is not in `server_id`, so a channel of
    another server never leaks through, whoever asks. Raises ValueError when `server_id`
    is not `ctx.server_id` (a caller bug: the context belongs to another server).
    """
    if server_id != ctx.server_id:
        raise ValueError(f"member context is for server {ctx.server_id}, not {server_id}")
    params = {"channel": channel_id, "server": server_id, "user": ctx.user_id}
    if ctx.base == p.ALL:  # owner or ADMINISTRATOR: overrides do not apply
        found = conn.execute(_CHANNEL_IN_SERVER_SQL, params).fetchone()
        return 0 if found is None else p.ALL
    row = conn.execute(_CHANNEL_OVERRIDES_FOR_USER_SQL, params).fetchone()
    if row is None:
        return 0
    e_allow, e_deny, u_allow, u_deny, roles_json = row
    mine = ctx.role_ids
    return p.channel_permissions(
        ctx.base,
        is_owner=ctx.is_owner,
        everyone=None if e_allow is None else (e_allow, e_deny),
        roles=[(a, d) for role_id, a, d in orjson.loads(roles_json) if role_id in mine],
        member=None if u_allow is None else (u_allow, u_deny),
    )


def _server_member_bases(conn: sqlite3.Connection, server_id: str, owner_id: str) -> list[tuple[str, int, list[str]]]:
    """(user_id, base, role_ids) for every member of the server: two queries.

    Assignments to a role that is gone or belongs to another server are left out, as in
    `member_context`.
    """
    role_perms = dict(conn.execute(_SERVER_ROLES_SQL, (server_id,)).fetchall())
    out = []
    for user_id, joined in conn.execute(_SERVER_MEMBERS_ROLES_SQL, (server_id,)):
        ids = [r for r in joined.split(",") if r in role_perms] if joined else []
        base = p.base_permissions(user_id == owner_id, [role_perms[r] for r in ids])
        out.append((user_id, base, ids))
    return out


def server_perms_by_member(conn: sqlite3.Connection, server_id: str) -> dict[str, int]:
    """``{user_id: server-level permissions}`` (§4.1 steps 1-2) for every member of the
    server: three queries. Empty when the server is missing or tombstoned. For audiences
    such as "members who hold CREATE_INVITES" (§6.7).
    """
    row = conn.execute(_SERVER_OWNER_SQL, (server_id,)).fetchone()
    if row is None:
        return {}
    return {user_id: base for user_id, base, _ids in _server_member_bases(conn, server_id, row[0])}


def member_ids(conn: sqlite3.Connection, server_id: str) -> set[str]:
    """User ids (lowercase UUID strings) of every member of ``server_id``: the audience of server-wide events."""
    return {r[0] for r in conn.execute("SELECT user_id FROM members WHERE server_id = ?", (server_id,))}


def viewers(conn: sqlite3.Connection, channel_id: str) -> frozenset[str]:
    """User ids of the members with VIEW_CHANNEL in `channel_id` (the "viewers" audience
    of API.md §6.7): four queries, then Python (~1.5 ms for 500 members).

    Empty when the channel is missing or its server is tombstoned.
    """
    row = conn.execute(_CHANNEL_SERVER_SQL, (channel_id,)).fetchone()
    if row is None:
        return frozenset()
    server_id, owner_id = row
    overrides = _split_overrides(conn.execute(_CHANNEL_OVERRIDES_SQL, {"channel": channel_id}), server_id)
    view = int(p.Permission.VIEW_CHANNEL)
    return frozenset(
        user_id
        for user_id, base, role_ids in _server_member_bases(conn, server_id, owner_id)
        if overrides.apply(base, user_id == owner_id, role_ids, user_id) & view
    )


def visible_channel_ids(conn: sqlite3.Connection, server_id: str, user_id: str) -> list[str]:
    """Ids of the channels of `server_id` that `user_id` can view, ordered by position,
    then created_at, then id (API.md §3.4). Empty when not a member (or the server is
    tombstoned). Three queries at most, whatever the number of channels.
    """
    ctx = member_context(conn, server_id, user_id)
    if ctx is None:
        return []
    channel_ids = [cid for (cid,) in conn.execute(_SERVER_CHANNELS_SQL, (server_id,))]
    if ctx.base == p.ALL:  # owner or ADMINISTRATOR: overrides do not apply
        return channel_ids
    per_channel: dict[str, list[tuple[str | None, str | None, int, int]]] = {}
    for cid, role_id, o_user_id, allow, deny in conn.execute(
        _SERVER_OVERRIDES_FOR_USER_SQL, {"server": server_id, "user": user_id}
    ):
        per_channel.setdefault(cid, []).append((role_id, o_user_id, allow, deny))
    view = int(p.Permission.VIEW_CHANNEL)
    no_overrides = _Overrides(None, {}, {})
    visible = []
    for cid in channel_ids:
        rows = per_channel.get(cid)
        overrides = _split_overrides(rows, server_id) if rows else no_overrides
        if overrides.apply(ctx.base, ctx.is_owner, ctx.role_ids, user_id) & view:
            visible.append(cid)
    return visible


def timed_out_until(conn: sqlite3.Connection, server_id: str, user_id: str, now_ts: str) -> str | None:
    """`expires_at` of the user's running timeout in the server, or None (API.md §4.2).

    `now_ts` is an API timestamp ('YYYY-MM-DDTHH:MM:SS.ffffffZ'); running means
    ``expires_at > now_ts`` (string comparison: the format sorts). Membership is not
    required: a timeout outlives a leave and applies again on rejoin.
    """
    row = conn.execute(_TIMED_OUT_UNTIL_SQL, (server_id, user_id, now_ts)).fetchone()
    return None if row is None else row[0]
