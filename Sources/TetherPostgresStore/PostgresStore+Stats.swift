import PostgresNIO
import TetherEventLog

extension PostgresStore {
    /// The same figures as the SQLite store's, from the same rollups and edges: whole
    /// days, hours and minutes from `stats_rollups`, the partial minutes at either end
    /// (and a call's or a user's figures, and `group_by=call_id`) from the events.
    public func stats(_ query: StatsQuery) async throws -> EventStats {
        var tally = StatsTally()
        var raw = [query.sinceMs..<max(query.sinceMs, query.untilMs)]
        if query.usesRollups {
            let window = RollupWindow(sinceMs: query.sinceMs, untilMs: query.untilMs)
            tally = try await rollupTally(window.rollups, sfuURL: query.sfuURL, byNode: query.groupBy == .sfuURL)
            raw = window.raw
        }
        for range in raw where !range.isEmpty {
            tally.merge(try await rawTally(query, since: range.lowerBound, until: range.upperBound))
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

    /// The figures of the events in `[since, until)` matching `query`'s filters: per
    /// type and label, and recoveries per exact duration (bucketed here).
    private func rawTally(_ query: StatsQuery, since: Int64, until: Int64) async throws -> StatsTally {
        var tally = StatsTally()
        // The window as id ranges (see idRanges): the statements below seek them.
        let ranges = try await idRanges(since: since, until: until)
        guard !ranges.isEmpty else { return tally }
        // The filter every figure shares, bound anew in each statement.
        func filter(_ sql: inout SQL) {
            var clauses = ["time_ms >= \(sql.bind(since))", "time_ms < \(sql.bind(until))", PostgresStore.rangeClause(ranges, &sql)]
            if let sfuURL = query.sfuURL { clauses.append("sfu_url = \(sql.bind(sfuURL))") }
            if let callID = query.callID { clauses.append("session_id IN (SELECT id FROM sessions WHERE call_id = \(sql.bind(callID)))") }
            if let userID = query.userID { clauses.append("session_id IN (SELECT id FROM sessions WHERE user_id = \(sql.bind(userID)))") }
            sql.append(" AND " + clauses.joined(separator: " AND "))
        }
        let group = groupSQL(query.groupBy)
        for counted in StatsTally.countedTypes {
            let label = counted.labelColumn.map { "COALESCE(\($0), 'unknown')" } ?? "''"
            var sql = SQL("SELECT \(group) AS key, \(label) AS label, COUNT(*) AS n FROM events WHERE type = ")
            sql.append(sql.bind(counted.type))
            filter(&sql)
            sql.append(" GROUP BY 1, 2")
            for (key, label, count) in try await pools.reader.query(sql.query, logger: logger).decode((String, String, Int64).self) {
                tally.add(group: key, type: counted.type, label: label, count: Int(count))
            }
        }
        var recoveries = SQL("SELECT \(group) AS key, duration_ms, COUNT(*) AS n FROM events WHERE type = 'reconnected'")
        filter(&recoveries)
        recoveries.append(" GROUP BY 1, 2")
        for (key, duration, count) in try await pools.reader.query(recoveries.query, logger: logger).decode((String, Int64?, Int64).self) {
            tally.addRecoveries(group: key, bucket: RecoveryBuckets.index(of: duration), count: Int(count))
        }
        return tally
    }
}
