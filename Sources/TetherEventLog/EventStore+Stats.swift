import GRDB

extension EventStore {
    public func stats(sinceMs: Int64, untilMs: Int64) async throws -> EventStats {
        try await database.read { db in
            // The window as id ranges (one per clock segment), so every count walks the
            // (type, id) index.
            let ranges = try Self.idRanges(since: sinceMs, until: untilMs, in: db)
            let windowSQL = ranges.isEmpty
                ? "0" : "(" + ranges.map { _ in "(id >= ? AND id < ?)" }.joined(separator: " OR ") + ") AND time_ms >= ? AND time_ms < ?"
            var window: StatementArguments = []
            for range in ranges { window += [range.lowerBound, range.upperBound] }
            if !ranges.isEmpty { window += [sinceMs, untilMs] }
            func grouped(_ type: String, by column: String) throws -> [String: Int] {
                var result: [String: Int] = [:]
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT \(column) AS key, COUNT(*) AS n FROM events WHERE type = ? AND \(windowSQL) GROUP BY \(column)",
                    arguments: [type] + window)
                {
                    result[row["key"] ?? "unknown"] = row["n"]
                }
                return result
            }
            let started = try grouped("reconnect_started", by: "strategy")
            let failed = try grouped("reconnect_attempt_failed", by: "strategy")
            let succeeded = try grouped("reconnected", by: "strategy")
            let strategies = Set(started.keys).union(failed.keys).union(succeeded.keys)
            let order = ["fast", "rejoin", "migrate", "disconnect"]
            let outcomes = strategies.sorted { (order.firstIndex(of: $0) ?? 9, $0) < (order.firstIndex(of: $1) ?? 9, $1) }.map {
                EventStats.StrategyOutcome(
                    strategy: $0, started: started[$0] ?? 0, attemptsFailed: failed[$0] ?? 0, succeeded: succeeded[$0] ?? 0)
            }
            let recoveries = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM events WHERE type = 'reconnected' AND \(windowSQL)", arguments: window) ?? 0
            var percentiles: [Int: Int64] = [:]
            if recoveries > 0 {
                for p in [50, 95, 99] {
                    percentiles[p] = try Int64.fetchOne(
                        db,
                        sql: "SELECT duration_ms FROM events WHERE type = 'reconnected' AND \(windowSQL) ORDER BY duration_ms LIMIT 1 OFFSET ?",
                        arguments: window + [EventStats.rank(percentile: p, count: recoveries) - 1])
                }
            }
            return EventStats(
                sinceMs: sinceMs, untilMs: untilMs,
                lossesByReason: try grouped("connection_lost", by: "reason"),
                reconnectsByStrategy: outcomes,
                reconnectsFailed: try grouped("reconnect_failed", by: "reason"),
                reconnectsDelayed: try grouped("reconnect_delayed", by: "reason"),
                recoveryCount: recoveries,
                recoveryPercentilesMs: percentiles)
        }
    }
}
