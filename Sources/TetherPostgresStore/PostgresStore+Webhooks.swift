import Foundation
import PostgresNIO
import TetherEvents
import TetherEventLog

/// The webhook outbox on PostgreSQL: the same queue heads, caps, versions and health as
/// the SQLite store's (`EventStore+Webhooks.swift`), statement for statement.
extension PostgresStore {
    // MARK: - Written with the events

    static func enqueueDeliveries(
        _ outgoing: [(event: SessionEvent, type: String)], routing: WebhookRouting, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let encoder = WebhookPayload.encoder()
        let sessionIDs = Array(Set(outgoing.map(\.event.sessionID)))
        var sessions: [String: SessionRecord] = [:]
        for row in try await connection.query("SELECT * FROM sessions WHERE id = ANY(\(sessionIDs))", logger: logger).collect() {
            let record = try SessionRecord(postgres: row.makeRandomAccess())
            sessions[record.id] = record
        }
        // Queues that hold a pending row already: their next row is no head.
        var busyQueues: Set<String> = []
        for try await (session, endpoint) in try await connection.query("""
            SELECT DISTINCT session_id, endpoint_id FROM webhook_deliveries WHERE status = 'pending' AND session_id = ANY(\(sessionIDs))
            """, logger: logger).decode((String, String).self)
        {
            busyQueues.insert(session + "\u{0}" + endpoint)
        }
        var rows: [WebhookDelivery] = []
        var added: [String: Int] = [:]
        for (event, type) in outgoing {
            guard let eventID = event.id else { continue }
            let body = try WebhookPayload.body(of: event, type: type, session: sessions[event.sessionID], encoder: encoder)
            for endpoint in routing.endpoints {
                let queue = event.sessionID + "\u{0}" + endpoint.id
                let head = !busyQueues.contains(queue)
                busyQueues.insert(queue)
                rows.append(WebhookDelivery(
                    eventID: eventID, sessionID: event.sessionID, endpoint: endpoint.url, endpointID: endpoint.id, type: type, body: body,
                    createdAtMs: event.timeMs, head: head))
                added[endpoint.id, default: 0] += 1
            }
        }
        let columns = 8
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + SQL.maxBinds / columns, rows.count)]
            var sql = SQL("""
                INSERT INTO webhook_deliveries (event_id, session_id, endpoint, endpoint_id, head, type, body, created_at_ms, next_attempt_at_ms)
                VALUES
                """)
            for (index, row) in chunk.enumerated() {
                if index > 0 { sql.append(",") }
                let created = sql.bind(row.createdAtMs)
                sql.append("(\(sql.bind(row.eventID)), \(sql.bind(row.sessionID)), \(sql.bind(row.endpoint)), \(sql.bind(row.endpointID)), ")
                sql.append("\(sql.bind(row.head)), \(sql.bind(row.type)), \(sql.bind(row.body)), \(created), \(created))")
            }
            try await connection.query(sql.query, logger: logger)
            start += chunk.count
        }
        for (endpoint, count) in added {
            try await connection.query("UPDATE webhook_endpoints SET backlog = backlog + \(Int64(count)) WHERE id = \(endpoint)", logger: logger)
            try await trimBacklog(of: endpoint, to: routing.maxBacklog, on: connection, logger: logger)
        }
    }

    /// Fails the oldest pending deliveries of `endpoint` past `cap`, with `overflow`.
    static func trimBacklog(of endpoint: String, to cap: Int, on connection: PostgresConnection, logger: Logger) async throws {
        let backlog = try await connection.query("SELECT backlog FROM webhook_endpoints WHERE id = \(endpoint)", logger: logger)
            .collect().first?.decode(Int64.self) ?? 0
        guard backlog > cap else { return }
        let excess = backlog - Int64(cap)
        var sessions: Set<String> = []
        for try await session in try await connection.query("""
            UPDATE webhook_deliveries SET status = 'failed', head = FALSE, last_error = 'overflow: the endpoint''s backlog passed its cap'
            WHERE id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = \(endpoint) AND status = 'pending' ORDER BY id LIMIT \(excess))
            RETURNING session_id
            """, logger: logger).decode(String.self)
        {
            sessions.insert(session)
        }
        try await connection.query(
            "UPDATE webhook_endpoints SET backlog = backlog - \(excess), overflowed = overflowed + \(excess) WHERE id = \(endpoint)", logger: logger)
        for session in sessions { try await promoteHead(session: session, endpoint: endpoint, on: connection, logger: logger) }
    }

    static func promoteHead(session: String, endpoint: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE webhook_deliveries SET head = TRUE WHERE id = (
                SELECT id FROM webhook_deliveries WHERE session_id = \(session) AND endpoint_id = \(endpoint) AND status = 'pending'
                ORDER BY id LIMIT 1)
            """, logger: logger)
    }

    // MARK: - Endpoints

    public func registerWebhookEndpoints(_ endpoints: [WebhookRouting.Endpoint], nowMs: Int64) async throws -> Int {
        try await pools.writer.withTransaction(logger: logger) { connection in
            for endpoint in endpoints {
                let previous = try await connection.query("SELECT url FROM webhook_endpoints WHERE id = \(endpoint.id)", logger: logger)
                    .collect().first?.decode(String.self)
                try await connection.query("""
                    INSERT INTO webhook_endpoints (id, url) VALUES (\(endpoint.id), \(endpoint.url)) ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url
                    """, logger: logger)
                if let previous, previous != endpoint.url {
                    // The backoff and the failure streak were the old URL's.
                    try await connection.query(
                        "UPDATE webhook_endpoints SET failing_since_ms = NULL, last_error = NULL WHERE id = \(endpoint.id)", logger: logger)
                    try await connection.query("""
                        UPDATE webhook_deliveries SET next_attempt_at_ms = \(nowMs) WHERE endpoint_id = \(endpoint.id) AND status = 'pending' AND head
                        """, logger: logger)
                }
            }
            let ids = endpoints.map(\.id)
            let givenUp = try await connection.query("""
                UPDATE webhook_deliveries SET status = 'failed', head = FALSE, last_error = 'the endpoint is no longer configured',
                last_attempt_at_ms = \(nowMs) WHERE status = 'pending' AND NOT (endpoint_id = ANY(\(ids))) RETURNING id
                """, logger: logger).collect().count
            try await connection.query("""
                UPDATE webhook_endpoints SET backlog = (
                    SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = webhook_endpoints.id AND status = 'pending')
                """, logger: logger)
            return givenUp
        }
    }

    public func webhookEndpoints() async throws -> [WebhookEndpointStatus] {
        let rows = try await pools.reader.query("""
            SELECT e.*, (SELECT created_at_ms FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending'
                         ORDER BY d.id LIMIT 1) AS oldest
            FROM webhook_endpoints e ORDER BY e.id
            """, logger: logger).collect()
        return try rows.map { row in
            let row = row.makeRandomAccess()
            return WebhookEndpointStatus(
                id: try row.value("id"), url: try row.value("url"), enabled: try row.value("state", as: String.self) == "enabled",
                disabledReason: try row.value("disabled_reason"), backlog: Int(try row.value("backlog", as: Int64.self)),
                oldestPendingCreatedAtMs: try row.value("oldest"), lastError: try row.value("last_error"),
                failingSinceMs: try row.value("failing_since_ms"), lastSuccessAtMs: try row.value("last_success_at_ms"),
                overflowed: Int(try row.value("overflowed", as: Int64.self)))
        }
    }

    public func enableWebhookEndpoint(id: String) async throws -> Bool {
        try await !pools.writer.query("""
            UPDATE webhook_endpoints SET state = 'enabled', disabled_reason = NULL, disabled_at_ms = NULL, failing_since_ms = NULL
            WHERE id = \(id) RETURNING id
            """, logger: logger).collect().isEmpty
    }

    public func enabledWebhookEndpoints() async throws -> Set<String> {
        var ids: Set<String> = []
        for id in try await pools.writer.query("SELECT id FROM webhook_endpoints WHERE state = 'enabled'", logger: logger)
            .decode(String.self) { ids.insert(id) }
        return ids
    }

    // MARK: - The dispatcher's reads

    /// Due heads not claimed by a live claim. In a fleet every instance runs a worker
    /// per endpoint, so picking is a claim: `FOR UPDATE SKIP LOCKED` keeps two pickers
    /// off the same row, and `claimed_until` (on the database's clock) keeps the others
    /// off it while its try runs. The version moves with each claim, so a claimant
    /// whose claim ran out and whose row another took cannot settle it any more.
    static let dueHeadsSQL = """
        SELECT * FROM webhook_deliveries
        WHERE endpoint_id = $1 AND status = 'pending' AND head AND next_attempt_at_ms <= $2
          AND (claimed_until IS NULL OR claimed_until < now())
        ORDER BY next_attempt_at_ms LIMIT $3
        """

    public func dueWebhookHeads(endpoint: String, nowMs: Int64, excluding busy: Set<Int64>, limit: Int, forcedOnly: Bool) async throws -> [WebhookDelivery] {
        let claimMs = webhookClaim.milliseconds
        let busyIDs = Array(busy)
        let rows = try await pools.writer.query("""
            UPDATE webhook_deliveries SET claimed_until = now() + \(claimMs) * interval '1 millisecond', version = version + 1
            WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE endpoint_id = \(endpoint) AND status = 'pending' AND head AND next_attempt_at_ms <= \(nowMs)
                  AND (claimed_until IS NULL OR claimed_until < now()) AND NOT (id = ANY(\(busyIDs)))
                  AND (forced OR NOT \(forcedOnly))
                ORDER BY next_attempt_at_ms LIMIT \(Int64(limit))
                FOR UPDATE SKIP LOCKED)
            RETURNING *
            """, logger: logger).collect()
            .map { try WebhookDelivery(postgres: $0.makeRandomAccess()) }
        return rows.sorted { ($0.nextAttemptAtMs, $0.id ?? 0) < ($1.nextAttemptAtMs, $1.id ?? 0) }
    }

    /// When the next head falls due, among those no other try holds: a head claimed
    /// elsewhere is that claimant's to settle.
    public func nextWebhookHeadDueMs(endpoint: String, excluding busy: Set<Int64>) async throws -> Int64? {
        for (id, due) in try await pools.reader.query("""
            SELECT id, next_attempt_at_ms FROM webhook_deliveries WHERE endpoint_id = \(endpoint) AND status = 'pending' AND head
              AND (claimed_until IS NULL OR claimed_until < now())
            ORDER BY next_attempt_at_ms LIMIT \(Int64(busy.count + 1))
            """, logger: logger).decode((Int64, Int64).self) where !busy.contains(id)
        {
            return due
        }
        return nil
    }

    public func explainDueHeads() async throws -> [String] {
        var binds = PostgresBindings()
        binds.append("e")
        binds.append(Int64(0))
        binds.append(Int64(10))
        return try await pools.reader.query(PostgresQuery(unsafeSQL: "EXPLAIN " + Self.dueHeadsSQL, binds: binds), logger: logger)
            .collect().map { try $0.decode(String.self) }
    }

    // MARK: - Settling tries

    public func settleWebhookTries(_ settlements: [WebhookSettlement], disableAfterMs: Int64) async throws -> Set<Int64> {
        try await pools.writer.withTransaction(logger: logger) { connection in
            var applied: Set<Int64> = []
            for settlement in settlements {
                guard let id = settlement.delivery.id else { continue }
                let endpoint = settlement.delivery.endpointID
                let version = Int64(settlement.delivery.version)
                let attempts = Int64(settlement.delivery.attempts + 1)
                let now = settlement.atMs
                let status = settlement.status.map(Int64.init)
                let query: PostgresQuery = switch settlement.outcome {
                case .delivered:
                    """
                    UPDATE webhook_deliveries SET status = 'delivered', head = FALSE, forced = FALSE, claimed_until = NULL, body = '', attempts = \(attempts),
                    last_attempt_at_ms = \(now), last_status = \(status), last_error = NULL, delivered_at_ms = \(now)
                    WHERE id = \(id) AND version = \(version) RETURNING id
                    """
                case .retry(let atMs, let error):
                    """
                    UPDATE webhook_deliveries SET forced = FALSE, claimed_until = NULL, attempts = \(attempts), next_attempt_at_ms = \(atMs), last_attempt_at_ms = \(now),
                    last_status = \(status), last_error = \(error) WHERE id = \(id) AND version = \(version) RETURNING id
                    """
                case .failed(let error):
                    """
                    UPDATE webhook_deliveries SET status = 'failed', head = FALSE, forced = FALSE, claimed_until = NULL, attempts = \(attempts), last_attempt_at_ms = \(now),
                    last_status = \(status), last_error = \(error) WHERE id = \(id) AND version = \(version) RETURNING id
                    """
                case .disableEndpoint(let reason):
                    """
                    UPDATE webhook_deliveries SET forced = FALSE, claimed_until = NULL, attempts = \(attempts), last_attempt_at_ms = \(now), last_status = \(status),
                    last_error = \(reason) WHERE id = \(id) AND version = \(version) RETURNING id
                    """
                }
                guard try await !connection.query(query, logger: logger).collect().isEmpty else { continue }
                applied.insert(id)
                switch settlement.outcome {
                case .delivered, .failed:
                    try await connection.query("UPDATE webhook_endpoints SET backlog = backlog - 1 WHERE id = \(endpoint)", logger: logger)
                    try await Self.promoteHead(session: settlement.delivery.sessionID, endpoint: endpoint, on: connection, logger: logger)
                case .retry, .disableEndpoint:
                    break
                }
                try await Self.recordHealth(of: endpoint, after: settlement, disableAfterMs: disableAfterMs, on: connection, logger: logger)
            }
            return applied
        }
    }

    static func recordHealth(
        of endpoint: String, after settlement: WebhookSettlement, disableAfterMs: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let now = settlement.atMs
        switch settlement.outcome {
        case .delivered:
            try await connection.query(
                "UPDATE webhook_endpoints SET failing_since_ms = NULL, last_success_at_ms = \(now) WHERE id = \(endpoint)", logger: logger)
        case .retry(_, let error):
            try await connection.query("""
                UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, \(now)), last_error = \(error) WHERE id = \(endpoint)
                """, logger: logger)
            let reason = "failing for more than \(disableAfterMs) ms"
            try await connection.query("""
                UPDATE webhook_endpoints SET state = 'disabled', disabled_at_ms = \(now), disabled_reason = \(reason)
                WHERE id = \(endpoint) AND state = 'enabled' AND failing_since_ms IS NOT NULL AND \(now) - failing_since_ms > \(disableAfterMs)
                """, logger: logger)
        case .failed(let error):
            try await connection.query("UPDATE webhook_endpoints SET last_error = \(error) WHERE id = \(endpoint)", logger: logger)
        case .disableEndpoint(let reason):
            try await connection.query("""
                UPDATE webhook_endpoints SET state = 'disabled', disabled_at_ms = \(now), disabled_reason = \(reason), last_error = \(reason)
                WHERE id = \(endpoint)
                """, logger: logger)
        }
    }

    // MARK: - Operators

    public func retryDelivery(id: Int64, nowMs: Int64) async throws -> WebhookDelivery? {
        try await pools.writer.withTransaction(logger: logger) { connection in
            guard let delivery = try await Self.delivery(id: id, on: connection, logger: logger, lock: true) else { return nil }
            guard delivery.status != .delivered else { return delivery }
            try await Self.reopen([delivery], nowMs: nowMs, forced: true, on: connection, logger: logger)
            return try await Self.delivery(id: id, on: connection, logger: logger, lock: false)
        }
    }

    public func replayDeliveries(endpoint: String, sinceMs: Int64, untilMs: Int64, nowMs: Int64) async throws -> Int {
        try await pools.writer.withTransaction(logger: logger) { connection in
            let failed = try await connection.query("""
                SELECT * FROM webhook_deliveries
                WHERE endpoint_id = \(endpoint) AND created_at_ms >= \(sinceMs) AND created_at_ms < \(untilMs) AND status = 'failed'
                ORDER BY id FOR UPDATE
                """, logger: logger).collect().map { try WebhookDelivery(postgres: $0.makeRandomAccess()) }
            try await Self.reopen(failed, nowMs: nowMs, forced: false, on: connection, logger: logger)
            return failed.count
        }
    }

    static func reopen(_ deliveries: [WebhookDelivery], nowMs: Int64, forced: Bool, on connection: PostgresConnection, logger: Logger) async throws {
        var queues: Set<[String]> = []
        for delivery in deliveries {
            guard let id = delivery.id else { continue }
            if delivery.status == .failed {
                try await connection.query("UPDATE webhook_endpoints SET backlog = backlog + 1 WHERE id = \(delivery.endpointID)", logger: logger)
            }
            try await connection.query("""
                UPDATE webhook_deliveries SET status = 'pending', head = FALSE, next_attempt_at_ms = \(nowMs), created_at_ms = \(nowMs),
                forced = \(forced), claimed_until = NULL, version = version + 1 WHERE id = \(id)
                """, logger: logger)
            queues.insert([delivery.sessionID, delivery.endpointID])
        }
        for queue in queues {
            try await connection.query("""
                UPDATE webhook_deliveries SET head = FALSE WHERE session_id = \(queue[0]) AND endpoint_id = \(queue[1]) AND status = 'pending'
                """, logger: logger)
            try await promoteHead(session: queue[0], endpoint: queue[1], on: connection, logger: logger)
        }
    }

    // MARK: - Housekeeping and the API's reads

    public func pruneDeliveries(before cutoffMs: Int64, batch: Int) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await pools.writer.query("""
                DELETE FROM webhook_deliveries WHERE id IN (
                    SELECT id FROM webhook_deliveries WHERE status != 'pending' AND created_at_ms < \(cutoffMs) LIMIT \(Int64(batch)))
                RETURNING id
                """, logger: logger).collect().count
            total += deleted
            if deleted < batch { return total }
        }
    }

    public func delivery(id: Int64) async throws -> WebhookDelivery? {
        try await pools.reader.query("SELECT * FROM webhook_deliveries WHERE id = \(id)", logger: logger).collect()
            .first.map { try WebhookDelivery(postgres: $0.makeRandomAccess()) }
    }

    static func delivery(id: Int64, on connection: PostgresConnection, logger: Logger, lock: Bool) async throws -> WebhookDelivery? {
        let query: PostgresQuery = lock
            ? "SELECT * FROM webhook_deliveries WHERE id = \(id) FOR UPDATE"
            : "SELECT * FROM webhook_deliveries WHERE id = \(id)"
        return try await connection.query(query, logger: logger).collect().first.map { try WebhookDelivery(postgres: $0.makeRandomAccess()) }
    }

    public func deliveries(status: WebhookDelivery.Status?, endpoint: String?, before: Int64?, limit: Int) async throws -> [WebhookDelivery] {
        var sql = SQL("SELECT * FROM webhook_deliveries")
        var clauses: [String] = []
        if let status { clauses.append("status = \(sql.bind(status.rawValue))") }
        if let endpoint { clauses.append("endpoint_id = \(sql.bind(endpoint))") }
        if let before { clauses.append("id < \(sql.bind(before))") }
        if !clauses.isEmpty { sql.append(" WHERE " + clauses.joined(separator: " AND ")) }
        sql.append(" ORDER BY id DESC LIMIT \(sql.bind(Int64(limit)))")
        return try await pools.reader.query(sql.query, logger: logger).collect().map { try WebhookDelivery(postgres: $0.makeRandomAccess()) }
    }

    public func databaseIdentity() async throws -> String {
        try await pools.reader.query("SELECT id FROM database_identity LIMIT 1", logger: logger).collect().first?.decode(String.self) ?? "unknown"
    }
}

extension WebhookDelivery {
    init(postgres row: PostgresRandomAccessRow) throws {
        self.init(
            eventID: try row.value("event_id"), sessionID: try row.value("session_id"), endpoint: try row.value("endpoint"),
            endpointID: try row.value("endpoint_id"), type: try row.value("type"), body: try row.value("body"),
            createdAtMs: try row.value("created_at_ms"), head: try row.value("head"))
        id = try row.value("id")
        version = Int(try row.value("version", as: Int64.self))
        forced = try row.value("forced")
        status = Status(rawValue: try row.value("status")) ?? .pending
        attempts = Int(try row.value("attempts", as: Int64.self))
        nextAttemptAtMs = try row.value("next_attempt_at_ms")
        lastAttemptAtMs = try row.value("last_attempt_at_ms")
        lastStatus = try row.value("last_status", as: Int64?.self).map(Int.init)
        lastError = try row.value("last_error")
        deliveredAtMs = try row.value("delivered_at_ms")
    }
}
