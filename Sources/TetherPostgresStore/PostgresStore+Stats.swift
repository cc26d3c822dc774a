import PostgresNIO
import TetherEventLog

extension PostgresStore {
    /// The same figures as the SQLite store's, computed in SQL: counts grouped by
    /// column, the histogram by bucket, nearest-rank percentiles with window functions.
    public func stats(_ query: StatsQuery) async throws -> EventStats {
        // The window as id ranges (see idRanges): the statements below seek them.
        let ranges = try await idRanges(since: query.sinceMs, until: query.untilMs)
        // The filter every figure shares, bound anew in each statement.
        let filter: @Sendable (inout SQL) -> Void = { sql in
            var clauses = ["time_ms >= \(sql.bind(query.sinceMs))", "time_ms < \(sql.bind(query.untilMs))"]
            // No range: nothing can match (an always-false test keeps the SQL whole).
            clauses.append(ranges.isEmpty ? "FALSE" : PostgresStore.rangeClause(ranges, &sql))
            if let sfuURL = query.sfuURL { clauses.append("sfu_url = \(sql.bind(sfuURL))") }
            if let callID = query.callID { clauses.append("session_id IN (SELECT id FROM sessions WHERE call_id = \(sql.bind(callID)))") }
            if let userID = query.userID { clauses.append("session_id IN (SELECT id FROM sessions WHERE user_id = \(sql.bind(userID)))") }
            sql.append(" AND " + clauses.joined(separator: " AND "))
        }
        func grouped(_ type: String, by column: String) async throws -> [String: Int] {
            var sql = SQL("SELECT COALESCE(\(column), 'unknown') AS key, COUNT(*) AS n FROM events WHERE type = ")
            sql.append(sql.bind(type))
            filter(&sql)
            sql.append(" GROUP BY 1")
            var result: [String: Int] = [:]
            for (key, count) in try await pools.reader.query(sql.query, logger: logger).decode((String, Int64).self) {
                result[key, default: 0] += Int(count)
            }
            return result
        }
        let started = try await grouped("reconnect_started", by: "strategy")
        let failed = try await grouped("reconnect_attempt_failed", by: "strategy")
        let succeeded = try await grouped("reconnected", by: "strategy")
        let strategies = Set(started.keys).union(failed.keys).union(succeeded.keys)
        let order = ["fast", "rejoin", "migrate", "disconnect"]
        let outcomes = strategies.sorted { (order.firstIndex(of: $0) ?? 9, $0) < (order.firstIndex(of: $1) ?? 9, $1) }.map {
            EventStats.StrategyOutcome(strategy: $0, started: started[$0] ?? 0, attemptsFailed: failed[$0] ?? 0, succeeded: succeeded[$0] ?? 0)
        }

        let bounds = EventStats.histogramBoundsMs
        let bucket = "CASE " + bounds.enumerated().map { "WHEN duration_ms <= \($0.element) THEN \($0.offset)" }.joined(separator: " ")
            + " ELSE \(bounds.count) END"
        var histogram = Array(repeating: 0, count: bounds.count + 1)
        var histogramSQL = SQL("SELECT \(bucket) AS bucket, COUNT(*) AS n FROM events WHERE type = 'reconnected'")
        filter(&histogramSQL)
        histogramSQL.append(" GROUP BY 1")
        for (index, count) in try await pools.reader.query(histogramSQL.query, logger: logger).decode((Int32, Int64).self) {
            histogram[Int(index)] = Int(count)
        }
        let overall = try await percentiles(groupSQL: "''", filter: filter)[""] ?? [:]
        var groups: [EventStats.Group] = []
        if let grouping = query.groupBy { groups = try await self.groups(by: grouping, filter: filter) }
        return EventStats(
            sinceMs: query.sinceMs, untilMs: query.untilMs,
            lossesByReason: try await grouped("connection_lost", by: "reason"),
            reconnectsByStrategy: outcomes,
            reconnectsFailed: try await grouped("reconnect_failed", by: "reason"),
            reconnectsDelayed: try await grouped("reconnect_delayed", by: "reason"),
            recoveryCount: histogram.reduce(0, +),
            recoveryPercentilesMs: overall,
            recoveryHistogram: histogram,
            groups: groups)
    }

    func groupSQL(_ grouping: StatsQuery.Grouping) -> String {
        switch grouping {
        case .sfuURL: "COALESCE(sfu_url, 'unknown')"
        case .callID: "COALESCE((SELECT call_id FROM sessions WHERE sessions.id = events.session_id), 'unknown')"
        }
    }

    /// Nearest-rank percentiles per group, only the rows at the percentile ranks returned.
    func percentiles(groupSQL: String, filter: (inout SQL) -> Void) async throws -> [String: [Int: Int64]] {
        let rankSQL = EventStats.percentiles.map { "rank = (\($0) * n + 99) / 100" }.joined(separator: " OR ")
        // NULLS FIRST: the order SQLite gives, so both stores rank alike.
        var inner = SQL("""
            SELECT \(groupSQL) AS key, duration_ms,
                ROW_NUMBER() OVER (PARTITION BY \(groupSQL) ORDER BY duration_ms NULLS FIRST) AS rank,
                COUNT(*) OVER (PARTITION BY \(groupSQL)) AS n
            FROM events WHERE type = 'reconnected'
            """)
        filter(&inner)
        let sql = PostgresQuery(unsafeSQL: "SELECT key, n, rank, duration_ms FROM (\(inner.text)) ranked WHERE \(rankSQL)", binds: inner.binds)
        var result: [String: [Int: Int64]] = [:]
        for (key, count, rank, duration) in try await pools.reader.query(sql, logger: logger).decode((String, Int64, Int64, Int64?).self) {
            for p in EventStats.percentiles where EventStats.rank(percentile: p, count: Int(count)) == Int(rank) {
                if let duration { result[key, default: [:]][p] = duration }
            }
        }
        return result
    }

    func groups(by grouping: StatsQuery.Grouping, filter: (inout SQL) -> Void) async throws -> [EventStats.Group] {
        let groupSQL = groupSQL(grouping)
        var sql = SQL("""
            SELECT \(groupSQL) AS key, type, COUNT(*) AS n FROM events
            WHERE type IN ('joined', 'connection_lost', 'reconnect_started', 'reconnected', 'reconnect_failed')
            """)
        filter(&sql)
        sql.append(" GROUP BY 1, 2")
        var counts: [String: [String: Int]] = [:]
        for (key, type, count) in try await pools.reader.query(sql.query, logger: logger).decode((String, String, Int64).self) {
            counts[key, default: [:]][type] = Int(count)
        }
        let percentiles = try await percentiles(groupSQL: groupSQL, filter: filter)
        return EventStats.Group.ranked(counts: counts, percentiles: percentiles)
    }
}
