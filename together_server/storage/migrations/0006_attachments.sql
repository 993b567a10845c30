-- File attachments (issue 10).
--
-- The bytes live in the data directory, content-addressed (blobs/ab/cd/<sha256>, see
-- storage/blobs.py); these rows say which message shows which blob under which name.
-- message_id names a server-channel message (server_id set) or a DM message (dm = 1,
-- server_id NULL); there is no foreign key because it may be either table. Rows are
-- deleted explicitly by the function that owns a deletion (storage/attachments.py
-- release_*), which queues the blobs in blob_purges; a background job removes a queued
-- blob once no row references it.
CREATE TABLE attachments (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    message_id    TEXT NOT NULL,
    channel_id    TEXT NOT NULL,
    server_id     TEXT,
    dm            INTEGER NOT NULL DEFAULT 0,
    uploader_id   TEXT NOT NULL,
    filename      TEXT NOT NULL,
    file_size     INTEGER NOT NULL,
    mime_type     TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    width         INTEGER,
    height        INTEGER,
    thumb_sha256  TEXT,
    thumb_type    TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id, seq);
CREATE INDEX attachments_channel ON attachments(channel_id);
CREATE INDEX attachments_server ON attachments(server_id) WHERE server_id IS NOT NULL;
CREATE INDEX attachments_uploader ON attachments(uploader_id);
CREATE INDEX attachments_sha ON attachments(sha256);
CREATE INDEX attachments_thumb ON attachments(thumb_sha256) WHERE thumb_sha256 IS NOT NULL;

-- Blobs that lost a reference; purged (file removed) once nothing references them.
CREATE TABLE blob_purges (
    sha256     TEXT PRIMARY KEY,
    queued_at  TEXT NOT NULL
) WITHOUT ROWID;

-- Messages posted with no visible content (the "\u200b" the Together web client sends
-- before uploading): deleted if no attachment arrives within attachments.pending_seconds.
CREATE TABLE pending_messages (
    message_id  TEXT PRIMARY KEY,
    dm          INTEGER NOT NULL,
    channel_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX pending_messages_age ON pending_messages(created_at);

-- has:file / has:image / has:video (API.md §7.2, issue 10) and file-name search: one
-- row per server-channel attachment, its name indexed like message words.
CREATE VIRTUAL TABLE attachment_names_fts USING fts5(
    filename,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
