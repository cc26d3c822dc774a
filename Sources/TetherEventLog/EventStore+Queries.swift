import Foundation
import GRDB
import TetherEvents

extension EventStore {
    // MARK: - Writes (called by EventLog's single writer)

    /// The node column is the node the event names, else its session's node as stored
    /// now (a seek on the sessions' unique id index).
    public static let insertEventSQL = """
        INSERT INTO events (session_id, type, time_ms, generation, reason, strategy, duration_ms, payload, sfu_url)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(?9, (SELECT sfu_url FROM sessions WHERE id = ?1)))
        """

    /// Inserts `event` with the prepared `statement` and returns it with its new id.
    static func insert(_ event: SessionEvent, payload: String, statement: Statement, in db: Database) throws -> SessionEvent {
        let (reason, strategy, duration) = event.statsColumns
        statement.setUncheckedArguments([
            event.sessionID, event.type, event.timeMs, Int64(event.generation), reason, strategy, duration, payload,
            event.namedSFUURL,
        ])
        try statement.execute()
        var stored = event
        stored.id = db.lastInsertedRowID
        return stored
    }

    static func upsert(_ record: SessionRecord, in db: Database) throws {
        try record.upsert(db)
    }

    // MARK: - Reads

    public func storedEvents(_ query: EventQuery) async throws -> [StoredEvent] {
        try await database.read { db in
            let types = Array(Set(query.types)).sorted()
            guard types.count > 1 else {
                return try Self.fetchEvents(query, type: types.first, in: db)
            }
            // One seek per type, each already in id order and limited, then merged: a
            // `type IN (...)` would have SQLite gather every match and sort it.
            let merged = try types.flatMap { try Self.fetchEvents(query, type: $0, in: db) }
            return Array(merged.sorted { $0.id < $1.id }.prefix(query.limit))
        }
    }

    /// The events matching `query` with at most one `type`, oldest first.
    static func fetchEvents(_ query: EventQuery, type: String?, in db: Database) throws -> [StoredEvent] {
        // Equality filters from the most to the least selective. The first present one
        // drives the query through its `(column, id)` index; the others are written
        // `+column`, which SQLite cannot serve from an index, so its planner (which has
        // no statistics) never walks a large index like `type` when a narrow one applies.
        var equalities: [(column: String, value: String)] = []
        if let sessionID = query.sessionID { equalities.append(("session_id", sessionID)) }
        if let sfuURL = query.sfuURL { equalities.append(("sfu_url", sfuURL)) }
        if let reason = query.reason { equalities.append(("reason", reason)) }
        if let strategy = query.strategy { equalities.append(("strategy", strategy)) }
        if let type { equalities.append(("type", type)) }
        var (clauses, arguments) = sessionSetClauses(callID: query.callID, userID: query.userID, driving: query.sessionID == nil)
        let drivenBySessions = query.sessionID == nil && !clauses.isEmpty
        for (index, filter) in equalities.enumerated() {
            let indexed = index == 0 && !drivenBySessions
            clauses.append("\(indexed ? "" : "+")\(filter.column) = ?")
            arguments += [filter.value]
        }
        if query.sinceMs != nil || query.untilMs != nil {
            guard let window = try windowClauses(since: query.sinceMs, until: query.untilMs, in: db) else { return [] }
            clauses += window.clauses
            arguments += window.arguments
        }
        if let after = query.afterID { clauses.append("id > ?"); arguments += [after] }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        arguments += [query.limit]
        return try Row.fetchAll(db, sql: "SELECT id, time_ms, payload FROM events \(whereSQL) ORDER BY id LIMIT ?", arguments: arguments)
            .map { row in StoredEvent(id: row["id"], timeMs: row["time_ms"], payload: row["payload"]) }
    }

    /// A call's or a user's sessions, which are few: `session_id IN (their ids)`. When
    /// `driving`, the first set drives the query through `events_session`; otherwise
    /// (and for the second) it is written `+session_id`, tested on the rows another
    /// index yields.
    static func sessionSetClauses(callID: String?, userID: String?, driving: Bool) -> (clauses: [String], arguments: StatementArguments) {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        for (column, value) in [("call_id", callID), ("user_id", userID)] {
            guard let value else { continue }
            let indexed = driving && clauses.isEmpty
            clauses.append("\(indexed ? "" : "+")session_id IN (SELECT id FROM sessions WHERE \(column) = ?)")
            arguments += [value]
        }
        return (clauses, arguments)
    }

