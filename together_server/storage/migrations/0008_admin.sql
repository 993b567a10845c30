-- Issue 13: audit log, automod, webhooks, instance settings, disabled accounts.
-- Ids are UUIDv7 text from the writer's clock (they sort in commit order); times RFC 3339.

-- One row per moderation/configuration change, written in the same transaction as the
-- change. server_id NULL = an instance-level (admin area) entry. changes is a JSON
-- object {field: {"old": .., "new": ..}} or other details of the action.
CREATE TABLE audit_logs (
    id           TEXT PRIMARY KEY,
    server_id    TEXT,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT,
    target_id    TEXT,
    changes      TEXT NOT NULL DEFAULT '{}',
    reason       TEXT,
    ip_address   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX audit_logs_server ON audit_logs(server_id, id);
CREATE INDEX audit_logs_created ON audit_logs(created_at);

-- Automod settings of a server (absent row = defaults, automod off).
CREATE TABLE automod_configs (
    server_id              TEXT PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
    enabled                INTEGER NOT NULL DEFAULT 0,
    word_filter_enabled    INTEGER NOT NULL DEFAULT 0,
    word_filter_action     TEXT NOT NULL DEFAULT 'block',
    invite_filter_enabled  INTEGER NOT NULL DEFAULT 0,
    link_filter_enabled    INTEGER NOT NULL DEFAULT 0,
    link_action            TEXT NOT NULL DEFAULT 'block',
    mention_enabled        INTEGER NOT NULL DEFAULT 0,
    mention_max            INTEGER NOT NULL DEFAULT 5,
    mention_action         TEXT NOT NULL DEFAULT 'block',
    spam_enabled           INTEGER NOT NULL DEFAULT 0,
    spam_max_messages      INTEGER NOT NULL DEFAULT 5,
    spam_window_secs       INTEGER NOT NULL DEFAULT 5,
    spam_action            TEXT NOT NULL DEFAULT 'block',
    duplicate_enabled      INTEGER NOT NULL DEFAULT 0,
    duplicate_max          INTEGER NOT NULL DEFAULT 3,
    duplicate_window_secs  INTEGER NOT NULL DEFAULT 30,
    duplicate_action       TEXT NOT NULL DEFAULT 'block',
    timeout_minutes        INTEGER NOT NULL DEFAULT 10,
    updated_at             TEXT NOT NULL
);

CREATE TABLE automod_words (
    id          TEXT PRIMARY KEY,
    server_id   TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    word        TEXT NOT NULL,
    word_fold   TEXT NOT NULL,             -- casefolded, accents stripped: what is matched
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (server_id, word_fold)
);

CREATE TABLE automod_logs (
    id               TEXT PRIMARY KEY,
    server_id        TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    channel_id       TEXT,
    user_id          TEXT,
    rule_type        TEXT NOT NULL,
    action_taken     TEXT NOT NULL,
    matched_term     TEXT,
    message_content  TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX automod_logs_server ON automod_logs(server_id, id);

-- Webhooks: kind 'incoming' (post into channel_id with a secret token; token_hash is
-- SHA-256 hex, the token itself is shown once) or 'outgoing' (events POSTed to url,
-- signed with secret; event_types a JSON array). user_id: the bot user messages of an
-- incoming webhook are authored by.
CREATE TABLE webhooks (
    id                TEXT PRIMARY KEY,
    server_id         TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('incoming', 'outgoing')),
    name              TEXT NOT NULL,
    channel_id        TEXT REFERENCES channels(id) ON DELETE CASCADE,
    user_id           TEXT,
    token_hash        TEXT,
    url               TEXT,
    secret            TEXT,
    event_types       TEXT NOT NULL DEFAULT '[]',
    enabled           INTEGER NOT NULL DEFAULT 1,
    delivery_failures INTEGER NOT NULL DEFAULT 0,
    last_used_at      TEXT,
    created_by        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX webhooks_server ON webhooks(server_id, kind);

-- Outgoing deliveries: pending ones survive a restart (status 'pending', next_at).
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    response_status  INTEGER,
    error            TEXT,
    next_at          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(next_at) WHERE status = 'pending';

-- Runtime settings the admin area changes (value is JSON); they override the config file.
CREATE TABLE instance_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT
);

ALTER TABLE users ADD COLUMN disabled_at TEXT;
