import Foundation
import TetherAPI
import TetherEngine
import TetherEventLog

/// The credentials and webhook operations.
extension APIHandler {
    func updateCredentials(_ input: Operations.updateCredentials.Input) async throws -> Operations.updateCredentials.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("the body must be JSON") }
        guard !body.token.isEmpty, body.token.count <= 8192 else { throw APIError.invalid("token must be 1 to 8192 characters") }
        if let urls = body.urls, !(1...16).contains(urls.count) {
            // Each URL's syntax and address are checked by the registry, as at create.
            throw APIError.invalid("urls must hold 1 to 16 URLs")
        }
        let record = try await registry.updateCredentials(id: input.path.id, token: body.token, urls: body.urls)
        let attempt = try await registry.session(id: input.path.id)?.currentAttempt ?? 0
        return .ok(.init(body: .json(.init(record, currentAttempt: attempt))))
    }

    func listWebhookDeliveries(_ input: Operations.listWebhookDeliveries.Input) async throws -> Operations.listWebhookDeliveries.Output {
        let limit = try Self.limit(input.query.limit)
        let before = try input.query.cursor.map { cursor throws(APIError) in try Cursor.decode(cursor) }
        let status = input.query.status.flatMap { WebhookDelivery.Status(rawValue: $0.rawValue) }
        try await log.flush()
        let rows = try await log.store.deliveries(status: status, before: before, limit: limit)
        let next = rows.count == limit ? rows.last?.id.map { Cursor.encode($0) } : nil
        return .ok(.init(body: .json(.init(deliveries: rows.map(Components.Schemas.WebhookDelivery.init), next_cursor: next))))
    }

    func retryWebhookDelivery(_ input: Operations.retryWebhookDelivery.Input) async throws -> Operations.retryWebhookDelivery.Output {
        let id = input.path.delivery_id
        try await log.flush()
        guard let row = try await log.store.retryDelivery(id: id, nowMs: Int64(Date().timeIntervalSince1970 * 1000)) else {
            throw APIError(.notFound, code: "not_found", message: "no webhook delivery \(id)")
        }
        guard row.status != .delivered else {
            throw APIError(.conflict, code: "already_delivered", message: "webhook delivery \(id) was delivered already")
        }
        webhooks?.wake()
        return .accepted(.init(body: .json(.init(row))))
    }
}

extension Components.Schemas.WebhookDelivery {
    init(_ row: WebhookDelivery) {
        self.init(
            id: row.id ?? 0, event_id: row.eventID, session_id: row.sessionID, endpoint: Self.redacted(row.endpoint), _type: row.type,
            status: Components.Schemas.WebhookDeliveryStatus(rawValue: row.status.rawValue) ?? .pending,
            attempts: row.attempts, created_at_ms: row.createdAtMs, next_attempt_at_ms: row.nextAttemptAtMs,
            last_attempt_at_ms: row.lastAttemptAtMs, last_status: row.lastStatus, last_error: row.lastError,
            delivered_at_ms: row.deliveredAtMs)
    }

    /// The endpoint without user info, query or fragment: operators put secrets there,
    /// and read tokens may list deliveries.
    static func redacted(_ endpoint: String) -> String {
        guard var components = URLComponents(string: endpoint) else { return "(unreadable URL)" }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? "(unreadable URL)"
    }
}
