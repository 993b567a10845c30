"""Tests of together_server.permissions (pure) and together_server.storage.perms (SQLite).

API.md §4.1 (bits, the four steps), §4.2 (rank), §4.4 (hierarchy, granting), §4.5
(override changes).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from together_server import permissions as p
from together_server.permissions import Permission as P
from together_server.storage import perms as sp
from together_server.storage.db import apply_migrations

V = int(P.VIEW_CHANNEL)
S = int(P.SEND_MESSAGES)
MM = int(P.MANAGE_MESSAGES)
MC = int(P.MANAGE_CHANNELS)
ADMIN = int(P.ADMINISTRATOR)
KICK = int(P.KICK_MEMBERS)
ROLES = int(P.MANAGE_ROLES)

# ---------------------------------------------------------------------------- constants


def test_bits_match_the_contract_table() -> None:
    expected = [
        "VIEW_CHANNEL", "SEND_MESSAGES", "MANAGE_MESSAGES", "ATTACH_FILES", "ADD_REACTIONS",
        "CONNECT_VOICE", "SPEAK", "MUTE_MEMBERS", "KICK_MEMBERS", "BAN_MEMBERS",
        "MANAGE_CHANNELS", "MANAGE_ROLES", "MANAGE_SERVER", "ADMINISTRATOR", "CREATE_INVITES",
        "VIEW_AUDIT_LOG", "MANAGE_WEBHOOKS", "MANAGE_AUTOMOD", "MANAGE_EMOJIS",
    ]  # fmt: skip
    assert [(m.name, int(m)) for m in P] == [(n, 1 << i) for i, n in enumerate(expected)]
    assert p.ALL == 524287  # bits 0-14 (API.md §4.1) + 15-17 (issue 13) + 18 (issue 12)
    assert p.CHANNEL_BITS == 1151
    assert p.DEFAULT == 123
    assert p.SERVER_BITS == p.ALL & ~1151
    assert p.DEFAULT & ~p.CHANNEL_BITS == 0


def test_names() -> None:
    assert p.names(0) == []
    assert p.names(123) == [
        "VIEW_CHANNEL", "SEND_MESSAGES", "ATTACH_FILES", "ADD_REACTIONS", "CONNECT_VOICE", "SPEAK",
    ]  # fmt: skip
    assert p.names(ADMIN | V) == ["VIEW_CHANNEL", "ADMINISTRATOR"]
    assert len(p.names(p.ALL)) == 19
    assert p.names(1 << 19) == []


def test_has() -> None:
    assert p.has(123, P.VIEW_CHANNEL)
    assert not p.has(123, P.MANAGE_MESSAGES)
    assert p.has(123, P.VIEW_CHANNEL | P.SEND_MESSAGES)
    assert not p.has(123, P.VIEW_CHANNEL | P.MANAGE_MESSAGES)  # every bit, not any


# ---------------------------------------------------------------------------- steps 1-2


@pytest.mark.parametrize(
    ("is_owner", "role_perms", "expected"),
    [
        pytest.param(True, [], p.ALL, id="owner-no-roles"),
        pytest.param(False, [], 123, id="default-member"),
        pytest.param(False, [0, 0], 123, id="empty-roles"),
        pytest.param(False, [MM, KICK], 123 | MM | KICK, id="roles-or"),
        pytest.param(False, [KICK, ADMIN], p.ALL, id="admin-via-role"),
        pytest.param(False, [1 << 19 | KICK], 123 | KICK, id="undefined-bits-dropped"),
    ],
)
def test_base_permissions(is_owner: bool, role_perms: list[int], expected: int) -> None:
    assert p.base_permissions(is_owner, role_perms) == expected
    assert p.base_permissions(is_owner, iter(role_perms)) == expected  # any iterable


# ---------------------------------------------------------------------------- steps 3-4

# (base roles, is_owner, everyone, role overrides, member override, expected)
CHANNEL_CASES = [
    pytest.param([], True, (0, p.CHANNEL_BITS), [], (0, p.CHANNEL_BITS), p.ALL, id="owner"),
    pytest.param([ADMIN], False, (0, V), [(0, V)], (0, V), p.ALL, id="admin-via-role"),
    pytest.param([], False, None, [], None, 123, id="default-member"),
    pytest.param([MM], False, None, [], None, 123 | MM, id="role-bit"),
    pytest.param([], False, (0, V), [], None, 123 & ~V, id="everyone-deny-view"),
    pytest.param([], False, (0, V), [(V, 0)], None, 123, id="everyone-deny-then-role-allow"),
    pytest.param([], False, (0, V), [(V, 0)], (0, V), 123 & ~V, id="member-deny-beats-role"),
    pytest.param([], False, None, [(0, S)], (S, 0), 123, id="member-allow-beats-role-deny"),
    pytest.param([], False, (V, 0), [(0, V)], None, 123 & ~V, id="role-deny-beats-everyone"),
    # Within one step deny is applied first, then allow: allow wins.
    pytest.param([], False, None, [(V, 0), (0, V)], None, 123, id="roles-allow-and-deny"),
    pytest.param([], False, (MM, MM), [], None, 123 | MM, id="everyone-allow-and-deny"),
    pytest.param([], False, None, [], (MM, MM), 123 | MM, id="member-allow-and-deny"),
    pytest.param([], False, (MM, 0), [], None, 123 | MM, id="everyone-allow-grants"),
    pytest.param([], False, None, [(MC, 0)], None, 123 | MC, id="role-allow-manage-channels"),
    # Server bits in an override are ignored, both ways.
    pytest.param([], False, (KICK, 0), [(ADMIN, 0)], (ROLES, 0), 123, id="server-bits-not-granted"),
    pytest.param([KICK], False, (0, KICK), [(0, KICK)], (0, KICK), 123 | KICK, id="server-bits-not-denied"),
    pytest.param([], False, None, [], (1 << 19, 0), 123, id="undefined-bits-ignored"),
]  # fmt: skip


@pytest.mark.parametrize(("role_perms", "is_owner", "everyone", "roles", "member", "expected"), CHANNEL_CASES)
def test_channel_permissions(
    role_perms: list[int],
    is_owner: bool,
    everyone: tuple[int, int] | None,
    roles: list[tuple[int, int]],
    member: tuple[int, int] | None,
    expected: int,
) -> None:
    base = p.base_permissions(is_owner, role_perms)
    got = p.channel_permissions(base, is_owner=is_owner, everyone=everyone, roles=roles, member=member)
    assert got == expected, (p.names(got), p.names(expected))


def _spec(
    base: int,
    everyone: tuple[int, int] | None,
    roles: list[tuple[int, int]],
    member: tuple[int, int] | None,
) -> int:
    """API.md §4.1 steps 3-4 transcribed literally (valid overrides only)."""
    q = base
    if everyone is not None:
        q = (q & ~everyone[1]) | everyone[0]
    allow = deny = 0
    for a, d in roles:
        allow, deny = allow | a, deny | d
    q = (q & ~deny) | allow
    if member is not None:
        q = (q & ~member[1]) | member[0]
    return q


_chan_bits = st.integers(0, p.CHANNEL_BITS).map(lambda b: b & p.CHANNEL_BITS)
_pair = st.tuples(_chan_bits, _chan_bits)


@given(
    role_perms=st.lists(st.integers(0, p.ALL), max_size=4),
    everyone=st.none() | _pair,
    roles=st.lists(_pair, max_size=4),
    member=st.none() | _pair,
)
def test_channel_permissions_properties(
    role_perms: list[int],
    everyone: tuple[int, int] | None,
    roles: list[tuple[int, int]],
    member: tuple[int, int] | None,
) -> None:
    base = p.base_permissions(False, role_perms)
    got = p.channel_permissions(base, is_owner=False, everyone=everyone, roles=roles, member=member)
    assert 0 <= got <= p.ALL
    # Overrides never move a server bit.
    assert got & p.SERVER_BITS == base & p.SERVER_BITS
    if base & ADMIN:
        assert got == p.ALL
    else:
        assert got == _spec(base, everyone, roles, member)
    # The owner is unaffected by anything.
    assert p.channel_permissions(base, is_owner=True, everyone=everyone, roles=roles, member=member) == p.ALL


# ---------------------------------------------------------------------------- hierarchy


def test_highest_position_and_rank() -> None:
    assert p.highest_position([]) == 0
    assert p.rank([]) == -1
    assert p.highest_position([0]) == 0
    assert p.rank([0]) == 0
    assert p.highest_position([3, 9, 1]) == 9
    assert p.rank(iter([3, 9, 1])) == 9
    assert p.rank([2_147_483_647]) == 2_147_483_647


@pytest.mark.parametrize(
    ("caller", "target", "owner", "expected"),
    [
        pytest.param([5], [4], False, True, id="above"),
        pytest.param([5], [5], False, False, id="equal"),
        pytest.param([5], [6], False, False, id="below"),
        pytest.param([0], [], False, True, id="role-0-vs-no-role"),
        pytest.param([], [], False, True, id="no-role-vs-no-role"),  # H=0 > rank -1
        pytest.param([], [0], False, False, id="no-role-vs-role-0"),
        pytest.param([0], [0], False, False, id="role-0-vs-role-0"),
        pytest.param([1, 9], [8, 2], False, True, id="highest-counts"),
        pytest.param([], [100], True, True, id="owner-exempt"),
    ],
)
def test_outranks(caller: list[int], target: list[int], owner: bool, expected: bool) -> None:
    assert p.outranks(caller, target, caller_is_owner=owner) is expected


@pytest.mark.parametrize(
    ("caller", "position", "owner", "expected"),
    [
        pytest.param([5], 4, False, True, id="below-H"),
        pytest.param([5], 5, False, False, id="at-H"),
        pytest.param([], 0, False, False, id="no-roles-H0"),
        pytest.param([1], 0, False, True, id="H1-position0"),
        pytest.param([], 2_147_483_647, True, True, id="owner"),
    ],
)
def test_role_position_allowed(caller: list[int], position: int, owner: bool, expected: bool) -> None:
    assert p.role_position_allowed(caller, position, caller_is_owner=owner) is expected


@pytest.mark.parametrize(
    ("caller", "old", "new", "expected"),
    [
        pytest.param(123 | ROLES, 0, 123, True, id="create-held-bits"),
        pytest.param(123 | ROLES, 0, KICK, False, id="create-unheld-bit"),
        pytest.param(123 | ROLES, KICK, KICK | V, True, id="keep-unheld-bit"),
        pytest.param(123 | ROLES, KICK | V, 0, True, id="remove-unheld-bit"),
        pytest.param(p.ALL, 0, p.ALL, True, id="admin"),
    ],
)
def test_role_grant_allowed(caller: int, old: int, new: int, expected: bool) -> None:
    assert p.role_grant_allowed(caller, old, new) is expected


@pytest.mark.parametrize(
    ("caller", "old", "new", "expected"),
    [
        pytest.param(123 | MC, (0, 0), (V, 0), True, id="create-held"),
        pytest.param(123 | MC, (0, 0), (0, MM), False, id="create-deny-unheld"),
        pytest.param(123 | MC, (0, MM), (0, 0), False, id="delete-unheld"),
        pytest.param(123 | MC, (0, MM), (V, MM), True, id="unheld-bit-unchanged"),
        pytest.param(123 | MC, (V, 0), (0, V), True, id="move-held-allow-to-deny"),
        pytest.param(123 | MC, (MM, 0), (0, MM), False, id="move-unheld-allow-to-deny"),
        pytest.param((123 | MC) & ~V, (0, 0), (0, V), False, id="caller-denied-view"),
        pytest.param(p.ALL, (0, 0), (p.CHANNEL_BITS, 0), True, id="owner-or-admin"),
        pytest.param(123 | MC, (0, 0), (KICK, 0), True, id="server-bits-ignored"),
    ],
)
def test_override_change_allowed(caller: int, old: tuple[int, int], new: tuple[int, int], expected: bool) -> None:
    assert p.override_change_allowed(caller, *old, *new) is expected


# ---------------------------------------------------------------------------- storage

TS = "2026-01-01T00:00:00.000000Z"


class World:
    """Inserts rows (the columns of schema_core.md); names map to uuid ids."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.ids: dict[str, str] = {}
        self._n = 0

    def id(self, name: str) -> str:
        if name not in self.ids:
            self.ids[name] = str(uuid.uuid4())
        return self.ids[name]

    def user(self, name: str) -> str:
        uid = self.id(name)
        self.conn.execute(
            "INSERT INTO users(id, username, username_fold, email, email_fold, password_hash,"
            " avatar_url, bio, pronouns, chosen_status, custom_status, activity, is_admin,"
            " is_bot, deleted_at, created_at) VALUES (?,?,?,?,?,?,NULL,NULL,NULL,'online',NULL,"
            " NULL,0,0,NULL,?)",
            (
                uid,
                name,
                name.casefold(),
                f"{name}@example.org",
                f"{name}@example.org",
                "x",
                TS,
            ),
        )
        return uid

    def server(self, name: str, owner: str, *, deleted: bool = False) -> str:
        sid = self.id(name)
        if owner not in self.ids:
            self.user(owner)
        self.conn.execute(
            "INSERT INTO servers(id, name, owner_id, icon_url, is_public, require_invite,"
            " created_at, updated_at, deleted_at) VALUES (?,?,?,NULL,0,0,?,?,?)",
            (sid, name, self.id(owner), TS, TS, TS if deleted else None),
        )
        self.member(name, owner)
        return sid

    def member(self, server: str, user: str) -> None:
        if user not in self.ids:
            self.user(user)
        self.conn.execute(
            "INSERT INTO members(server_id, user_id, joined_at) VALUES (?,?,?)",
            (self.id(server), self.id(user), TS),
        )

    def role(self, server: str, name: str, perms: int, position: int) -> str:
        rid = self.id(name)
        self.conn.execute(
            "INSERT INTO roles(id, server_id, name, permissions, color, position, created_at)"
            " VALUES (?,?,?,?,NULL,?,?)",
            (rid, self.id(server), name, perms, position, TS),
        )
        return rid

    def give(self, server: str, user: str, role: str) -> None:
        self.conn.execute(
            "INSERT INTO member_roles(server_id, user_id, role_id) VALUES (?,?,?)",
            (self.id(server), self.id(user), self.id(role)),
        )

    def channel(self, server: str, name: str, position: int = 0, created_at: str = TS) -> str:
        cid = self.id(name)
        self.conn.execute(
            "INSERT INTO channels(id, server_id, name, name_fold, type, position, category,"
            " topic, created_at) VALUES (?,?,?,?,'text',?,NULL,NULL,?)",
            (cid, self.id(server), name, name.casefold(), position, created_at),
        )
        return cid

    def override(
        self,
        channel: str,
        allow: int,
        deny: int,
        *,
        role: str | None = None,
        user: str | None = None,
    ) -> None:
        self._n += 1
        self.conn.execute(
            "INSERT INTO overrides(id, channel_id, role_id, user_id, allow, deny) VALUES (?,?,?,?,?,?)",
            (
                str(uuid.uuid4()),
                self.id(channel),
                None if role is None else self.id(role),
                None if user is None else self.id(user),
                allow,
                deny,
            ),
        )

    def everyone(self, channel: str, server: str, allow: int, deny: int) -> None:
        self.override(channel, allow, deny, role=server)  # role_id == server id

    def timeout(self, server: str, user: str, expires_at: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO timeouts(server_id, user_id, expires_at, reason, created_by, created_at)"
            " VALUES (?,?,?,NULL,?,?)",
            (self.id(server), self.id(user), expires_at, self.id(user), TS),
        )


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file with every migration applied, made once and copied per test."""
    path = tmp_path_factory.mktemp("perms") / "template.db"
    c = sqlite3.connect(path, isolation_level=None)
    apply_migrations(c)
    c.close()
    return path


@pytest.fixture
def conn(tmp_path: Path, migrated_db: Path) -> Iterator[sqlite3.Connection]:
    """A fresh temp-file database, set up like the daemon's connections (sqlite3.Row
    rows, foreign keys on, autocommit)."""
    path = tmp_path / "t.db"
    shutil.copyfile(migrated_db, path)
    c = sqlite3.connect(path, isolation_level=None)
    c.row_factory = sqlite3.Row
    c.execute("PRAGMA foreign_keys = ON")
    yield c
    c.close()


@pytest.fixture
def w(conn: sqlite3.Connection) -> World:
    """Server S owned by owner; mod (role mods, pos 5, KICK), admin (ADMIN role, pos 1),
    bob and carol (no roles). Channels: general (no overrides), private (everyone denied
    VIEW, mods allowed), quiet (everyone denied SEND, carol allowed SEND, mods denied
    SEND and VIEW but mod's own override allows VIEW). Server T (other) with its own channel."""
    w = World(conn)
    for name in ("owner", "mod", "admin", "bob", "carol", "zed"):
        w.user(name)
    w.server("S", "owner")
    for name in ("mod", "admin", "bob", "carol"):
        w.member("S", name)
    w.role("S", "mods", KICK, 5)
    w.role("S", "admins", ADMIN, 1)
    w.give("S", "mod", "mods")
    w.give("S", "admin", "admins")
    w.channel("S", "general", position=0)
    w.channel("S", "private", position=1)
    w.channel("S", "quiet", position=2)
    w.everyone("private", "S", 0, V)
    w.override("private", V, 0, role="mods")
    w.everyone("quiet", "S", 0, S)
    w.override("quiet", S, 0, user="carol")
    w.override("quiet", 0, S | V, role="mods")
    w.override("quiet", V, 0, user="mod")
    w.server("T", "zed")
    w.member("T", "bob")
    w.role("T", "t-role", MM, 3)
    w.channel("T", "t-chan")
    # A user override on another server's channel.
    w.override("t-chan", 0, V, user="carol")
    return w


def ctx(w: World, server: str, user: str) -> sp.MemberContext:
    c = sp.member_context(w.conn, w.id(server), w.id(user))
    assert c is not None
    return c


def test_member_context(w: World) -> None:
    owner = ctx(w, "S", "owner")
    assert owner.is_owner and owner.base == p.ALL and owner.role_ids == frozenset()
    assert owner.highest_position == 0 and owner.rank == -1
    mod = ctx(w, "S", "mod")
    assert not mod.is_owner
    assert mod.role_ids == {w.id("mods")} and mod.role_positions == (5,)
    assert mod.base == 123 | KICK and sp.server_perms(mod) == 123 | KICK
    assert ctx(w, "S", "admin").base == p.ALL
    bob = ctx(w, "S", "bob")
    assert bob.base == 123 and bob.rank == -1 and bob.highest_position == 0
    assert p.outranks(mod.role_positions, bob.role_positions)


def test_member_context_absent(w: World) -> None:
    assert sp.member_context(w.conn, w.id("S"), w.id("zed")) is None  # not a member
    assert sp.member_context(w.conn, w.id("S"), str(uuid.uuid4())) is None
    assert sp.member_context(w.conn, str(uuid.uuid4()), w.id("bob")) is None
    w.server("Dead", "bob", deleted=True)
    assert sp.member_context(w.conn, w.id("Dead"), w.id("bob")) is None


def test_member_context_ignores_foreign_and_missing_roles(w: World) -> None:
    # An assignment in S pointing at T's role, and one at a role that no longer exists
    # (foreign keys would prevent it; the query must not depend on that).
    w.give("S", "bob", "t-role")
    w.conn.execute("PRAGMA foreign_keys = OFF")
    w.conn.execute(
        "INSERT INTO member_roles(server_id, user_id, role_id) VALUES (?,?,?)",
        (w.id("S"), w.id("bob"), str(uuid.uuid4())),
    )
    bob = ctx(w, "S", "bob")
    assert bob.role_ids == frozenset() and bob.base == 123


@pytest.mark.parametrize(
    ("user", "channel", "expected"),
    [
        ("owner", "private", p.ALL),
        ("admin", "quiet", p.ALL),
        ("bob", "general", 123),
        ("bob", "private", 123 & ~V),
        ("mod", "private", 123 | KICK),
        ("bob", "quiet", 123 & ~S),
        ("carol", "quiet", 123),  # user override beats everyone deny
        # mods deny VIEW+SEND; mod's own override gives VIEW back.
        ("mod", "quiet", (123 | KICK) & ~S),
    ],
)
def test_channel_perms(w: World, user: str, channel: str, expected: int) -> None:
    got = sp.channel_perms(w.conn, ctx(w, "S", user), w.id(channel), w.id("S"))
    assert got == expected, (p.names(got), p.names(expected))


def test_channel_perms_wrong_server(w: World) -> None:
    bob_s = ctx(w, "S", "bob")
    owner = ctx(w, "S", "owner")
    # A channel of T asked for with S's context: nothing, even for S's owner.
    assert sp.channel_perms(w.conn, owner, w.id("t-chan"), w.id("S")) == 0
    assert sp.channel_perms(w.conn, bob_s, str(uuid.uuid4()), w.id("S")) == 0
    with pytest.raises(ValueError):
        sp.channel_perms(w.conn, bob_s, w.id("t-chan"), w.id("T"))
    # bob's context in T is separate and works.
    assert sp.channel_perms(w.conn, ctx(w, "T", "bob"), w.id("t-chan"), w.id("T")) == 123


def test_viewers(w: World) -> None:
    everyone_s = {w.id(n) for n in ("owner", "mod", "admin", "bob", "carol")}
    assert sp.viewers(w.conn, w.id("general")) == everyone_s
    assert sp.viewers(w.conn, w.id("private")) == {w.id(n) for n in ("owner", "mod", "admin")}
    assert sp.viewers(w.conn, w.id("quiet")) == everyone_s
    assert sp.viewers(w.conn, w.id("t-chan")) == {w.id("zed"), w.id("bob")}
    assert sp.viewers(w.conn, str(uuid.uuid4())) == frozenset()


def test_server_perms_by_member(w: World) -> None:
    assert sp.server_perms_by_member(w.conn, w.id("S")) == {
        w.id("owner"): p.ALL,
        w.id("mod"): 123 | KICK,
        w.id("admin"): p.ALL,
        w.id("bob"): 123,
        w.id("carol"): 123,
    }
    assert sp.server_perms_by_member(w.conn, str(uuid.uuid4())) == {}


def test_viewers_tombstoned_server(w: World) -> None:
    w.conn.execute("UPDATE servers SET deleted_at = ? WHERE id = ?", (TS, w.id("S")))
    assert sp.viewers(w.conn, w.id("general")) == frozenset()
    assert sp.server_perms_by_member(w.conn, w.id("S")) == {}
    assert sp.visible_channel_ids(w.conn, w.id("S"), w.id("owner")) == []


def test_visible_channel_ids(w: World) -> None:
    ids = w.ids
    assert sp.visible_channel_ids(w.conn, ids["S"], ids["owner"]) == [
        ids["general"],
        ids["private"],
        ids["quiet"],
    ]
    assert sp.visible_channel_ids(w.conn, ids["S"], ids["bob"]) == [
        ids["general"],
        ids["quiet"],
    ]
    assert sp.visible_channel_ids(w.conn, ids["S"], ids["mod"]) == [
        ids["general"],
        ids["private"],
        ids["quiet"],
    ]
    assert sp.visible_channel_ids(w.conn, ids["S"], ids["zed"]) == []  # not a member
    assert sp.visible_channel_ids(w.conn, ids["T"], ids["carol"]) == []


def test_visible_channel_ids_order(w: World) -> None:
    """Position, then created_at, then id (API.md §3.4), not insertion order."""
    w.server("O", "bob")
    early, late = "2025-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z"
    specs = [  # name, id suffix, position, created_at
        ("c-top", "1", 7, early),
        ("c-mid", "f", 3, early),
        ("c-late", "2", 0, late),
        ("c-b", "b", 0, TS),
        ("c-a", "a", 0, TS),
    ]
    for name, suffix, position, created_at in specs:
        w.ids[name] = f"00000000-0000-7000-8000-00000000000{suffix}"
        w.channel("O", name, position=position, created_at=created_at)
    got = sp.visible_channel_ids(w.conn, w.id("O"), w.id("bob"))
    assert got == [w.id(n) for n in ("c-a", "c-b", "c-late", "c-mid", "c-top")]


def test_timed_out_until(w: World) -> None:
    now = "2026-03-01T12:00:00.000000Z"
    s, bob = w.id("S"), w.id("bob")
    assert sp.timed_out_until(w.conn, s, bob, now) is None
    # Over. (One row per member: each call below replaces it.)
    w.timeout("S", "bob", "2026-03-01T11:59:59.999999Z")
    assert sp.timed_out_until(w.conn, s, bob, now) is None
    w.timeout("S", "bob", "2026-03-01T12:00:00.000000Z")  # ends exactly now: over
    assert sp.timed_out_until(w.conn, s, bob, now) is None
    w.timeout("S", "bob", "2026-03-01T12:30:00.000000Z")
    assert sp.timed_out_until(w.conn, s, bob, now) == "2026-03-01T12:30:00.000000Z"
    assert sp.timed_out_until(w.conn, w.id("T"), bob, now) is None  # other server
    assert sp.timed_out_until(w.conn, s, w.id("carol"), now) is None
    # Works for a user who left (the timeout applies again on rejoin).
    w.conn.execute("DELETE FROM members WHERE server_id = ? AND user_id = ?", (s, bob))
    assert sp.timed_out_until(w.conn, s, bob, now) == "2026-03-01T12:30:00.000000Z"


@pytest.mark.parametrize("seed", range(5))
def test_storage_agrees_with_itself(conn: sqlite3.Connection, seed: int) -> None:
    """viewers, visible_channel_ids and member_context+channel_perms give one answer."""
    rng = random.Random(seed)
    w = World(conn)
    w.server("R", "u0")
    users = [f"u{i}" for i in range(25)]
    for u in users[1:]:
        w.member("R", u)
    roles = [f"r{i}" for i in range(8)]
    for r in roles:
        w.role("R", r, rng.choice([0, 0, MM, KICK, V | MC, ADMIN]), rng.randrange(4))
    for u in users:
        for r in rng.sample(roles, rng.randrange(4)):
            w.give("R", u, r)
    channels = [f"c{i}" for i in range(6)]
    bits = [V, S, MM, MC, V | S]
    for i, c in enumerate(channels):
        w.channel("R", c, position=i)
        if rng.random() < 0.6:
            w.everyone(c, "R", rng.choice([0, S]), rng.choice([0, V, V | S]))
        for r in rng.sample(roles, rng.randrange(4)):
            w.override(c, rng.choice([0, *bits]), rng.choice([0, *bits]), role=r)
        for u in rng.sample(users, rng.randrange(5)):
            w.override(c, rng.choice([0, *bits]), rng.choice([0, *bits]), user=u)
    rid = w.id("R")
    for c in channels:
        expected = {w.id(u) for u in users if sp.channel_perms(conn, ctx(w, "R", u), w.id(c), rid) & V}
        assert sp.viewers(conn, w.id(c)) == expected
    for u in users:
        uctx = ctx(w, "R", u)
        expected_ids = [w.id(c) for c in channels if sp.channel_perms(conn, uctx, w.id(c), rid) & V]
        assert sp.visible_channel_ids(conn, rid, w.id(u)) == expected_ids
