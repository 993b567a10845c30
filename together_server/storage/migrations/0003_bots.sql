-- Bot accounts (API.md §4.7). The bot's user row has is_bot = 1 and no password.
CREATE TABLE bots (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL UNIQUE REFERENCES users(id),
    name         TEXT NOT NULL,
    description  TEXT,
    created_by   TEXT REFERENCES users(id),
    token_hash   TEXT UNIQUE,              -- SHA-256 hex of the live token; NULL once revoked
    generation   TEXT NOT NULL,            -- id of the live token generation (JWT claim bgen)
    revoked_at   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX bots_creator ON bots(created_by, created_at);

CREATE TABLE bot_logs (
    id         INTEGER PRIMARY KEY,
    bot_id     TEXT NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
    timestamp  TEXT NOT NULL,
    event      TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX bot_logs_bot ON bot_logs(bot_id, id);
