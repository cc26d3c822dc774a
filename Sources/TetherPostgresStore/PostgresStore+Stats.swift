import PostgresNIO
import TetherEventLog

extension PostgresStore {
    /// The same figures as the SQLite store's, from the same rollups and edges: whole
    /// days, hours and minutes from `stats_rollups`, the partial minutes at either end
    /// (and a call's or a user's figures, and `group_by=call_id`) from the events.
    public func stats(_ query: StatsQuery) async throws -> EventStats {
        guard query.usesRollups else {
            return try await rawTally(query, since: query.sinceMs, until: max(query.sinceMs, query.untilMs), edge: false).stats(for: query)
        }
        let window = RollupWindow(sinceMs: query.sinceMs, untilMs: query.untilMs)
        var tally = try await rollupTally(window.rollups, sfuURL: query.sfuURL, byNode: query.groupBy == .sfuURL)
        for range in window.raw where !range.isEmpty {
            tally.merge(try await rawTally(query, since: range.lowerBound, until: range.upperBound, edge: true))
        }
        return tally.stats(for: query)
    }

    func groupSQL(_ grouping: StatsQuery.Grouping?) -> String {
        switch grouping {
        case nil: "''"
        case .sfuURL: "COALESCE(sfu_url, 'unknown')"
        case .callID: "COALESCE((SELECT call_id FROM sessions WHERE sessions.id = events.session_id), 'unknown')"
        }
    }

    /// The figures of the events in `[since, until)` matching `query`'s filters, in one
    /// statement: per type and label, and recoveries per exact duration (bucketed here).
    /// An `edge` (a partial minute beside the rollups) is found through `events_time`
    /// directly; a whole window through its id ranges (see idRanges).
    private func rawTally(_ query: StatsQuery, since: Int64, until: Int64, edge: Bool) async throws -> StatsTally {
        var tally = StatsTally()
        let ranges = edge ? [] : try await idRanges(since: since, until: until)
        guard edge || !ranges.isEmpty else { return tally }
        // The filter both halves share, bound anew in each.
        func filter(_ sql: inout SQL) {
            var clauses = ["time_ms >= \(sql.bind(since))", "time_ms < \(sql.bind(until))"]
            if !edge { clauses.append(PostgresStore.rangeClause(ranges, &sql)) }
            if let sfuURL = query.sfuURL { clauses.append("sfu_url = \(sql.bind(sfuURL))") }
            if let callID = query.callID { clauses.append("session_id IN (SELECT id FROM sessions WHERE call_id = \(sql.bind(callID)))") }
            if let userID = query.userID { clauses.append("session_id IN (SELECT id FROM sessions WHERE user_id = \(sql.bind(userID)))") }
            sql.append(" AND " + clauses.joined(separator: " AND "))
        }
        let group = groupSQL(query.groupBy)
        let labels = StatsTally.countedTypes.map { counted in
            "WHEN '\(counted.type)' THEN " + (counted.labelColumn.map { "COALESCE(\($0), 'unknown')" } ?? "''")
        }
        // One round trip: the counts (duration NULL) and the recoveries (label NULL).
        var sql = SQL("SELECT \(group), type, CASE type \(labels.joined(separator: " ")) END, NULL::bigint, COUNT(*) FROM events WHERE type = ANY(")
        sql.append(sql.bind(StatsTally.countedTypes.map(\.type)) + ")")
        filter(&sql)
        sql.append(" GROUP BY 1, 2, 3 UNION ALL SELECT \(group), 'recovery', NULL, duration_ms, COUNT(*) FROM events WHERE type = 'reconnected'")
        filter(&sql)
        sql.append(" GROUP BY 1, 4")
        for (key, type, label, duration, count) in try await pools.reader.query(sql.query, logger: logger)
            .decode((String, String, String?, Int64?, Int64).self)
        {
            if let label {
                tally.add(group: key, type: type, label: label, count: Int(count))
            } else {
                tally.addRecoveries(group: key, bucket: RecoveryBuckets.index(of: duration), count: Int(count))
            }
        }
        return tally
    }
}
