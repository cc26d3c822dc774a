-- Filters ops ask for during an incident ("every loss on node X in the last 10 min",
-- "which sessions of tenant acme failed today"), each backed by an index so a query
-- over millions of events is a seek, not a scan (measured: BENCHMARKS.md, `tether
-- bench events`).

-- The SFU node an event happened on: the node a `reconnected` or `migrated` event
-- names, else the session's node when the event was written. Events stored before
-- this migration get their session's current node (the best that is known).
ALTER TABLE events ADD COLUMN sfu_url TEXT;
UPDATE events SET sfu_url = (SELECT sessions.sfu_url FROM sessions WHERE sessions.id = events.session_id);
CREATE INDEX events_sfu ON events(sfu_url, id) WHERE sfu_url IS NOT NULL;
-- Partial: most events carry neither, and `reason = ?` implies `reason IS NOT NULL`.
CREATE INDEX events_reason ON events(reason, id) WHERE reason IS NOT NULL;
CREATE INDEX events_strategy ON events(strategy, id) WHERE strategy IS NOT NULL;
-- (call_id and user_id filters on events go through the sessions of that call or
-- user: sessions_call, sessions_user, then events_session.)

CREATE INDEX sessions_user ON sessions(user_id, seq);
CREATE INDEX sessions_sfu ON sessions(sfu_url, seq);
CREATE INDEX sessions_created ON sessions(created_at_ms);

-- A session's metadata (fixed at create) as rows, so `metadata.KEY=VALUE` is a seek.
-- Filled by a trigger, so no writer can forget it; only string values are kept (the
-- API accepts nothing else).
CREATE TABLE session_metadata (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    seq INTEGER NOT NULL,                     -- sessions.seq
    PRIMARY KEY (key, value, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO session_metadata (key, value, seq)
    SELECT metadata_entry.key, metadata_entry.value, sessions.seq
    FROM sessions, json_each(sessions.metadata) AS metadata_entry
    WHERE metadata_entry.type = 'text';
CREATE TRIGGER sessions_metadata_rows AFTER INSERT ON sessions BEGIN
    INSERT OR IGNORE INTO session_metadata (key, value, seq)
        SELECT key, value, NEW.seq FROM json_each(NEW.metadata) WHERE type = 'text';
END;
