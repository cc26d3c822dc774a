import Foundation
import GRDB
import TetherEvents

/// The webhook outbox. Deliveries are written in each event's transaction; every
/// (session, endpoint) queue marks its head, and the dispatcher's reads are index seeks
/// on those heads, so a pick costs the same at 300,000 pending rows as at 10.
extension EventStore {
    // MARK: - The outbox, written with the events

    static func enqueueDeliveries(_ outgoing: [(event: SessionEvent, type: String)], routing: WebhookRouting, in db: Database) throws {
        let encoder = WebhookPayload.encoder()
        var sessions: [String: SessionRecord] = [:]
        /// Queues known to hold a pending row in this transaction: their next row is no head.
        var busyQueues: Set<String> = []
        var added: [String: Int] = [:]
        let hasPending = try db.cachedStatement(sql: """
            SELECT 1 FROM webhook_deliveries WHERE session_id = ? AND endpoint_id = ? AND status = 'pending' LIMIT 1
            """)
        for (event, type) in outgoing {
            guard let eventID = event.id else { continue }
            if sessions[event.sessionID] == nil {
                sessions[event.sessionID] = try SessionRecord.fetchOne(db, key: ["id": event.sessionID])
            }
            let body = try WebhookPayload.body(of: event, type: type, session: sessions[event.sessionID], encoder: encoder)
            for endpoint in routing.endpoints {
                let queue = event.sessionID + "\u{0}" + endpoint.id
                let head = try !busyQueues.contains(queue)
                    && Int.fetchOne(hasPending, arguments: [event.sessionID, endpoint.id]) == nil
                busyQueues.insert(queue)
                var delivery = WebhookDelivery(
                    eventID: eventID, sessionID: event.sessionID, endpoint: endpoint.url, endpointID: endpoint.id, type: type, body: body,
                    createdAtMs: event.timeMs, head: head)
                try delivery.insert(db)
                added[endpoint.id, default: 0] += 1
            }
        }
        for (endpoint, count) in added {
            try db.execute(sql: "UPDATE webhook_endpoints SET backlog = backlog + ? WHERE id = ?", arguments: [count, endpoint])
            try trimBacklog(of: endpoint, to: routing.maxBacklog, in: db)
        }
    }

    /// Fails the oldest pending deliveries of `endpoint` past `cap`, with `overflow`:
    /// an endpoint down for days must not fill the disk.
    static func trimBacklog(of endpoint: String, to cap: Int, in db: Database) throws {
        let backlog = try Int.fetchOne(db, sql: "SELECT backlog FROM webhook_endpoints WHERE id = ?", arguments: [endpoint]) ?? 0
        guard backlog > cap else { return }
        let oldest = try Row.fetchAll(db, sql: """
            SELECT id, session_id FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' ORDER BY id LIMIT ?
            """, arguments: [endpoint, backlog - cap])
        for row in oldest {
            try db.execute(sql: """
                UPDATE webhook_deliveries SET status = 'failed', head = 0, last_error = 'overflow: the endpoint''s backlog passed its cap'
                WHERE id = ?
                """, arguments: [row["id"] as Int64])
        }
        try db.execute(sql: "UPDATE webhook_endpoints SET backlog = backlog - ?, overflowed = overflowed + ? WHERE id = ?",
                       arguments: [oldest.count, oldest.count, endpoint])
        for session in Set(oldest.map { $0["session_id"] as String }) { try promoteHead(session: session, endpoint: endpoint, in: db) }
    }

    /// Marks the oldest pending row of a (session, endpoint) queue as its head.
    static func promoteHead(session: String, endpoint: String, in db: Database) throws {
        try db.execute(sql: """
            UPDATE webhook_deliveries SET head = 1 WHERE id = (
                SELECT id FROM webhook_deliveries WHERE session_id = ? AND endpoint_id = ? AND status = 'pending' ORDER BY id LIMIT 1)
            """, arguments: [session, endpoint])
    }

    // MARK: - Endpoints

