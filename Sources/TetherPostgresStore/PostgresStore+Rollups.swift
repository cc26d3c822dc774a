import PostgresNIO
import TetherEventLog

extension PostgresStore {
    /// Adds `rollup` to the stored rows in one statement (rows in one order for every
    /// writer, so two instances lock them alike and never deadlock).
    static func store(_ rollup: StatsRollup, on connection: PostgresConnection, logger: Logger) async throws {
        guard !rollup.isEmpty else { return }
        var spans: [Int64] = [], starts: [Int64] = [], nodes: [String] = [], metrics: [String] = [], labels: [String] = [], counts: [Int64] = []
        for (key, count) in rollup.sortedRows {
            spans.append(key.spanMs)
            starts.append(key.startMs)
            nodes.append(key.node)
            metrics.append(key.metric)
            labels.append(key.label)
            counts.append(Int64(count))
        }
        try await connection.query("""
            INSERT INTO stats_rollups (span_ms, start_ms, sfu_url, metric, label, n)
            SELECT * FROM UNNEST(\(spans)::bigint[], \(starts)::bigint[], \(nodes)::text[], \(metrics)::text[], \(labels)::text[], \(counts)::bigint[])
            ON CONFLICT (span_ms, start_ms, sfu_url, metric, label) DO UPDATE SET n = stats_rollups.n + EXCLUDED.n
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
        for part in parts {
            var sql = SQL("SELECT sfu_url, metric, label, SUM(n)::bigint FROM stats_rollups WHERE span_ms = ")
            sql.append(sql.bind(part.spanMs))
            sql.append(" AND start_ms >= \(sql.bind(part.fromMs)) AND start_ms < \(sql.bind(part.untilMs))")
            if let sfuURL { sql.append(" AND sfu_url = \(sql.bind(sfuURL))") }
            sql.append(" GROUP BY 1, 2, 3")
            for (node, metric, label, count) in try await pools.reader.query(sql.query, logger: logger)
                .decode((String, String, String, Int64).self)
            {
                StatsRollup.add(metric: metric, label: label, node: node, count: Int(count), byNode: byNode, to: &tally)
            }
        }
        return tally
    }
}
