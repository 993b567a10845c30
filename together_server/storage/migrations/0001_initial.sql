-- together-server initial schema. Ids are lowercase UUIDv7 text; times are RFC 3339 UTC
-- text with six fractional digits (they sort as text); booleans are 0/1.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    username_fold  TEXT NOT NULL,          -- casefold(NFC(username)): case-insensitive unique
    email          TEXT,
    email_fold     TEXT,
    password_hash  TEXT,                   -- NULL for bots (they cannot log in)
    avatar_url     TEXT,
    bio            TEXT,
    pronouns       TEXT,
    chosen_status  TEXT NOT NULL DEFAULT 'online',
    custom_status  TEXT,
    activity       TEXT,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    is_bot         INTEGER NOT NULL DEFAULT 0,
    deleted_at     TEXT,
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX users_username_fold ON users(username_fold);
CREATE UNIQUE INDEX users_email_fold ON users(email_fold) WHERE email_fold IS NOT NULL;

CREATE TABLE login_sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    refreshed_at  TEXT NOT NULL,           -- latest login or refresh (eviction, sliding expiry)
    ended_at      TEXT,
    end_reason    TEXT
);
CREATE INDEX login_sessions_user ON login_sessions(user_id, ended_at);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,          -- SHA-256 hex; the token itself is never stored
    session_id  TEXT NOT NULL REFERENCES login_sessions(id),
    issued_at   TEXT NOT NULL,
    rotated_at  TEXT                       -- set when exchanged for a newer token
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE servers (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    owner_id        TEXT NOT NULL REFERENCES users(id),
    icon_url        TEXT,
    is_public       INTEGER NOT NULL DEFAULT 0,
    require_invite  INTEGER NOT NULL DEFAULT 0,
    member_count    INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT                   -- tombstone: filtered out everywhere, purged later
);
CREATE INDEX servers_public ON servers(is_public, member_count) WHERE deleted_at IS NULL;

CREATE TABLE members (
    server_id  TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id),
    joined_at  TEXT NOT NULL,
    PRIMARY KEY (server_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_user ON members(user_id);

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    name_fold   TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('text', 'voice')),
    position    INTEGER NOT NULL,
    category    TEXT,
    topic       TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX channels_server ON channels(server_id, position);

-- seq is the rowid: it increases in id (commit) order, and the FTS tables share it.
CREATE TABLE messages (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    channel_id        TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    server_id         TEXT NOT NULL,
    author_id         TEXT NOT NULL,
    content           TEXT NOT NULL,
    reply_to          TEXT,
    mention_everyone  INTEGER NOT NULL DEFAULT 0,
    edited_at         TEXT,
    deleted           INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    pinned_by         TEXT,
    pinned_at         TEXT
);
CREATE INDEX messages_server ON messages(server_id, id);
CREATE INDEX messages_author ON messages(author_id, id);
CREATE INDEX messages_pinned ON messages(channel_id, pinned_at) WHERE pinned_at IS NOT NULL;

CREATE TABLE message_mentions (
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,          -- order of first appearance in the content
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;
CREATE INDEX message_mentions_user ON message_mentions(user_id, message_id);

CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    code        TEXT NOT NULL UNIQUE,
    created_by  TEXT,
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    expires_at  TEXT,
    created_at  TEXT NOT NULL,
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX invites_server ON invites(server_id, id);

CREATE TABLE roles (
    id           TEXT PRIMARY KEY,
    server_id    TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    permissions  INTEGER NOT NULL DEFAULT 0,
    color        TEXT,
    position     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL
);
CREATE INDEX roles_server ON roles(server_id);

CREATE TABLE member_roles (
    server_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (server_id, user_id, role_id)
) WITHOUT ROWID;
CREATE INDEX member_roles_role ON member_roles(role_id);

CREATE TABLE overrides (
    id          TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    role_id     TEXT,
    user_id     TEXT,
    allow       INTEGER NOT NULL,
    deny        INTEGER NOT NULL,
    CHECK ((role_id IS NULL) != (user_id IS NULL))
);
CREATE INDEX overrides_channel ON overrides(channel_id);
CREATE UNIQUE INDEX overrides_role ON overrides(channel_id, role_id) WHERE role_id IS NOT NULL;
CREATE UNIQUE INDEX overrides_user ON overrides(channel_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE bans (
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    banned_by   TEXT,
    reason      TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (server_id, user_id)
) WITHOUT ROWID;

CREATE TABLE timeouts (
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    reason      TEXT,
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (server_id, user_id)
) WITHOUT ROWID;

CREATE TABLE read_states (
    user_id     TEXT NOT NULL,
    channel_id  TEXT NOT NULL,             -- a server channel or a DM channel id
    marker      TEXT NOT NULL,             -- a message id (or an id-shaped point in time)
    PRIMARY KEY (user_id, channel_id)
) WITHOUT ROWID;
