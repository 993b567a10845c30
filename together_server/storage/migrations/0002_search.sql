-- Full-text search (API.md §7, DESIGN.md "Search").
--
-- Needs the SQL function together_segment(text) (together_server.search.segment,
-- registered on every connection before this runs): it inserts spaces at script changes
-- and between characters of scripts written without spaces. Printable ASCII (plus tab
-- and line breaks) is its own segmentation, so the GLOB in front of each call keeps such
-- text out of Python: a call-back from inside the writer's SQLite step has to take the
-- GIL from the event loop, twice per posted message. Both FTS5 tables index that
-- segmented text and share the message rowid (messages.seq):
--   messages_fts      porter stemming, for words and phrases ("running" finds "run");
--   messages_fts_raw  unstemmed, for prefixes ("runn*") and no-space scripts ("静默").
-- They are external-content tables over a view, so the text itself is stored only in
-- messages.content; highlight() re-reads it through the view. Deleted messages
-- (deleted = 1) are not in the view and are removed from both indexes by the triggers.

CREATE VIEW messages_fts_src AS
    SELECT seq, CASE WHEN content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(content) ELSE content END AS body FROM messages WHERE deleted = 0;

CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages_fts_src', content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE VIRTUAL TABLE messages_fts_raw USING fts5(
    body,
    content = 'messages_fts_src', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- External-content tables are deleted from by handing FTS5 the old text again, which
-- together_segment() reproduces exactly (it is deterministic).
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.deleted = 0
BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.seq, CASE WHEN new.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(new.content) ELSE new.content END);
    INSERT INTO messages_fts_raw(rowid, body) VALUES (new.seq, CASE WHEN new.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(new.content) ELSE new.content END);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, deleted ON messages
WHEN old.content IS NOT new.content OR old.deleted IS NOT new.deleted
BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body)
        SELECT 'delete', old.seq, CASE WHEN old.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(old.content) ELSE old.content END WHERE old.deleted = 0;
    INSERT INTO messages_fts_raw(messages_fts_raw, rowid, body)
        SELECT 'delete', old.seq, CASE WHEN old.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(old.content) ELSE old.content END WHERE old.deleted = 0;
    INSERT INTO messages_fts(rowid, body)
        SELECT new.seq, CASE WHEN new.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(new.content) ELSE new.content END WHERE new.deleted = 0;
    INSERT INTO messages_fts_raw(rowid, body)
        SELECT new.seq, CASE WHEN new.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(new.content) ELSE new.content END WHERE new.deleted = 0;
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.deleted = 0
BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body)
        VALUES ('delete', old.seq, CASE WHEN old.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(old.content) ELSE old.content END);
    INSERT INTO messages_fts_raw(messages_fts_raw, rowid, body)
        VALUES ('delete', old.seq, CASE WHEN old.content GLOB '*[^' || char(9, 10, 13) || ' -~]*' THEN together_segment(old.content) ELSE old.content END);
END;

-- has:link (API.md §7.2) without scanning every message of a server: a partial index of
-- the messages holding a link. The search engine's WHERE term is this exact expression,
-- which is what lets SQLite use the index.
CREATE INDEX messages_links ON messages(server_id, id)
    WHERE content LIKE '%http://%' OR content LIKE '%https://%';

-- Backfill whatever messages exist already.
INSERT INTO messages_fts(rowid, body) SELECT seq, body FROM messages_fts_src;
INSERT INTO messages_fts_raw(rowid, body) SELECT seq, body FROM messages_fts_src;
