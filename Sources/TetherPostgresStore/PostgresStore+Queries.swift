import Foundation
import PostgresNIO
import TetherEvents
import TetherEventLog

extension PostgresStore {
    public func storedEvents(_ query: EventQuery) async throws -> [StoredEvent] {
        var sql = SQL("SELECT id, time_ms, payload FROM events")
        var clauses: [String] = []
        let types = Array(Set(query.types)).sorted()
        if let sessionID = query.sessionID { clauses.append("session_id = \(sql.bind(sessionID))") }
        if let sfuURL = query.sfuURL { clauses.append("sfu_url = \(sql.bind(sfuURL))") }
        if let reason = query.reason { clauses.append("reason = \(sql.bind(reason))") }
        if let strategy = query.strategy { clauses.append("strategy = \(sql.bind(strategy))") }
        if types.count == 1 { clauses.append("type = \(sql.bind(types[0]))") }
        if types.count > 1 { clauses.append("type = ANY(\(sql.bind(types)))") }
        if let callID = query.callID { clauses.append("session_id IN (SELECT id FROM sessions WHERE call_id = \(sql.bind(callID)))") }
        if let userID = query.userID { clauses.append("session_id IN (SELECT id FROM sessions WHERE user_id = \(sql.bind(userID)))") }
        if query.sinceMs != nil || query.untilMs != nil {
            let ranges = try await idRanges(since: query.sinceMs, until: query.untilMs)
            guard !ranges.isEmpty else { return [] }
            clauses.append(Self.rangeClause(ranges, &sql))
        }
        if let since = query.sinceMs { clauses.append("time_ms >= \(sql.bind(since))") }
        if let until = query.untilMs { clauses.append("time_ms < \(sql.bind(until))") }
        if let after = query.afterID { clauses.append("id > \(sql.bind(after))") }
        if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
        sql.append(" ORDER BY id LIMIT \(sql.bind(Int64(query.limit)))")
        var events: [StoredEvent] = []
        for (id, timeMs, payload) in try await pools.reader.query(sql.query, logger: logger).decode((Int64, Int64, String).self) {
            events.append(StoredEvent(id: id, timeMs: timeMs, payload: payload))
        }
        return events
    }

    public func lastEventID() async throws -> Int64 {
        try await pools.reader.query("SELECT COALESCE(MAX(id), 0) FROM events").collect().first?.decode(Int64.self) ?? 0
    }

    public func session(id: String) async throws -> SessionRecord? {
        try await fetchSessions(SQL.sessions(where: "id", equals: id)).first
    }

    public func session(idempotencyKey: String) async throws -> SessionRecord? {
        try await fetchSessions(SQL.sessions(where: "idempotency_key", equals: idempotencyKey)).first
    }

    public func sessions(_ query: SessionQuery) async throws -> [SessionRecord] {
        var sql = SQL("SELECT * FROM sessions")
        var clauses: [String] = []
        for (key, value) in query.metadata.sorted(by: { $0.key < $1.key }) {
            clauses.append("seq IN (SELECT seq FROM session_metadata WHERE key = \(sql.bind(key)) AND value = \(sql.bind(value)))")
        }
        for (column, value) in [("call_id", query.callID), ("user_id", query.userID), ("sfu_url", query.sfuURL), ("state", query.state)] {
            if let value { clauses.append("\(column) = \(sql.bind(value))") }
        }
        if let since = query.createdSinceMs { clauses.append("created_at_ms >= \(sql.bind(since))") }
        if let until = query.createdUntilMs { clauses.append("created_at_ms < \(sql.bind(until))") }
        if let before = query.beforeSeq { clauses.append("seq < \(sql.bind(before))") }
        if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
        sql.append(" ORDER BY seq DESC LIMIT \(sql.bind(Int64(query.limit)))")
        return try await fetchSessions(sql)
    }

    public func liveSessions() async throws -> [SessionRecord] {
        var sql = SQL("SELECT * FROM sessions WHERE NOT (state = ANY(")
        sql.append(sql.bind([SessionState.left.rawValue, SessionState.failed.rawValue, SessionState.ended.rawValue]) + ")) ORDER BY seq")
        return try await fetchSessions(sql, on: pools.writer)
    }

    func fetchSessions(_ sql: SQL, on client: BoundedPool? = nil) async throws -> [SessionRecord] {
        try await (client ?? pools.reader).query(sql.query, logger: logger).collect().map { try SessionRecord(postgres: $0.makeRandomAccess()) }
    }
}

extension SQL {
    static func sessions(where column: String, equals value: String) -> SQL {
        var sql = SQL("SELECT * FROM sessions WHERE \(column) = ")
        sql.append(sql.bind(value))
        return sql
    }
}

extension SessionRecord {
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            id: try row.value("id"), state: try row.value("state"), callID: try row.value("call_id"), userID: try row.value("user_id"),
            dialect: try row.value("dialect"), sfuURLs: try row.value("sfu_urls"), sfuToken: try row.value("sfu_token"),
            dialectOptions: try row.value("dialect_options"), policy: try row.value("policy"), metadata: try row.value("metadata"),
            sfuURL: try row.value("sfu_url"), idempotencyKey: try row.value("idempotency_key"),
            requestFingerprint: try row.value("request_fingerprint"), createdAtMs: try row.value("created_at_ms"))
        seq = try row.value("seq")
        sfuSessionID = try row.value("sfu_session_id")
        resumeState = try row.value("resume_state")
        generation = try row.value("generation")
        losses = Int(try row.value("losses", as: Int64.self))
        reconnects = Int(try row.value("reconnects", as: Int64.self))
        failedReconnects = Int(try row.value("failed_reconnects", as: Int64.self))
        endReason = try row.value("end_reason")
        joinFailureCode = try row.value("join_failure_code")
        updatedAtMs = try row.value("updated_at_ms")
        endedAtMs = try row.value("ended_at_ms")
        ownerInstance = try row.value("owner_instance")
        epoch = try row.value("epoch")
    }
}
