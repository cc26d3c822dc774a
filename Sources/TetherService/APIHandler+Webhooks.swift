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
        if let endpoint = input.query.endpoint_id, !(1...64).contains(endpoint.count) {
            throw APIError.badRequest("endpoint_id must be 1 to 64 characters", code: "invalid_filter")
        }
        // What is committed, without waiting on the writer: a disk that fills up must not
        // take the outbox's view with it.
        let rows = try await log.store.deliveries(status: status, endpoint: input.query.endpoint_id, before: before, limit: limit)
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

    func listWebhookEndpoints(_ input: Operations.listWebhookEndpoints.Input) async throws -> Operations.listWebhookEndpoints.Output {
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let endpoints = try await log.store.webhookEndpoints().map { Components.Schemas.WebhookEndpoint($0, nowMs: nowMs) }
        return .ok(.init(body: .json(.init(endpoints: endpoints))))
    }

    func enableWebhookEndpoint(_ input: Operations.enableWebhookEndpoint.Input) async throws -> Operations.enableWebhookEndpoint.Output {
        let id = input.path.endpoint_id
        guard try await log.store.enableWebhookEndpoint(id: id),
              let status = try await log.store.webhookEndpoints().first(where: { $0.id == id })
        else {
            throw APIError(.notFound, code: "not_found", message: "no webhook endpoint '\(id.prefix(64))'")
        }
        webhooks?.enabled(id)
        return .ok(.init(body: .json(.init(status, nowMs: Int64(Date().timeIntervalSince1970 * 1000)))))
    }

    func replayWebhookDeliveries(_ input: Operations.replayWebhookDeliveries.Input) async throws -> Operations.replayWebhookDeliveries.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("the body must be JSON") }
        guard body.since_ms >= 0, body.until_ms > body.since_ms else {
            throw APIError.invalid("since_ms must be at least 0 and until_ms after it", code: "invalid_range")
        }
        guard try await log.store.webhookEndpoints().contains(where: { $0.id == body.endpoint_id }) else {
            throw APIError(.notFound, code: "not_found", message: "no webhook endpoint '\(body.endpoint_id.prefix(64))'")
        }
        let replayed = try await log.store.replayDeliveries(
            endpoint: body.endpoint_id, sinceMs: body.since_ms, untilMs: body.until_ms, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        webhooks?.wake()
        return .accepted(.init(body: .json(.init(replayed: replayed))))
    }
}

extension Components.Schemas.WebhookEndpoint {
    init(_ status: WebhookEndpointStatus, nowMs: Int64) {
        self.init(
            id: status.id, url: Components.Schemas.WebhookDelivery.redacted(status.url), state: status.enabled ? .enabled : .disabled,
            disabled_reason: status.disabledReason, backlog: status.backlog,
            oldest_pending_age_ms: status.oldestPendingCreatedAtMs.map { max(0, nowMs - $0) }, last_error: status.lastError,
            failing_since_ms: status.failingSinceMs, last_success_at_ms: status.lastSuccessAtMs, overflowed: status.overflowed)
    }
}

extension Components.Schemas.WebhookDelivery {
    init(_ row: WebhookDelivery) {
        self.init(
            id: row.id ?? 0, event_id: row.eventID, session_id: row.sessionID, endpoint: Self.redacted(row.endpoint),
            endpoint_id: row.endpointID, _type: row.type,
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
