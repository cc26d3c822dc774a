-- Per-minute, per-hour and per-day aggregates of the events /v1/stats counts, per
-- node (sfu_url), as on SQLite (its migration 0012): counts by type and label, and
-- recoveries by fine log-scale bucket (metric 'recovery_ms', label = the bucket's
-- upper bound in ms). Written in the events' transaction; filled for existing history
-- by this migration (PostgresStore+Rollups.swift).
CREATE TABLE stats_rollups (
    span_ms BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    sfu_url TEXT NOT NULL,
    metric TEXT NOT NULL,
    label TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (span_ms, start_ms, sfu_url, metric, label)
);
