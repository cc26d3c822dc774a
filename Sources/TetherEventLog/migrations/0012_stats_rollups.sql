-- Per-minute, per-hour and per-day aggregates of the events /v1/stats counts, per
-- node (sfu_url): counts by type and label (reason or strategy), and recoveries by
-- fine log-scale bucket (metric 'recovery_ms', label = the bucket's upper bound in
-- ms). Written in the same transaction as the events; filled for existing history
-- by this migration (EventStore+Rollups.swift).
CREATE TABLE stats_rollups (
    span_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    sfu_url TEXT NOT NULL,
    metric TEXT NOT NULL,
    label TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (span_ms, start_ms, sfu_url, metric, label)
) WITHOUT ROWID;
