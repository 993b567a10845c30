-- Community features (issue 12): threads, polls, scheduled events, Go Live streams and
-- custom emoji. Server templates are built in (storage/templates.py), link previews are
-- cached in memory, GIF search is a pass-through: none of them has a table.

-- Threads: a reply is a message of the same channel whose thread_id names its root (a
-- message with thread_id NULL). Replies stay in the channel's read state, mentions and
-- search like any message; channel lists leave them out. The partial index serves the
-- thread page and the per-root reply counts of every rendered page.
ALTER TABLE messages ADD COLUMN thread_id TEXT;
CREATE INDEX messages_thread ON messages(thread_id, id) WHERE thread_id IS NOT NULL AND deleted = 0;

-- Polls: one per message (the message carries it); deleted with the message
-- (storage/polls.delete_for_message). ends_at NULL: open until closed_at is set.
CREATE TABLE polls (
    id            TEXT PRIMARY KEY,
    message_id    TEXT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    channel_id    TEXT NOT NULL,
    question      TEXT NOT NULL,
    multi_choice  INTEGER NOT NULL DEFAULT 0,
    ends_at       TEXT,
    closed_at     TEXT,
    created_at    TEXT NOT NULL
);

CREATE TABLE poll_options (
    id        TEXT PRIMARY KEY,
    poll_id   TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX poll_options_poll ON poll_options(poll_id, position);

CREATE TABLE poll_votes (
    poll_id    TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    option_id  TEXT NOT NULL REFERENCES poll_options(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    voted_at   TEXT NOT NULL,
    PRIMARY KEY (poll_id, user_id, option_id)
) WITHOUT ROWID;
CREATE INDEX poll_votes_option ON poll_votes(option_id);

-- Scheduled events: one per message, like polls; listed per server by start time.
CREATE TABLE server_events (
    id           TEXT PRIMARY KEY,
    message_id   TEXT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    server_id    TEXT NOT NULL,
    channel_id   TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    starts_at    TEXT NOT NULL,
    ends_at      TEXT,
    created_by   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX server_events_server ON server_events(server_id, starts_at);

-- Go Live: at most one stream per user (the primary key), in the voice channel of the
-- user's voice state; ended explicitly whenever that voice state ends (storage/voice.py).
CREATE TABLE go_live_streams (
    user_id     TEXT PRIMARY KEY,
    server_id   TEXT NOT NULL,
    channel_id  TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    quality     TEXT NOT NULL,
    started_at  TEXT NOT NULL
);
CREATE INDEX go_live_streams_channel ON go_live_streams(channel_id, started_at);

-- Custom emoji: the image is a content-addressed blob (sha256 hex) of the attachments
-- store; name unique per server without regard to case (name_fold).
CREATE TABLE custom_emojis (
    id            TEXT PRIMARY KEY,
    server_id     TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    name_fold     TEXT NOT NULL,
    created_by    TEXT,
    sha256        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    file_size     INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX custom_emojis_name ON custom_emojis(server_id, name_fold);
CREATE INDEX custom_emojis_sha256 ON custom_emojis(sha256);
