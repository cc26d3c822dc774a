import GRDB

extension EventStore {
    /// The figures of `query`: whole days, hours and minutes from the rollups, the
    /// partial minutes at either end from the events. A call's or a user's figures, and
    /// `group_by=call_id`, are counted from the events (the rollups are per node); a
    /// call's or a user's few sessions are seeks, not a walk of the window.
    public func stats(_ query: StatsQuery) async throws -> EventStats {
        try await database.read { db in
            var tally = StatsTally()
            var raw = [query.sinceMs..<max(query.sinceMs, query.untilMs)]
            if query.usesRollups {
                let window = RollupWindow(sinceMs: query.sinceMs, untilMs: query.untilMs)
                tally = try Self.rollupTally(window.rollups, sfuURL: query.sfuURL, byNode: query.groupBy == .sfuURL, in: db)
                raw = window.raw
            }
            for range in raw where !range.isEmpty {
                tally.merge(try Self.rawTally(query, since: range.lowerBound, until: range.upperBound, in: db))
            }
            return tally.stats(for: query)
        }
    }

    /// The SQL value each event is grouped by.
    private static func groupSQL(_ grouping: StatsQuery.Grouping?) -> String {
        switch grouping {
        case nil: "''"
        case .sfuURL: "COALESCE(sfu_url, 'unknown')"
        case .callID: "COALESCE((SELECT call_id FROM sessions WHERE sessions.id = events.session_id), 'unknown')"
        }
    }

    /// The figures of the events in `[since, until)` matching `query`'s filters,
    /// counted in SQL: per type and label, and recoveries per exact duration (bucketed here).
    private static func rawTally(_ query: StatsQuery, since: Int64, until: Int64, in db: Database) throws -> StatsTally {
        var tally = StatsTally()
        // The window as id ranges (one per clock segment), so every count walks the
        // (type, id) index; the other filters are tested on the rows it yields.
        guard let window = try windowClauses(since: since, until: until, in: db) else { return tally }
        var clauses = window.clauses
        var filter = window.arguments
        if let sfuURL = query.sfuURL { clauses.append("+sfu_url = ?"); filter += [sfuURL] }
        // A call's or a user's few sessions drive the counts through `events_session`
        // (`+type` then keeps SQLite off the large type index): a seek per session,
        // not a walk of every event of the type in the window.
        let sessionSets = sessionSetClauses(callID: query.callID, userID: query.userID, driving: true)
        clauses += sessionSets.clauses
        filter += sessionSets.arguments
        let filterSQL = clauses.joined(separator: " AND ")
        let type = sessionSets.clauses.isEmpty ? "type" : "+type"
        let group = groupSQL(query.groupBy)
        for counted in StatsTally.countedTypes {
            let label = counted.labelColumn.map { "COALESCE(\($0), 'unknown')" } ?? "''"
            let rows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: "SELECT \(group) AS key, \(label) AS label, COUNT(*) AS n FROM events WHERE \(type) = ? AND \(filterSQL) GROUP BY 1, 2"),
                arguments: [counted.type] + filter)
            while let row = try rows.next() {
                tally.add(group: row["key"], type: counted.type, label: row["label"], count: row["n"])
            }
        }
        let recoveries = try Row.fetchCursor(
            db.cachedStatement(
                sql: "SELECT \(group) AS key, duration_ms, COUNT(*) AS n FROM events WHERE \(type) = 'reconnected' AND \(filterSQL) GROUP BY 1, 2"),
            arguments: filter)
        while let row = try recoveries.next() {
            tally.addRecoveries(group: row["key"], bucket: RecoveryBuckets.index(of: row["duration_ms"]), count: row["n"])
        }
        return tally
    }
}
