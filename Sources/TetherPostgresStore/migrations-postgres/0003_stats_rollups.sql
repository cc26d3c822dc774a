-- Per-day, per-hour and per-minute aggregates of the events /v1/stats counts, per node
-- (sfu_url), as on SQLite (its migration 0012): `cell` holds the counts by type and
-- label and the recoveries by fine log-scale bucket (RollupCell.swift). Written in the
-- events' transaction; filled for existing history by this migration
-- (PostgresStore+Rollups.swift).
CREATE TABLE stats_rollups (
    span_ms BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    sfu_url TEXT NOT NULL,
    cell BYTEA NOT NULL,
    PRIMARY KEY (span_ms, start_ms, sfu_url)
);
