-- Tether's history. Applied once, in file-name order, by GRDB's migrator at start.
-- Never edit a migration that has shipped: add the next file instead.

CREATE TABLE sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,    -- creation order: the list cursor
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    call_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    dialect TEXT NOT NULL,
    sfu_urls TEXT NOT NULL,                   -- JSON array
    sfu_token TEXT NOT NULL,                  -- needed to resume after a restart; never returned
    dialect_options TEXT,                     -- JSON, per dialect (janus room, ...)
    policy TEXT NOT NULL,                     -- JSON, effective policy in ms
    metadata TEXT NOT NULL,                   -- JSON object of strings
    sfu_url TEXT NOT NULL,
    sfu_session_id TEXT,
    generation INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0,
    reconnects INTEGER NOT NULL DEFAULT 0,
    failed_reconnects INTEGER NOT NULL DEFAULT 0,
    end_reason TEXT,
    idempotency_key TEXT UNIQUE,
    request_fingerprint TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER
);
CREATE INDEX sessions_state ON sessions(state, seq);
CREATE INDEX sessions_call ON sessions(call_id, seq);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,     -- monotonic: the cursor and the SSE id
    session_id TEXT NOT NULL,
    type TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    reason TEXT,                              -- copied out of payload for stats
    strategy TEXT,
    duration_ms INTEGER,
    payload TEXT NOT NULL                     -- the whole event as JSON (without id)
);
CREATE INDEX events_session ON events(session_id, id);
CREATE INDEX events_type ON events(type, id);
CREATE INDEX events_time ON events(time_ms);
