-- Tether's history on PostgreSQL: the same tables as the SQLite store's migrations
-- 0001–0010, in one first migration (PostgreSQL support starts here). Applied in order
-- at start, each once, never edited once released. No extension, no superuser.

CREATE TABLE sessions (
    seq BIGSERIAL PRIMARY KEY,                -- creation order: the list cursor
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
    resume_state TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    losses BIGINT NOT NULL DEFAULT 0,
    reconnects BIGINT NOT NULL DEFAULT 0,
    failed_reconnects BIGINT NOT NULL DEFAULT 0,
    end_reason TEXT,
    join_failure_code TEXT,
    idempotency_key TEXT UNIQUE,
    request_fingerprint TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT
);
CREATE INDEX sessions_state ON sessions(state, seq);
CREATE INDEX sessions_call ON sessions(call_id, seq);
CREATE INDEX sessions_user ON sessions(user_id, seq);
CREATE INDEX sessions_sfu ON sessions(sfu_url, seq);
CREATE INDEX sessions_created ON sessions(created_at_ms);

-- Written by the store with each new session row (no trigger: the writer knows them).
CREATE TABLE session_metadata (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    seq BIGINT NOT NULL,                      -- sessions.seq
    PRIMARY KEY (key, value, seq)
);

CREATE TABLE events (
    id BIGINT PRIMARY KEY,                    -- from events_id: monotonic, the cursor and the SSE id
    session_id TEXT NOT NULL,
    type TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    reason TEXT,                              -- copied out of payload for stats
    strategy TEXT,
    duration_ms BIGINT,
    payload TEXT NOT NULL,                    -- the whole event as JSON (without id)
    sfu_url TEXT
);
CREATE SEQUENCE events_id OWNED BY events.id;
CREATE INDEX events_session ON events(session_id, id);
CREATE INDEX events_type ON events(type, id);
-- (time_ms, id): a time window's first id in each clock segment is one seek.
CREATE INDEX events_time ON events(time_ms, id);
CREATE INDEX events_sfu ON events(sfu_url, id) WHERE sfu_url IS NOT NULL;
CREATE INDEX events_reason ON events(reason, id) WHERE reason IS NOT NULL;
CREATE INDEX events_strategy ON events(strategy, id) WHERE strategy IS NOT NULL;

CREATE TABLE clock_segments (first_id BIGINT PRIMARY KEY);
CREATE TABLE readiness (at BIGINT NOT NULL);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'enabled',    -- enabled | disabled
    disabled_reason TEXT,
    disabled_at_ms BIGINT,
    failing_since_ms BIGINT,                  -- the first failure since the last success
    last_error TEXT,
    last_success_at_ms BIGINT,
    backlog BIGINT NOT NULL DEFAULT 0,        -- pending deliveries
    overflowed BIGINT NOT NULL DEFAULT 0      -- deliveries failed for the backlog cap, ever
);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,                 -- the list cursor
    event_id BIGINT NOT NULL,                 -- Tether-Event-Id: the same on every try
    session_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    head BOOLEAN NOT NULL DEFAULT FALSE,      -- the oldest pending row of its (session, endpoint) queue
    version BIGINT NOT NULL DEFAULT 0,        -- bumped by an operator's retry: a try in flight cannot overwrite it
    forced BOOLEAN NOT NULL DEFAULT FALSE,    -- made due by an operator: sent while the breaker is open
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_attempt_at_ms BIGINT,
    last_status BIGINT,
    last_error TEXT,
    delivered_at_ms BIGINT
);
CREATE INDEX webhook_deliveries_heads ON webhook_deliveries(endpoint_id, next_attempt_at_ms) WHERE status = 'pending' AND head;
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries(session_id, endpoint_id, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_backlog ON webhook_deliveries(endpoint_id, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_replay ON webhook_deliveries(endpoint_id, created_at_ms);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries(status, id);

-- gen_random_uuid() is built in since PostgreSQL 13 (no pgcrypto).
CREATE TABLE database_identity (id TEXT NOT NULL);
INSERT INTO database_identity (id) VALUES (replace(gen_random_uuid()::text, '-', ''));