    /// A time window as id ranges (within a clock segment time never goes backwards in
    /// id order), which every `(column, id)` index can seek, plus the time test for the
    /// exact edges; nil when no stored event can fall in it.
    static func windowClauses(since: Int64?, until: Int64?, in db: Database) throws -> (clauses: [String], arguments: StatementArguments)? {
        let ranges = try idRanges(since: since, until: until, in: db)
        guard !ranges.isEmpty else { return nil }
        var clauses = ["(" + ranges.map { _ in "(id >= ? AND id < ?)" }.joined(separator: " OR ") + ")"]
        var arguments: StatementArguments = []
        for range in ranges { arguments += [range.lowerBound, range.upperBound] }
        if let since { clauses.append("time_ms >= ?"); arguments += [since] }
        if let until { clauses.append("time_ms < ?"); arguments += [until] }
        return (clauses, arguments)
    }

    /// The clock segments as id ranges `[first, next first)`, oldest first. Within one,
    /// time never goes backwards in id order (a backward clock jump starts the next).
    static func segments(in db: Database) throws -> [Range<Int64>] {
        guard let maxID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events"),
              let minID = try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM events")
        else { return [] }
        let starts = try Int64.fetchAll(db, sql: "SELECT first_id FROM clock_segments WHERE first_id > ? AND first_id <= ? ORDER BY first_id", arguments: [minID, maxID])
        let bounds = [minID] + starts + [maxID + 1]
        return zip(bounds, bounds.dropFirst()).map { $0..<$1 }
    }

    /// More clock segments than this (a clock that keeps stepping back) and a time
    /// bound becomes one id range spanning them, with the exact time test doing the
    /// rest: slower, still right, and never a statement too large for SQLite.
    static let maxSegmentRanges = 32

    /// Id ranges that hold every event whose time lies in `[since, until)`: one per
    /// clock segment that has any (binary search inside each: rowid seeks only). Callers
    /// also test `time_ms`, which makes the result exact.
    static func idRanges(since: Int64?, until: Int64?, in db: Database) throws -> [Range<Int64>] {
        let ranges: [Range<Int64>] = try segments(in: db).compactMap { segment in
            let first = try since.map { try firstID(atOrAfter: $0, in: segment, db: db) } ?? segment.lowerBound
            let end = try until.map { try firstID(atOrAfter: $0, in: segment, db: db) } ?? segment.upperBound
            return first < end ? first..<end : nil
        }
        guard ranges.count > maxSegmentRanges, let first = ranges.first, let last = ranges.last else { return ranges }
        return [first.lowerBound..<last.upperBound]
    }

    /// The smallest id of `segment` whose time is at or after `timeMs`, or the segment's
    /// end when every event in it is older.
    static func firstID(atOrAfter timeMs: Int64, in segment: Range<Int64>, db: Database) throws -> Int64 {
        // Cached: a search is some twenty seeks, and preparing the statement for each
        // cost more than the seek (GRDB's authorizer runs at every prepare).
        let statement = try db.cachedStatement(sql: "SELECT id, time_ms FROM events WHERE id >= ? AND id < ? ORDER BY id LIMIT 1")
        func next(atOrAfter id: Int64) throws -> (id: Int64, time: Int64)? {
            try Row.fetchOne(statement, arguments: [id, segment.upperBound]).map { ($0["id"], $0["time_ms"]) }
        }
        var low = segment.lowerBound
        var high = segment.upperBound
        while low < high {
            let middle = low + (high - low) / 2
            guard let row = try next(atOrAfter: middle) else {
                high = middle
                continue
            }
            // No row lies in [middle, row.id), so the answer is below middle or is row.id.
            if row.time >= timeMs { high = middle } else { low = row.id + 1 }
        }
        guard let found = try next(atOrAfter: low), found.time >= timeMs else { return segment.upperBound }
        return found.id
    }

