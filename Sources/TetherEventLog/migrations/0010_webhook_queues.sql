-- Webhooks at scale. Endpoints get stable ids (a changed URL keeps its backlog), a
-- state (enabled | disabled), a failure record and a backlog count kept in the same
-- transactions as the deliveries. Each (session, endpoint) queue marks its head, so
-- the dispatcher picks due heads by an index seek instead of scanning every pending
-- row; a delivery carries a version (an operator's retry is never overwritten by a try
-- already in flight) and a `forced` flag (due at once, breaker open or not).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'enabled',    -- enabled | disabled
    disabled_reason TEXT,
    disabled_at_ms INTEGER,
    failing_since_ms INTEGER,                 -- the first failure since the last success
    last_error TEXT,
    last_success_at_ms INTEGER,
    backlog INTEGER NOT NULL DEFAULT 0,       -- pending deliveries
    overflowed INTEGER NOT NULL DEFAULT 0     -- deliveries failed for the backlog cap, ever
);
ALTER TABLE webhook_deliveries ADD COLUMN endpoint_id TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
-- Rows from before ids name their endpoint by URL until the service maps it at start.
UPDATE webhook_deliveries SET endpoint_id = endpoint;
UPDATE webhook_deliveries SET head = 1 WHERE status = 'pending' AND id IN (
    SELECT MIN(id) FROM webhook_deliveries WHERE status = 'pending' GROUP BY session_id, endpoint_id);
DROP INDEX webhook_deliveries_due;
DROP INDEX webhook_deliveries_queue;
-- Due heads of one endpoint, soonest first: the dispatcher's pick and its next wake-up.
CREATE INDEX webhook_deliveries_heads ON webhook_deliveries(endpoint_id, next_attempt_at_ms) WHERE status = 'pending' AND head = 1;
-- One (session, endpoint) queue, oldest first: whether a new row is its head, and the next head.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries(session_id, endpoint_id, id) WHERE status = 'pending';
-- One endpoint's pending rows, oldest first: the backlog cap and the oldest pending age.
CREATE INDEX webhook_deliveries_backlog ON webhook_deliveries(endpoint_id, id) WHERE status = 'pending';
-- One endpoint's deliveries by time: bulk replay of a time range.
CREATE INDEX webhook_deliveries_replay ON webhook_deliveries(endpoint_id, created_at_ms);
-- Who this database is: `webhook-id` is `<this>_<event id>`, unique across databases.
CREATE TABLE database_identity (id TEXT NOT NULL);
INSERT INTO database_identity (id) VALUES (lower(hex(randomblob(16))));
