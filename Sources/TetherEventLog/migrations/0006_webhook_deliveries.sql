-- The webhook outbox: one row per (history event, endpoint), written in the same
-- transaction as its event, so a kill -9 loses no delivery (at-least-once).
-- `body` is the exact JSON sent on every try (the signature covers it); rows are
-- delivered oldest first per (session, endpoint), so a frontend sees one session's
-- events in order.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,     -- the list cursor
    event_id INTEGER NOT NULL,                -- Tether-Event-Id: the same on every try
    session_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    type TEXT NOT NULL,                       -- session.failed, ...
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    next_attempt_at_ms INTEGER NOT NULL,
    last_attempt_at_ms INTEGER,
    last_status INTEGER,                      -- the HTTP status of the last try, if any
    last_error TEXT,
    delivered_at_ms INTEGER
);
-- The dispatcher's scan: due pending rows, and the oldest pending row of one session
-- at one endpoint (what keeps the order).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries(session_id, endpoint, id) WHERE status = 'pending';
-- The API's list by status, newest first.
CREATE INDEX webhook_deliveries_status ON webhook_deliveries(status, id);
