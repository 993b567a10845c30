-- Voice states (API.md §4.6): one row per user in a voice channel, bound to one gateway
-- session (an in-memory id, so every row is cleared at start-up, §6.5).
CREATE TABLE voice_states (
    user_id      TEXT PRIMARY KEY,         -- a user is in at most one voice channel
    server_id    TEXT NOT NULL,
    channel_id   TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL,            -- the gateway session it is bound to
    self_mute    INTEGER NOT NULL DEFAULT 0,
    self_deaf    INTEGER NOT NULL DEFAULT 0,
    self_video   INTEGER NOT NULL DEFAULT 0,
    self_screen  INTEGER NOT NULL DEFAULT 0,
    joined_at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX voice_states_channel ON voice_states(channel_id, joined_at);
CREATE INDEX voice_states_server ON voice_states(server_id);
CREATE INDEX voice_states_session ON voice_states(session_id);
