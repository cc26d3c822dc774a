import Foundation
import GRDB
import TetherEvents

extension EventStore {
    // MARK: - Writes (called by EventLog's single writer)

    public static let insertEventSQL = """
        INSERT INTO events (session_id, type, time_ms, generation, reason, strategy, duration_ms, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts `event` with the prepared `statement` and returns it with its new id.
    static func insert(_ event: SessionEvent, payload: String, statement: Statement, in db: Database) throws -> SessionEvent {
        let (reason, strategy, duration) = event.statsColumns
        statement.setUncheckedArguments([
            event.sessionID, event.type, event.timeMs, Int64(event.generation), reason, strategy, duration, payload,
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

    public func events(_ query: EventQuery) async throws -> [SessionEvent] {
        try await database.read { db in
            let decoder = JSONDecoder()
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let sessionID = query.sessionID { clauses.append("session_id = ?"); arguments += [sessionID] }
            if let type = query.type { clauses.append("type = ?"); arguments += [type] }
            // Time bounds become id ranges (within a clock segment time never goes
            // backwards in id order), which the session and type indexes can use; the
            // time test stays for clarity.
            if query.sinceMs != nil || query.untilMs != nil {
                let ranges = try Self.idRanges(since: query.sinceMs, until: query.untilMs, in: db)
                guard !ranges.isEmpty else { return [] }
                clauses.append("(" + ranges.map { _ in "(id >= ? AND id < ?)" }.joined(separator: " OR ") + ")")
                for range in ranges { arguments += [range.lowerBound, range.upperBound] }
                if let since = query.sinceMs { clauses.append("time_ms >= ?"); arguments += [since] }
                if let until = query.untilMs { clauses.append("time_ms < ?"); arguments += [until] }
            }
            if let after = query.afterID { clauses.append("id > ?"); arguments += [after] }
            let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            arguments += [query.limit]
            return try Row.fetchAll(db, sql: "SELECT id, time_ms, payload FROM events \(whereSQL) ORDER BY id LIMIT ?", arguments: arguments)
                .map { row in
                    var event = try decoder.decode(SessionEvent.self, from: Data((row["payload"] as String).utf8))
                    event.id = row["id"]
                    // The stored time, which the writer keeps from going backwards.
                    event.timeMs = row["time_ms"]
                    return event
                }
        }
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
        func next(atOrAfter id: Int64) throws -> (id: Int64, time: Int64)? {
            try Row.fetchOne(
                db, sql: "SELECT id, time_ms FROM events WHERE id >= ? AND id < ? ORDER BY id LIMIT 1",
                arguments: [id, segment.upperBound]
            ).map { ($0["id"], $0["time_ms"]) }
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
    func lastEventTime() throws -> Int64 {
        try database.read { db in try Int64.fetchOne(db, sql: "SELECT time_ms FROM events ORDER BY id DESC LIMIT 1") ?? 0 }
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
            var request = SessionRecord.order(Column("seq").desc).limit(query.limit)
            if let state = query.state { request = request.filter(Column("state") == state) }
            if let callID = query.callID { request = request.filter(Column("call_id") == callID) }
            if let before = query.beforeSeq { request = request.filter(Column("seq") < before) }
            return try request.fetchAll(db)
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
