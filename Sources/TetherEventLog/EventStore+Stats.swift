import GRDB

extension EventStore {
    public func stats(_ query: StatsQuery) async throws -> EventStats {
        try await database.read { db in
            // The window as id ranges (one per clock segment), so every count walks the
            // (type, id) index; the other filters are tested on the rows it yields.
            guard let window = try Self.windowClauses(since: query.sinceMs, until: query.untilMs, in: db) else { return Self.emptyStats(query) }
            var clauses = window.clauses
            var filter = window.arguments
            if let sfuURL = query.sfuURL { clauses.append("+sfu_url = ?"); filter += [sfuURL] }
            // A call's or a user's few sessions drive the counts through `events_session`
            // (`+type` then keeps SQLite off the large type index): a seek per session,
            // not a walk of every event of the type in the window.
            let sessionSets = Self.sessionSetClauses(callID: query.callID, userID: query.userID, driving: true)
            clauses += sessionSets.clauses
            filter += sessionSets.arguments
            let filterSQL = clauses.joined(separator: " AND ")
            let type = sessionSets.clauses.isEmpty ? "type" : "+type"

            func grouped(_ eventType: String, by column: String) throws -> [String: Int] {
                var result: [String: Int] = [:]
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT \(column) AS key, COUNT(*) AS n FROM events WHERE \(type) = ? AND \(filterSQL) GROUP BY \(column)",
                    arguments: [eventType] + filter)
                {
                    result[row["key"] ?? "unknown", default: 0] += row["n"]
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
            let histogram = try Self.recoveryHistogram(type: type, filterSQL: filterSQL, arguments: filter, in: db)
            let overall = try Self.recoveryPercentiles(type: type, groupSQL: "''", filterSQL: filterSQL, arguments: filter, in: db)[""] ?? [:]
            return EventStats(
                sinceMs: query.sinceMs, untilMs: query.untilMs,
                lossesByReason: try grouped("connection_lost", by: "reason"),
                reconnectsByStrategy: outcomes,
                reconnectsFailed: try grouped("reconnect_failed", by: "reason"),
                reconnectsDelayed: try grouped("reconnect_delayed", by: "reason"),
                recoveryCount: histogram.reduce(0, +),
                recoveryPercentilesMs: overall,
                recoveryHistogram: histogram,
                groups: try query.groupBy.map { try Self.groups(by: $0, type: type, filterSQL: filterSQL, arguments: filter, in: db) } ?? [])
        }
    }

    private static func emptyStats(_ query: StatsQuery) -> EventStats {
        EventStats(
            sinceMs: query.sinceMs, untilMs: query.untilMs, lossesByReason: [:], reconnectsByStrategy: [], reconnectsFailed: [:],
            reconnectsDelayed: [:], recoveryCount: 0, recoveryPercentilesMs: [:],
            recoveryHistogram: Array(repeating: 0, count: EventStats.histogramBoundsMs.count + 1), groups: [])
    }

    /// The SQL value each event is grouped by.
    private static func groupSQL(_ grouping: StatsQuery.Grouping) -> String {
        switch grouping {
        case .sfuURL: "COALESCE(sfu_url, 'unknown')"
        case .callID: "COALESCE((SELECT call_id FROM sessions WHERE sessions.id = events.session_id), 'unknown')"
        }
    }

    /// Recovery counts per histogram bucket, counted in SQL.
    private static func recoveryHistogram(type: String, filterSQL: String, arguments: StatementArguments, in db: Database) throws -> [Int] {
        let bounds = EventStats.histogramBoundsMs
        let bucketSQL = "CASE " + bounds.enumerated().map { "WHEN duration_ms <= \($0.element) THEN \($0.offset)" }.joined(separator: " ")
            + " ELSE \(bounds.count) END"
        var counts = Array(repeating: 0, count: bounds.count + 1)
        for row in try Row.fetchAll(
            db,
            sql: "SELECT \(bucketSQL) AS bucket, COUNT(*) AS n FROM events WHERE \(type) = 'reconnected' AND \(filterSQL) GROUP BY bucket",
            arguments: arguments)
        {
            counts[row["bucket"]] = row["n"]
        }
        return counts
    }

    /// Nearest-rank recovery percentiles per group, in one statement: SQLite ranks the
    /// durations of each group (window functions) and returns only the rows at the
    /// percentile ranks, so a window of millions of recoveries is never loaded.
    private static func recoveryPercentiles(
        type: String, groupSQL: String, filterSQL: String, arguments: StatementArguments, in db: Database
    ) throws -> [String: [Int: Int64]] {
        // ⌈p·n/100⌉ in integers; never 0 or above n for n ≥ 1 and p in 1...100.
        let rankSQL = EventStats.percentiles.map { "rank = (\($0) * n + 99) / 100" }.joined(separator: " OR ")
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT key, n, rank, duration_ms FROM (
                    SELECT \(groupSQL) AS key, duration_ms,
                        ROW_NUMBER() OVER (PARTITION BY \(groupSQL) ORDER BY duration_ms) AS rank,
                        COUNT(*) OVER (PARTITION BY \(groupSQL)) AS n
                    FROM events WHERE \(type) = 'reconnected' AND \(filterSQL))
                WHERE \(rankSQL)
                """,
            arguments: arguments)
        var result: [String: [Int: Int64]] = [:]
        for row in rows {
            let (key, count, rank): (String, Int, Int) = (row["key"], row["n"], row["rank"])
            for p in EventStats.percentiles where EventStats.rank(percentile: p, count: count) == rank {
                result[key, default: [:]][p] = row["duration_ms"]
            }
        }
        return result
    }

    private static func groups(
        by grouping: StatsQuery.Grouping, type: String, filterSQL: String, arguments: StatementArguments, in db: Database
    ) throws -> [EventStats.Group] {
        let groupSQL = groupSQL(grouping)
        var counts: [String: [String: Int]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT \(groupSQL) AS key, type, COUNT(*) AS n FROM events
                WHERE \(type) IN ('joined', 'connection_lost', 'reconnect_started', 'reconnected', 'reconnect_failed') AND \(filterSQL)
                GROUP BY key, type
                """,
            arguments: arguments)
        {
            counts[row["key"], default: [:]][row["type"]] = row["n"]
        }
        let percentiles = try recoveryPercentiles(type: type, groupSQL: groupSQL, filterSQL: filterSQL, arguments: arguments, in: db)
        return EventStats.Group.ranked(counts: counts, percentiles: percentiles)
    }
}