    /// Registers the configured endpoints at start: rows for new ones, URLs updated for
    /// the others (their backlog stays, due at once when the URL changed), deliveries written before ids existed mapped by
    /// URL, deliveries to endpoints no longer configured given up. Backlogs are counted
    /// once here; afterwards they are kept with every change. Returns how many were given up.
    @discardableResult
    public func registerWebhookEndpoints(_ endpoints: [WebhookRouting.Endpoint], nowMs: Int64) async throws -> Int {
        try await database.write { db in
            for endpoint in endpoints {
                let previousURL = try String.fetchOne(db, sql: "SELECT url FROM webhook_endpoints WHERE id = ?", arguments: [endpoint.id])
                try db.execute(sql: """
                    INSERT INTO webhook_endpoints (id, url) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET url = excluded.url
                    """, arguments: [endpoint.id, endpoint.url])
                if let previousURL, previousURL != endpoint.url {
                    // The backoff and the failure streak were the old URL's: the new one
                    // gets the backlog at once.
                    try db.execute(sql: "UPDATE webhook_endpoints SET failing_since_ms = NULL, last_error = NULL WHERE id = ?",
                                   arguments: [endpoint.id])
                    try db.execute(sql: """
                        UPDATE webhook_deliveries SET next_attempt_at_ms = ? WHERE endpoint_id = ? AND status = 'pending' AND head = 1
                        """, arguments: [nowMs, endpoint.id])
                }
                try db.execute(sql: "UPDATE webhook_deliveries SET endpoint_id = ? WHERE endpoint_id = ? AND endpoint_id != ?",
                               arguments: [endpoint.id, endpoint.url, endpoint.id])
            }
            let ids = endpoints.map(\.id)
            let placeholders = ids.map { _ in "?" }.joined(separator: ", ")
            let notConfigured = ids.isEmpty ? "" : " AND endpoint_id NOT IN (\(placeholders))"
            try db.execute(
                sql: """
                    UPDATE webhook_deliveries SET status = 'failed', head = 0, last_error = 'the endpoint is no longer configured',
                    last_attempt_at_ms = ? WHERE status = 'pending'\(notConfigured)
                    """,
                arguments: StatementArguments([nowMs] + ids)!)
            let givenUp = db.changesCount
            try db.execute(sql: """
                UPDATE webhook_endpoints SET backlog = (
                    SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = webhook_endpoints.id AND status = 'pending')
                """)
            return givenUp
        }
    }

