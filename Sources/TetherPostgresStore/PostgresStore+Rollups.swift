import PostgresNIO
import TetherEventLog

extension PostgresStore {
    /// The rollup of the rows a batch inserts, keyed by their values as stored: cleaned
    /// of NUL as the insert cleans them, so two nodes that differ only there are one
    /// key (one row may not be upserted twice in a statement).
    static func rollup(of rows: [EventRow]) -> StatsRollup {
        var rollup = StatsRollup()
        for row in rows {
            let (reason, strategy, duration) = row.event.statsColumns
            rollup.add(
                timeMs: row.event.timeMs, node: row.sfuURL.map(PostgresText.clean), type: row.event.type,
                reason: reason.map(PostgresText.clean), strategy: strategy.map(PostgresText.clean), durationMs: duration)
        }
        return rollup
    }

    /// Merges `rollup`'s cells into the stored rows: the stored ones are read and
    /// locked (`FOR UPDATE`, in one order for every writer), merged here, written back
    /// in one statement. A fleet's writers also hold the event-order lock by then, so
    /// two never merge the same new row at once.
    static func store(_ rollup: StatsRollup, on connection: PostgresConnection, logger: Logger) async throws {
        guard !rollup.isEmpty else { return }
        let keys = rollup.sortedKeys
        let spans = keys.map(\.spanMs), starts = keys.map(\.startMs), nodes = keys.map(\.node)
        var cells = rollup.cells
        let stored = try await connection.query("""
            SELECT r.span_ms, r.start_ms, r.sfu_url, r.cell FROM stats_rollups r
            JOIN UNNEST(\(spans)::bigint[], \(starts)::bigint[], \(nodes)::text[]) AS k(span_ms, start_ms, sfu_url)
              ON r.span_ms = k.span_ms AND r.start_ms = k.start_ms AND r.sfu_url = k.sfu_url
            ORDER BY 1, 2, 3 FOR UPDATE OF r
            """, logger: logger)
        for try await (span, start, node, bytes) in stored.decode((Int64, Int64, String, ByteBuffer).self) {
            let key = StatsRollup.Key(spanMs: span, startMs: start, node: node)
            cells[key]?.merge(try RollupCell(decoding: Array(bytes.readableBytesView)))
        }
        let blobs = keys.map { ByteBuffer(bytes: cells[$0]!.encoded()) }
        try await connection.query("""
            INSERT INTO stats_rollups (span_ms, start_ms, sfu_url, cell)
            SELECT * FROM UNNEST(\(spans)::bigint[], \(starts)::bigint[], \(nodes)::text[], \(blobs)::bytea[])
            ON CONFLICT (span_ms, start_ms, sfu_url) DO UPDATE SET cell = EXCLUDED.cell
            """, logger: logger)
    }

    /// Fills the rollups from the whole history (migration 0003), in id chunks.
    static func backfillRollups(on connection: PostgresConnection, logger: Logger, chunk: Int64 = 500_000) async throws {
        guard let row = try await connection.query("SELECT MIN(id), MAX(id) FROM events", logger: logger).collect().first,
            case let (lowest?, highest?) = try row.decode((Int64?, Int64?).self)
        else { return }
        let types = StatsTally.countedTypes.map(\.type)
        var start = lowest
        while start <= highest {
            let end = min(highest, start + chunk - 1)
            var rollup = StatsRollup()
            let rows = try await connection.query("""
                SELECT MIN(time_ms), sfu_url, type, reason, strategy, duration_ms, COUNT(*) FROM events
                WHERE id BETWEEN \(start) AND \(end) AND type = ANY(\(types))
                GROUP BY time_ms / 60000, sfu_url, type, reason, strategy, duration_ms
                """, logger: logger)
            for try await (time, node, type, reason, strategy, duration, count) in rows.decode(
                (Int64, String?, String, String?, String?, Int64?, Int64).self)
            {
                rollup.add(timeMs: time, node: node, type: type, reason: reason, strategy: strategy, durationMs: duration, count: Int(count))
            }
            try await store(rollup, on: connection, logger: logger)
            start = end + 1
        }
    }

    /// Deletes rollup buckets wholly before `cutoffMs` (one holding the cutoff keeps the
    /// counts of its pruned events until it, too, is past).
    func pruneRollups(before cutoffMs: Int64) async throws {
        for span in RollupWindow.spansMs {
            try await pools.writer.query(
                "DELETE FROM stats_rollups WHERE span_ms = \(span) AND start_ms <= \(cutoffMs - span)", logger: logger)
        }
    }

    /// The rollups' figures over `parts` (whole buckets), on one node or all, per node when asked.
    func rollupTally(_ parts: [RollupWindow.Part], sfuURL: String?, byNode: Bool) async throws -> StatsTally {
        var tally = StatsTally()
        guard !parts.isEmpty else { return tally }
        // Every part in one statement: one round trip.
        var sql = SQL("SELECT sfu_url, cell FROM stats_rollups WHERE (")
        let partClauses = parts.map { part in
            "(span_ms = \(sql.bind(part.spanMs)) AND start_ms >= \(sql.bind(part.fromMs)) AND start_ms < \(sql.bind(part.untilMs)))"
        }
        sql.append(partClauses.joined(separator: " OR ") + ")")
        if let sfuURL { sql.append(" AND sfu_url = \(sql.bind(sfuURL))") }
        for (node, cell) in try await pools.reader.query(sql.query, logger: logger).decode((String, ByteBuffer).self) {
            try RollupCell.add(Array(cell.readableBytesView), group: byNode ? node : "", to: &tally)
        }
        return tally
    }
}

extension PostgresStore {
    /// For `tether bench stats`: the database as today's release left it before the
    /// rollups (their table and their migration's record gone).
    public func dropRollupsForBench() async throws {
        try await pools.writer.query("DROP TABLE stats_rollups", logger: logger)
        try await pools.writer.query("DELETE FROM tether_migrations WHERE name = '0003_stats_rollups'", logger: logger)
    }
}
