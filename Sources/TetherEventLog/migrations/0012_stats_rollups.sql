-- Per-day, per-hour and per-minute aggregates of the events /v1/stats counts, per node
-- (sfu_url): `cell` holds the counts by type and label (reason or strategy) and the
-- recoveries by fine log-scale bucket, in a small binary layout (RollupCell.swift).
-- Written in the same transaction as the events; filled for existing history by this
-- migration (EventStore+Rollups.swift).
CREATE TABLE stats_rollups (
    span_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    sfu_url TEXT NOT NULL,
    cell BLOB NOT NULL,
    PRIMARY KEY (span_ms, start_ms, sfu_url)
) WITHOUT ROWID;