    public func webhookEndpoints() async throws -> [WebhookEndpointStatus] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_endpoints ORDER BY id").map { row in
                let id: String = row["id"]
                let oldest = try Int64.fetchOne(db, sql: """
                    SELECT created_at_ms FROM webhook_deliveries WHERE endpoint_id = ? AND status = 'pending' ORDER BY id LIMIT 1
                    """, arguments: [id])
                return WebhookEndpointStatus(
                    id: id, url: row["url"], enabled: (row["state"] as String) == "enabled", disabledReason: row["disabled_reason"],
                    backlog: row["backlog"], oldestPendingCreatedAtMs: oldest, lastError: row["last_error"],
                    failingSinceMs: row["failing_since_ms"], lastSuccessAtMs: row["last_success_at_ms"], overflowed: row["overflowed"])
            }
        }
    }

    /// Turns a disabled endpoint back on (its failure streak forgotten); false when unknown.
    public func enableWebhookEndpoint(id: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: """
                UPDATE webhook_endpoints SET state = 'enabled', disabled_reason = NULL, disabled_at_ms = NULL, failing_since_ms = NULL
                WHERE id = ?
                """, arguments: [id])
            return db.changesCount == 1
        }
    }

    // MARK: - The dispatcher's reads

    /// Due heads of `endpoint`'s queues, soonest first (`forcedOnly`: only those an
    /// operator made due, for an endpoint whose breaker is open).
    public func dueWebhookHeads(endpoint: String, nowMs: Int64, excluding busy: Set<Int64>, limit: Int, forcedOnly: Bool = false) async throws -> [WebhookDelivery] {
        try await database.read { db in
            try Self.dueHeads(endpoint: endpoint, nowMs: nowMs, excluding: busy, limit: limit, forcedOnly: forcedOnly, in: db)
        }
    }

    static let dueHeadsSQL = """
        SELECT * FROM webhook_deliveries INDEXED BY webhook_deliveries_heads
        WHERE endpoint_id = ? AND status = 'pending' AND head = 1 AND next_attempt_at_ms <= ?
        ORDER BY next_attempt_at_ms LIMIT ?
        """

    static func dueHeads(endpoint: String, nowMs: Int64, excluding busy: Set<Int64>, limit: Int, forcedOnly: Bool, in db: Database) throws -> [WebhookDelivery] {
        let rows = try WebhookDelivery.fetchAll(db, sql: dueHeadsSQL, arguments: [endpoint, nowMs, limit + busy.count])
        return Array(rows.filter { !busy.contains($0.id ?? -1) && (!forcedOnly || $0.forced) }.prefix(limit))
    }

    /// When the next head of `endpoint` that is not in flight falls due.
    public func nextWebhookHeadDueMs(endpoint: String, excluding busy: Set<Int64>) async throws -> Int64? {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, next_attempt_at_ms FROM webhook_deliveries INDEXED BY webhook_deliveries_heads
                WHERE endpoint_id = ? AND status = 'pending' AND head = 1 ORDER BY next_attempt_at_ms LIMIT ?
                """, arguments: [endpoint, busy.count + 1])
                .first { !busy.contains($0["id"]) }.map { $0["next_attempt_at_ms"] }
        }
    }

    /// How SQLite runs the dispatcher's pick (for the test that it is an index seek).
    public func explainDueHeads() async throws -> [String] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + Self.dueHeadsSQL, arguments: ["e", 0, 10]).map { $0["detail"] as String }
        }
    }

    // MARK: - Settling tries

    /// Records every finished try in one transaction. A try whose row an operator
    /// retried (or replayed) meanwhile changes nothing: the operator's choice stands.
    /// An endpoint failing for longer than `disableAfterMs` is disabled. Returns the
    /// ids whose outcome applied.
    @discardableResult
    public func settleWebhookTries(_ settlements: [WebhookSettlement], disableAfterMs: Int64) async throws -> Set<Int64> {
        try await database.write { db in
            var applied: Set<Int64> = []
            for settlement in settlements {
                guard let id = settlement.delivery.id else { continue }
                let endpoint = settlement.delivery.endpointID
                let version = settlement.delivery.version
                let attempts = settlement.delivery.attempts + 1
                let now = settlement.atMs
                switch settlement.outcome {
                case .delivered:
                    try db.execute(sql: """
                        UPDATE webhook_deliveries SET status = 'delivered', head = 0, forced = 0, body = '', attempts = ?,
                        last_attempt_at_ms = ?, last_status = ?, last_error = NULL, delivered_at_ms = ? WHERE id = ? AND version = ?
                        """, arguments: [attempts, now, settlement.status, now, id, version])
                case .retry(let atMs, let error):
                    try db.execute(sql: """
                        UPDATE webhook_deliveries SET forced = 0, attempts = ?, next_attempt_at_ms = ?, last_attempt_at_ms = ?,
                        last_status = ?, last_error = ? WHERE id = ? AND version = ?
                        """, arguments: [attempts, atMs, now, settlement.status, error, id, version])
                case .failed(let error):
                    try db.execute(sql: """
                        UPDATE webhook_deliveries SET status = 'failed', head = 0, forced = 0, attempts = ?, last_attempt_at_ms = ?,
                        last_status = ?, last_error = ? WHERE id = ? AND version = ?
                        """, arguments: [attempts, now, settlement.status, error, id, version])
                case .disableEndpoint(let reason):
                    try db.execute(sql: """
                        UPDATE webhook_deliveries SET forced = 0, attempts = ?, last_attempt_at_ms = ?, last_status = ?, last_error = ?
                        WHERE id = ? AND version = ?
                        """, arguments: [attempts, now, settlement.status, reason, id, version])
                }
                guard db.changesCount == 1 else { continue }
                applied.insert(id)
                switch settlement.outcome {
                case .delivered, .failed:
                    try db.execute(sql: "UPDATE webhook_endpoints SET backlog = backlog - 1 WHERE id = ?", arguments: [endpoint])
                    try Self.promoteHead(session: settlement.delivery.sessionID, endpoint: endpoint, in: db)
                case .retry, .disableEndpoint:
                    break
                }
                try Self.recordHealth(of: endpoint, after: settlement, disableAfterMs: disableAfterMs, in: db)
            }
            return applied
        }
    }

    /// The endpoint's failure streak: a 2xx ends it; a retryable failure starts or
    /// extends it, and past `disableAfterMs` disables the endpoint; a 410 disables it.
    /// A rejected delivery (another 4xx) says nothing about the endpoint's health.
    static func recordHealth(of endpoint: String, after settlement: WebhookSettlement, disableAfterMs: Int64, in db: Database) throws {
        let now = settlement.atMs
        switch settlement.outcome {
        case .delivered:
            try db.execute(sql: "UPDATE webhook_endpoints SET failing_since_ms = NULL, last_success_at_ms = ? WHERE id = ?", arguments: [now, endpoint])
        case .retry(_, let error):
            try db.execute(sql: """
                UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, ?), last_error = ? WHERE id = ?
                """, arguments: [now, error, endpoint])
            try db.execute(sql: """
                UPDATE webhook_endpoints SET state = 'disabled', disabled_at_ms = ?,
                disabled_reason = 'failing for more than ' || ? || ' ms'
                WHERE id = ? AND state = 'enabled' AND failing_since_ms IS NOT NULL AND ? - failing_since_ms > ?
                """, arguments: [now, disableAfterMs, endpoint, now, disableAfterMs])
        case .failed(let error):
            try db.execute(sql: "UPDATE webhook_endpoints SET last_error = ? WHERE id = ?", arguments: [error, endpoint])
        case .disableEndpoint(let reason):
            try db.execute(sql: """
                UPDATE webhook_endpoints SET state = 'disabled', disabled_at_ms = ?, disabled_reason = ?, last_error = ? WHERE id = ?
                """, arguments: [now, reason, reason, endpoint])
        }
    }

    /// Whether each endpoint is enabled now.
    public func enabledWebhookEndpoints() async throws -> Set<String> {
        try await database.read { db in
            Set(try String.fetchAll(db, sql: "SELECT id FROM webhook_endpoints WHERE state = 'enabled'"))
        }
    }

    // MARK: - Operators

    /// Makes a pending or failed delivery due now, sent even while its endpoint's
    /// breaker is open, with a fresh retry window; nil when there is no such delivery,
    /// the row unchanged when it was delivered already.
    public func retryDelivery(id: Int64, nowMs: Int64) async throws -> WebhookDelivery? {
        try await database.write { db in
            guard let delivery = try WebhookDelivery.fetchOne(db, key: id) else { return nil }
            guard delivery.status != .delivered else { return delivery }
            try Self.reopen([delivery], nowMs: nowMs, forced: true, in: db)
            return try WebhookDelivery.fetchOne(db, key: id)
        }
    }

    /// Makes every failed delivery of `endpoint` created in [since, until) pending again
    /// (Svix's "recover"); returns how many.
    public func replayDeliveries(endpoint: String, sinceMs: Int64, untilMs: Int64, nowMs: Int64) async throws -> Int {
        try await database.write { db in
            let failed = try WebhookDelivery.fetchAll(db, sql: """
                SELECT * FROM webhook_deliveries INDEXED BY webhook_deliveries_replay
                WHERE endpoint_id = ? AND created_at_ms >= ? AND created_at_ms < ? AND status = 'failed'
                """, arguments: [endpoint, sinceMs, untilMs])
            try Self.reopen(failed, nowMs: nowMs, forced: false, in: db)
            return failed.count
        }
    }

    /// Back to pending, due now, with a new version (a try in flight cannot overwrite
    /// it); each touched queue's head is chosen again.
    static func reopen(_ deliveries: [WebhookDelivery], nowMs: Int64, forced: Bool, in db: Database) throws {
        var queues: Set<[String]> = []
        for delivery in deliveries {
            guard let id = delivery.id else { continue }
            if delivery.status == .failed {
                try db.execute(sql: "UPDATE webhook_endpoints SET backlog = backlog + 1 WHERE id = ?", arguments: [delivery.endpointID])
            }
            // A replay gets the full retry window again, from now.
            try db.execute(sql: """
                UPDATE webhook_deliveries SET status = 'pending', head = 0, next_attempt_at_ms = ?, created_at_ms = ?, forced = ?,
                version = version + 1 WHERE id = ?
                """, arguments: [nowMs, nowMs, forced, id])
            queues.insert([delivery.sessionID, delivery.endpointID])
        }
        for queue in queues {
            try db.execute(sql: "UPDATE webhook_deliveries SET head = 0 WHERE session_id = ? AND endpoint_id = ? AND status = 'pending'", arguments: [queue[0], queue[1]])
            try promoteHead(session: queue[0], endpoint: queue[1], in: db)
        }
    }

    // MARK: - Housekeeping and the API's reads

    /// Deletes delivered and failed deliveries created before `cutoffMs` (the event
    /// retention), in batches; pending ones stay.
    @discardableResult
    public func pruneDeliveries(before cutoffMs: Int64, batch: Int = 10_000) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await database.write { db in
                try db.execute(sql: """
                    DELETE FROM webhook_deliveries WHERE id IN (
                        SELECT id FROM webhook_deliveries WHERE status != 'pending' AND created_at_ms < ? LIMIT ?)
                    """, arguments: [cutoffMs, batch])
                return db.changesCount
            }
            total += deleted
            if deleted < batch { return total }
        }
    }

    public func delivery(id: Int64) async throws -> WebhookDelivery? {
        try await database.read { db in try WebhookDelivery.fetchOne(db, key: id) }
    }

    /// A page of deliveries, newest first; `before` is the previous page's last id.
    public func deliveries(status: WebhookDelivery.Status?, endpoint: String? = nil, before: Int64?, limit: Int) async throws -> [WebhookDelivery] {
        try await database.read { db in
            var request = WebhookDelivery.order(Column("id").desc).limit(limit)
            if let status { request = request.filter(Column("status") == status.rawValue) }
            if let endpoint { request = request.filter(Column("endpoint_id") == endpoint) }
            if let before { request = request.filter(Column("id") < before) }
            return try request.fetchAll(db)
        }
    }

    /// The id of this database (made once by migration 0010): with an event id, a
    /// webhook-id no other database sends.
    public func databaseIdentity() async throws -> String {
        try await database.read { db in try String.fetchOne(db, sql: "SELECT id FROM database_identity LIMIT 1") ?? "unknown" }
    }
}
