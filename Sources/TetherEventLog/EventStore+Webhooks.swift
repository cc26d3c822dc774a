import Foundation
import GRDB
import TetherEvents

extension EventStore {
    // MARK: - The outbox, written with the events

    /// The JSON a webhook carries: `{id, type, created_at_ms, session, event}`.
    struct WebhookPayload: Encodable {
        struct Session: Encodable {
            var id: String
            var call_id: String
            var user_id: String
            var state: String
            var metadata: [String: String]
        }
        var id: String
        var type: String
        var created_at_ms: Int64
        var session: Session
        var event: SessionEvent
    }

    static func enqueueDeliveries(_ outgoing: [(event: SessionEvent, type: String)], to endpoints: [String], in db: Database) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var sessions: [String: SessionRecord] = [:]
        for (event, type) in outgoing {
            guard let eventID = event.id else { continue }
            if sessions[event.sessionID] == nil {
                sessions[event.sessionID] = try SessionRecord.fetchOne(db, key: ["id": event.sessionID])
            }
            let row = sessions[event.sessionID]
            let metadata = row.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.metadata.utf8)) } ?? [:]
            let payload = WebhookPayload(
                id: String(eventID), type: type, created_at_ms: event.timeMs,
                session: .init(
                    id: event.sessionID, call_id: row?.callID ?? "", user_id: row?.userID ?? "",
                    state: WebhookRouting.state(after: event.kind) ?? row?.state ?? "", metadata: metadata),
                event: event)
            let body = String(decoding: try encoder.encode(payload), as: UTF8.self)
            for endpoint in endpoints {
                var delivery = WebhookDelivery(
                    eventID: eventID, sessionID: event.sessionID, endpoint: endpoint, type: type, body: body, createdAtMs: event.timeMs)
                try delivery.insert(db)
            }
        }
    }

    // MARK: - The dispatcher's reads and writes

    /// Pending deliveries due at `nowMs`, each the oldest pending one of its session at
    /// its endpoint (so a session's webhooks arrive in order), oldest first.
    public func dueDeliveries(nowMs: Int64, excluding busy: Set<Int64>, limit: Int) async throws -> [WebhookDelivery] {
        try await database.read { db in
            let rows = try WebhookDelivery.fetchAll(db, sql: """
                SELECT d.* FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_at_ms <= ?
                  AND d.id = (SELECT MIN(q.id) FROM webhook_deliveries q
                              WHERE q.status = 'pending' AND q.session_id = d.session_id AND q.endpoint = d.endpoint)
                ORDER BY d.next_attempt_at_ms, d.id
                LIMIT ?
                """, arguments: [nowMs, limit + busy.count])
            return Array(rows.filter { !busy.contains($0.id ?? -1) }.prefix(limit))
        }
    }

    /// When the next sendable delivery falls due: the earliest among the rows at the
    /// head of their (session, endpoint) queue (a row behind a backed-off one is not
    /// sendable before it), `busy` rows left out.
    public func nextDeliveryDueMs(excluding busy: Set<Int64>) async throws -> Int64? {
        try await database.read { db in
            let heads = try Row.fetchAll(db, sql: """
                SELECT d.id, d.next_attempt_at_ms FROM webhook_deliveries d
                WHERE d.status = 'pending'
                  AND d.id = (SELECT MIN(q.id) FROM webhook_deliveries q
                              WHERE q.status = 'pending' AND q.session_id = d.session_id AND q.endpoint = d.endpoint)
                ORDER BY d.next_attempt_at_ms
                LIMIT ?
                """, arguments: [busy.count + 1])
            return heads.first { !busy.contains($0["id"]) }.map { $0["next_attempt_at_ms"] }
        }
    }

    /// Gives up pending deliveries to endpoints no longer configured (a restart with a
    /// different `--webhook-url` list); returns how many.
    @discardableResult
    public func failDeliveries(notTo endpoints: [String], nowMs: Int64) async throws -> Int {
        try await database.write { db in
            let placeholders = endpoints.map { _ in "?" }.joined(separator: ", ")
            let condition = endpoints.isEmpty ? "" : " AND endpoint NOT IN (\(placeholders))"
            try db.execute(
                sql: """
                    UPDATE webhook_deliveries SET status = 'failed', last_error = 'the endpoint is no longer configured',
                    last_attempt_at_ms = ? WHERE status = 'pending'\(condition)
                    """,
                arguments: StatementArguments([nowMs] + endpoints)!)
            return db.changesCount
        }
    }

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

    public func pendingDeliveryCount() async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'") ?? 0
        }
    }

    /// Records one try's outcome (the row as it is now).
    public func saveDeliveryAttempt(_ delivery: WebhookDelivery) async throws {
        try await database.write { db in try delivery.update(db) }
    }

    public func delivery(id: Int64) async throws -> WebhookDelivery? {
        try await database.read { db in try WebhookDelivery.fetchOne(db, key: id) }
    }

    /// A page of deliveries, newest first; `before` is the previous page's last id.
    public func deliveries(status: WebhookDelivery.Status?, before: Int64?, limit: Int) async throws -> [WebhookDelivery] {
        try await database.read { db in
            var request = WebhookDelivery.order(Column("id").desc).limit(limit)
            if let status { request = request.filter(Column("status") == status.rawValue) }
            if let before { request = request.filter(Column("id") < before) }
            return try request.fetchAll(db)
        }
    }

    /// Makes a pending or failed delivery due now; nil when there is no such delivery,
    /// the row unchanged when it was delivered already.
    public func retryDelivery(id: Int64, nowMs: Int64) async throws -> WebhookDelivery? {
        try await database.write { db in
            guard var delivery = try WebhookDelivery.fetchOne(db, key: id) else { return nil }
            guard delivery.status != .delivered else { return delivery }
            delivery.status = .pending
            delivery.nextAttemptAtMs = nowMs
            // A retry asked for by an operator gets the full retry window again.
            delivery.createdAtMs = nowMs
            try delivery.update(db)
            return delivery
        }
    }
}