    /// The time of the newest event (0 when none): where the writer's clock starts.
    public func lastEventTime() async throws -> Int64 {
        try await database.read { db in try Int64.fetchOne(db, sql: "SELECT time_ms FROM events ORDER BY id DESC LIMIT 1") ?? 0 }
    }

    /// The largest event id stored (0 when none).
    public func lastEventID() async throws -> Int64 {
        try await database.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events") ?? 0 }
    }

    public func session(id: String) async throws -> SessionRecord? {
        try await database.read { db in try SessionRecord.fetchOne(db, key: ["id": id]) }
    }

    /// Read through GRDB's async accessor: it runs on GRDB's reader, not on the caller's
    /// (cooperative) thread.
    public func session(idempotencyKey: String) async throws -> SessionRecord? {
        try await database.read { db in try SessionRecord.fetchOne(db, key: ["idempotency_key": idempotencyKey]) }
    }

    public func sessions(_ query: SessionQuery) async throws -> [SessionRecord] {
        try await database.read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            // As for events: the first equality present drives the query through its
            // `(column, seq)` index, the rest are tested on the rows it yields. Metadata
            // pairs come first: one seek on `session_metadata` each.
            let equalities = [("call_id", query.callID), ("user_id", query.userID), ("sfu_url", query.sfuURL), ("state", query.state)]
                .compactMap { column, value in value.map { (column, $0) } }
            for (key, value) in query.metadata.sorted(by: { $0.key < $1.key }) {
                clauses.append("seq IN (SELECT seq FROM session_metadata WHERE key = ? AND value = ?)")
                arguments += [key, value]
            }
            for (index, filter) in equalities.enumerated() {
                let indexed = index == 0 && query.metadata.isEmpty
                clauses.append("\(indexed ? "" : "+")\(filter.0) = ?")
                arguments += [filter.1]
            }
            if let since = query.createdSinceMs { clauses.append("created_at_ms >= ?"); arguments += [since] }
            if let until = query.createdUntilMs { clauses.append("created_at_ms < ?"); arguments += [until] }
            if let before = query.beforeSeq { clauses.append("seq < ?"); arguments += [before] }
            let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments += [query.limit]
            return try SessionRecord.fetchAll(db, sql: "SELECT * FROM sessions \(whereSQL) ORDER BY seq DESC LIMIT ?", arguments: arguments)
        }
    }

    /// Sessions that were live when the process last stopped: resumed at start.
    public func liveSessions() async throws -> [SessionRecord] {
        try await database.read { db in
            try SessionRecord
                .filter(![SessionState.left.rawValue, SessionState.failed.rawValue, SessionState.ended.rawValue].contains(Column("state")))
                .order(Column("seq"))
                .fetchAll(db)
        }
    }
}

extension SessionEvent {
    /// The SFU node this event itself names (where a reconnection landed, where a
    /// migration went); nil when the event happened on its session's current node.
    public var namedSFUURL: String? {
        switch kind {
        case .sessionCreated(_, _, let sfuURL), .joined(let sfuURL, _), .resumedAfterRestart(let sfuURL, _),
             .staleSessionDestroyed(let sfuURL, _):
            sfuURL
        case .reconnected(_, _, _, let sfuURL, _): sfuURL
        case .migrated(_, let to): to
        default: nil
        }
    }

    /// `reason`, `strategy` and `duration_ms`, copied into their own columns for stats.
    public var statsColumns: (String?, String?, Int64?) {
        switch kind {
        case .connectionLost(let reason, _, _): (reason.rawValue, nil, nil)
        case .reconnectStarted(let strategy, let trigger): (trigger.rawValue, strategy.rawValue, nil)
        case .reconnectAttemptFailed(let strategy, _, let step, _): (step.rawValue, strategy.rawValue, nil)
        case .reconnected(let strategy, _, let duration, _, _): (nil, strategy.rawValue, duration)
        case .reconnectFailed(let reason, _, let duration): (reason, nil, duration)
        case .strategyEscalated(_, let to, let reason): (reason, to.rawValue, nil)
        case .left(let reason), .callEnded(let reason), .goAway(let reason): (reason, nil, nil)
        case .reconnectDelayed(let reason, let delay): (reason, nil, delay)
        default: (nil, nil, nil)
        }
    }
}
