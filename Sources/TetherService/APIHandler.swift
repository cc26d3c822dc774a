import Foundation
import OpenAPIRuntime
import TetherAPI
import TetherBuildInfo
import TetherEngine
import TetherEventLog
import TetherEvents
import Tracing

/// Implements the operations of `openapi.yaml` (all but the SSE stream). Errors are
/// thrown as ``APIError`` and shaped into JSON by ``APIErrorMiddleware``.
struct APIHandler: APIProtocol {
    let configuration: ServiceConfiguration
    let registry: SessionRegistry
    let log: EventLog
    let metrics: TetherMetrics
    /// Nil when no `--webhook-url` is configured.
    let webhooks: WebhookDispatcher?
    /// Nil on SQLite: no fleet.
    let fleetMember: FleetMember?
    /// The listing pages' bytes, from each row's JSON kept between requests.
    let pages = ListingPageWriter()

    static let defaultLimit = 100

    func createSession(_ input: Operations.createSession.Input) async throws -> Operations.createSession.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("the body must be JSON") }
        let request = try CreateSessionRequest(
            validating: body, idempotencyKey: input.headers.Idempotency_hyphen_Key, configuration: configuration)
        // From the request to `joined` (or the refusal), a child of the request's span.
        let record = try await withSpan("tether.session.create") { span in
            span.attributes["tether.call_id"] = request.callID
            try await registry.checkAddresses(of: request)
            let record = try await registry.create(request)
            span.attributes["tether.session_id"] = record.id
            span.attributes["tether.state"] = record.state
            return record
        }
        return .created(.init(
            headers: .init(Location: "/v1/sessions/\(record.id)"),
            body: .json(.init(record, currentAttempt: 0))))
    }

    func listSessions(_ input: Operations.listSessions.Input) async throws -> Operations.listSessions.Output {
        let limit = try Self.limit(input.query.limit)
        let before = try input.query.cursor.map { cursor throws(APIError) in try Cursor.decode(cursor) }
        try Self.boundedFilters([
            ("call_id", input.query.call_id), ("user_id", input.query.user_id), ("sfu_url", input.query.sfu_url),
        ])
        try Self.nonNegative(input.query.created_since, "created_since")
        try Self.nonNegative(input.query.created_until, "created_until")
        let metadata = try MetadataFilter.parse(RequestQuery.items(ofPath: RequestQuery.raw ?? ""))
        try await log.flush()
        let store = log.store
        let records = try await bounded { try await store.sessions(SessionQuery(
            state: input.query.state?.rawValue, callID: input.query.call_id, userID: input.query.user_id,
            sfuURL: input.query.sfu_url, createdSinceMs: input.query.created_since, createdUntilMs: input.query.created_until,
            metadata: metadata, beforeSeq: before, limit: limit)) }
        let attempts = registry.currentAttempts(for: records.map(\.id))
        let next = records.count == limit ? records.last?.seq.map { Cursor.encode($0) } : nil
        if let slot = PreencodedBody.slot {
            slot.fill(try pages.sessionPage(
                records.map { .init(record: $0, currentAttempt: attempts[$0.id] ?? 0) }, nextCursor: next))
            return .ok(.init(body: .json(.init(sessions: []))))
        }
        return .ok(.init(body: .json(.init(
            sessions: records.map { .init($0, currentAttempt: attempts[$0.id] ?? 0) },
            next_cursor: next))))
    }

    /// Not reached through the router: `SessionReadRoute` serves this operation from each
    /// session's cached body. Kept complete (the generated protocol requires it).
    func getSession(_ input: Operations.getSession.Input) async throws -> Operations.getSession.Output {
        guard let (record, attempt) = try await registry.session(id: input.path.id) else {
            throw APIError.notFound(session: input.path.id)
        }
        return .ok(.init(body: .json(.init(record, currentAttempt: attempt))))
    }

    func deleteSession(_ input: Operations.deleteSession.Input) async throws -> Operations.deleteSession.Output {
        guard try await registry.delete(id: input.path.id) else { throw APIError.notFound(session: input.path.id) }
        return .noContent(.init())
    }

    func migrateSession(_ input: Operations.migrateSession.Input) async throws -> Operations.migrateSession.Output {
        var target: String?
        if case .json(let body) = input.body { target = body.target_url }
        let record = try await registry.migrate(id: input.path.id, to: target)
        let attempt = try await registry.session(id: input.path.id)?.currentAttempt ?? 0
        return .accepted(.init(body: .json(.init(record, currentAttempt: attempt))))
    }

    func drainNode(_ input: Operations.drainNode.Input) async throws -> Operations.drainNode.Output {
        guard case .json(let body) = input.body else { throw APIError.badRequest("the body must be JSON") }
        guard (body.sfu_url == nil) != (body.instance_id == nil) else {
            throw APIError.invalid(
                "give exactly one of sfu_url (move sessions off an SFU node) and instance_id (hand this instance's sessions to the fleet)",
                code: "invalid_drain")
        }
        guard let sfuURL = body.sfu_url else { return try await drainInstance(body.instance_id ?? "", targetURL: body.target_url) }
        for url in [sfuURL] + (body.target_url.map { [$0] } ?? []) {
            do { _ = try SignalingURL(url) } catch { throw APIError.invalid("\(error)", code: "invalid_sfu_url") }
        }
        let (moved, skipped) = try await registry.drain(sfuURL: sfuURL, to: body.target_url)
        return .accepted(.init(body: .json(.init(moved: moved, skipped: skipped))))
    }

    func listSessionEvents(_ input: Operations.listSessionEvents.Input) async throws -> Operations.listSessionEvents.Output {
        let limit = try Self.limit(input.query.limit)
        let after = try input.query.cursor.map { cursor throws(APIError) in try Cursor.decode(cursor) }
        try await log.flush()
        guard try await log.store.session(id: input.path.id) != nil else { throw APIError.notFound(session: input.path.id) }
        let events = try await log.store.storedEvents(EventQuery(sessionID: input.path.id, afterID: after, limit: limit))
        return .ok(.init(body: .json(try page(events, limit: limit))))
    }

    func listEvents(_ input: Operations.listEvents.Input) async throws -> Operations.listEvents.Output {
        let limit = try Self.limit(input.query.limit)
        let after = try input.query.cursor.map { cursor throws(APIError) in try Cursor.decode(cursor) }
        try Self.boundedFilters([
            ("session_id", input.query.session_id), ("call_id", input.query.call_id), ("user_id", input.query.user_id),
            ("sfu_url", input.query.sfu_url), ("reason", input.query.reason),
        ])
        try Self.nonNegative(input.query.since, "since")
        try Self.nonNegative(input.query.until, "until")
        // openapi.yaml's maxItems: each type is one more index range to read.
        if let types = input.query._type, types.count > Self.maxTypeFilters {
            throw APIError.badRequest("type is repeatable at most \(Self.maxTypeFilters) times, got \(types.count)", code: "invalid_filter")
        }
        try await log.flush()
        let store = log.store
        let events = try await bounded { try await store.storedEvents(EventQuery(
            sessionID: input.query.session_id, types: (input.query._type ?? []).map(\.rawValue),
            callID: input.query.call_id, userID: input.query.user_id, sfuURL: input.query.sfu_url,
            reason: input.query.reason, strategy: input.query.strategy?.rawValue,
            sinceMs: input.query.since, untilMs: input.query.until, afterID: after, limit: limit)) }
        return .ok(.init(body: .json(try page(events, limit: limit))))
    }

    func getStats(_ input: Operations.getStats.Input) async throws -> Operations.getStats.Output {
        try Self.boundedFilters([("call_id", input.query.call_id), ("user_id", input.query.user_id), ("sfu_url", input.query.sfu_url)])
        try Self.nonNegative(input.query.since, "since")
        try Self.nonNegative(input.query.until, "until")
        let until = input.query.until ?? Int64(Date().timeIntervalSince1970 * 1000) + 1
        let since = input.query.since ?? max(0, until - 3_600_000)
        try await log.flush()
        let store = log.store
        let query = StatsQuery(
            sinceMs: since, untilMs: until, callID: input.query.call_id, userID: input.query.user_id,
            sfuURL: input.query.sfu_url, groupBy: input.query.group_by.flatMap { StatsQuery.Grouping(rawValue: $0.rawValue) })
        let stats = try await bounded { try await store.stats(query) }
        return .ok(.init(body: .json(.init(
            since_ms: since,
            until_ms: until,
            losses_by_reason: .init(additionalProperties: stats.lossesByReason),
            reconnects_by_strategy: stats.reconnectsByStrategy.compactMap { outcome in
                Components.Schemas.Strategy(rawValue: outcome.strategy).map {
                    .init(strategy: $0, started: outcome.started, attempts_failed: outcome.attemptsFailed, succeeded: outcome.succeeded)
                }
            },
            reconnects_failed: .init(additionalProperties: stats.reconnectsFailed),
            reconnects_delayed: .init(additionalProperties: stats.reconnectsDelayed),
            recovery_time: .init(count: stats.recoveryCount, percentiles: stats.recoveryPercentilesMs),
            recovery_histogram: stats.recoveryHistogram.enumerated().map { bucket, count in
                .init(le_ms: EventStats.histogramBoundsMs.indices.contains(bucket) ? EventStats.histogramBoundsMs[bucket] : nil, count: count)
            },
            groups: input.query.group_by == nil ? nil : stats.groups.map { group in
                .init(
                    key: group.key, joins: group.joins, losses: group.losses, reconnects: group.reconnects, recovered: group.recovered,
                    reconnects_failed: group.reconnectsFailed,
                    recovery_time: .init(count: group.recovered, percentiles: group.recoveryPercentilesMs))
            }))))
    }

    func getMetrics(_ input: Operations.getMetrics.Input) async throws -> Operations.getMetrics.Output {
        metrics.recordStorage(log.health)
        if webhooks != nil {
            metrics.recordWebhooks(try await log.store.webhookEndpoints(), nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
        return .ok(.init(body: .plainText(HTTPBody(metrics.exposition()))))
    }

    func listInstances(_ input: Operations.listInstances.Input) async throws -> Operations.listInstances.Output {
        guard let fleet = registry.fleet else { return .ok(.init(body: .json(.init(instances: [])))) }
        let instances = try await bounded { try await fleet.fleet.instances() }
        return .ok(.init(body: .json(.init(this_instance: fleet.instanceID, instances: instances.map(Components.Schemas.Instance.init)))))
    }

    func getHealth(_ input: Operations.getHealth.Input) async throws -> Operations.getHealth.Output {
        let version = Components.Schemas.BuildVersion(version: BuildInfo.version, commit: BuildInfo.commit, build_date: BuildInfo.buildDate)
        return .ok(.init(body: .json(.init(status: "ok", version: version))))
    }

    func getReadiness(_ input: Operations.getReadiness.Input) async throws -> Operations.getReadiness.Output {
        // The writer's own health, not a probe on the request path: it commits a probe
        // row whenever it has been idle, so a disk that filled up shows here too.
        if let failure = log.health.failure {
            return .serviceUnavailable(.init(body: .json(.init(status: "unavailable", detail: "the history cannot be written: \(failure)"))))
        }
        return .ok(.init(body: .json(.init(status: "ok"))))
    }

    // MARK: - Helpers

    /// A history read under the configured time limit (504 `query_timeout` past it).
    func bounded<T: Sendable>(_ read: @escaping @Sendable () async throws -> T) async throws -> T {
        try await QueryTimeLimit(limit: configuration.queryTimeLimit).run(read)
    }

    static func limit(_ value: Int?) throws(APIError) -> Int {
        guard let value else { return defaultLimit }
        guard (1...1000).contains(value) else {
            throw APIError.badRequest("limit must be 1 to 1000, got \(value)", code: "invalid_limit")
        }
        return value
    }

    /// The longest value each free-text filter takes: an id or name no longer than the
    /// create request allows, so a longer one could match nothing; refused rather than
    /// carried into a query.
    static let filterLengths = ["session_id": 256, "call_id": 256, "user_id": 256, "sfu_url": 2048, "reason": 200]

    static let maxTypeFilters = 16

    static func boundedFilters(_ filters: [(name: String, value: String?)]) throws(APIError) {
        for (name, value) in filters {
            guard let value, let longest = filterLengths[name] else { continue }
            guard value.count <= longest else {
                throw APIError.badRequest("\(name) is at most \(longest) characters, got \(value.count)", code: "invalid_filter")
            }
        }
    }

    static func nonNegative(_ value: Int64?, _ name: String) throws(APIError) {
        if let value, value < 0 { throw APIError.badRequest("\(name) must be a time in ms since 1970, got \(value)", code: "invalid_time") }
    }

    /// The page as the transport's slot's bytes (see ``PreencodedBody``) with an empty
    /// placeholder, or typed when there is no slot.
    func page(_ events: [StoredEvent], limit: Int) throws -> Components.Schemas.EventPage {
        let next = events.count == limit ? events.last.map { Cursor.encode($0.id) } : nil
        if let slot = PreencodedBody.slot {
            slot.fill(try pages.eventPage(events, nextCursor: next))
            return .init(events: [])
        }
        return .init(events: try events.map { try Components.Schemas.Event($0.decoded()) }, next_cursor: next)
    }
}
