-- Direct messages, reactions, and the indexes read state needs (API.md §4.8-§4.11).
-- Pins live on messages (pinned_by, pinned_at, index messages_pinned in 0001); read
-- markers live in read_states (0001).

-- One row per pair of users: user_a < user_b, so a pair has exactly one spelling and the
-- UNIQUE constraint makes "a pair has at most one channel" hold even if two opens race.
CREATE TABLE dm_channels (
    id          TEXT PRIMARY KEY,
    user_a      TEXT NOT NULL REFERENCES users(id),
    user_b      TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    CHECK (user_a < user_b),
    UNIQUE (user_a, user_b)
);
CREATE INDEX dm_channels_user_b ON dm_channels(user_b);

-- seq is the rowid (increases in id order, like messages.seq) so a later DM search can
-- share it with an FTS table. Deletion is soft: deleted = 1 and content blanked.
CREATE TABLE dm_messages (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    channel_id  TEXT NOT NULL REFERENCES dm_channels(id) ON DELETE CASCADE,
    author_id   TEXT NOT NULL,
    content     TEXT NOT NULL,
    edited_at   TEXT,
    deleted     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
-- Wide enough to cover the read-state count (author_id, created_at): see below.
CREATE INDEX dm_messages_channel ON dm_messages(channel_id, id, author_id, created_at, deleted) WHERE deleted = 0;

-- One row per (message, emoji, user). emoji is the NFC form, compared byte for byte.
-- added is the emoji's first use on the message (a UUIDv7 from the writer's clock, copied
-- to later reactors with the same emoji): "ordered by each emoji's first use" is
-- min(added) per emoji, stable while anyone still reacts with it, with no ties.
CREATE TABLE reactions (
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    emoji       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    added       TEXT NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;

-- Read state (§4.11). READY counts each channel's unread messages (by others, after the
-- marker, LIMIT 1000): this index covers that count, so no table row is read (about 4x
-- faster for 10,000 unread over 1,000 channels, bench/bench_ready.py). It serves the
-- channel message lists (channel_id, id) too.
CREATE INDEX messages_unread ON messages(channel_id, id, author_id, created_at, deleted) WHERE deleted = 0;
-- @everyone mentions are rare, so READY finds them per server through this small
-- partial index instead of walking every unread message.
CREATE INDEX messages_everyone ON messages(server_id, id) WHERE mention_everyone = 1 AND deleted = 0;
