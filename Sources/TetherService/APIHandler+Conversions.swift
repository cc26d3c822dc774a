import Foundation
import TetherAPI
import TetherEventLog
import TetherEngine
import TetherEvents
import TetherPostgresStore

/// A row's stored JSON parts (node list, metadata, policy, Janus options), decoded once
/// per distinct text: listing a page of sessions again decodes nothing. Texts longer than
/// 4 KiB (large metadata) are decoded every time rather than kept.
private enum StoredParts {
    static func memo<Value: Sendable>() -> DecodedMemo<String, Value> {
        DecodedMemo(capacity: 2048) { $0.utf8.count <= 4096 }
    }

    static let urls: DecodedMemo<String, [String]> = memo()
    static let metadata: DecodedMemo<String, [String: String]> = memo()
    static let policy: DecodedMemo<String, PolicyDocument> = memo()
    static let janus: DecodedMemo<String, JanusOptions?> = memo()

    static func decode<Value: Sendable & Decodable>(_ text: String, _ memo: DecodedMemo<String, Value>, otherwise: Value) -> Value {
        memo.value(for: text) { (try? JSONDecoder().decode(Value.self, from: Data($0.utf8))) ?? otherwise }
    }
}

extension Components.Schemas.Session {
    init(_ record: SessionRecord, currentAttempt: Int) {
        let urls = StoredParts.decode(record.sfuURLs, StoredParts.urls, otherwise: [])
        let metadata = StoredParts.decode(record.metadata, StoredParts.metadata, otherwise: [:])
        let policy = StoredParts.decode(record.policy, StoredParts.policy, otherwise: PolicyDocument(.default))
        let janus = record.dialectOptions.flatMap { StoredParts.decode($0, StoredParts.janus, otherwise: nil) }
        self.init(
            id: record.id,
            state: Components.Schemas.SessionState(rawValue: record.state) ?? .failed,
            call_id: record.callID,
            user_id: record.userID,
            dialect: record.dialect,
            janus: janus.map { .init(room: .init($0.room), display: $0.display, create_room: $0.createRoom) },
            sfu_urls: urls,
            sfu_url: record.sfuURL,
            sfu_session_id: record.sfuSessionID,
            generation: record.generation,
            counters: .init(losses: record.losses, reconnects: record.reconnects, failed_reconnects: record.failedReconnects),
            current_attempt: currentAttempt,
            end_reason: record.endReason,
            created_at_ms: record.createdAtMs,
            updated_at_ms: record.updatedAtMs,
            ended_at_ms: record.endedAtMs,
            policy: .init(
                health_check_interval_ms: policy.healthCheckIntervalMs,
                health_check_timeout_ms: policy.healthCheckTimeoutMs,
                connect_timeout_ms: policy.connectTimeoutMs,
                join_timeout_ms: policy.joinTimeoutMs,
                disconnection_timeout_ms: policy.disconnectionTimeoutMs,
                backoff_initial_ms: policy.backoffInitialMs,
                backoff_max_ms: policy.backoffMaxMs,
                stable_after_ms: policy.stableAfterMs,
                flap_limit: policy.flapLimit,
                flap_window_ms: policy.flapWindowMs),
            metadata: .init(additionalProperties: metadata),
            owner_instance: record.ownerInstance,
            epoch: record.epoch)
    }
}

extension Components.Schemas.Instance {
    init(_ instance: FleetInstance) {
        self.init(
            id: instance.id, state: .init(rawValue: instance.state) ?? .dead, incarnation: instance.incarnation, address: instance.address,
            started_at_ms: instance.startedAtMs, capacity: instance.capacity, sessions: instance.sessions,
            lease_expires_at_ms: instance.leaseExpiresAtMs, last_renewal_at_ms: instance.lastRenewalAtMs)
    }
}

extension Components.Schemas.Event {
    /// The stored JSON and the API's schema share field names, so a round trip converts.
    init(_ event: SessionEvent) throws {
        self = try JSONDecoder().decode(Components.Schemas.Event.self, from: try JSONEncoder().encode(event))
    }
}

extension CreateSessionRequest {
    /// Checks what the generated decoder does not (lengths, ranges, URL syntax); the
    /// address policy needs resolution and is checked by the registry.
    init(validating body: Components.Schemas.CreateSessionRequest, idempotencyKey: String?, configuration: ServiceConfiguration) throws(APIError) {
        func require(_ condition: Bool, _ message: String, code: String = "validation_failed") throws(APIError) {
            if !condition { throw APIError.invalid(message, code: code) }
        }
        try require(!body.call_id.isEmpty && body.call_id.count <= 256, "call_id must be 1 to 256 characters")
        try require(!body.user_id.isEmpty && body.user_id.count <= 256, "user_id must be 1 to 256 characters")
        let token = body.sfu.token ?? ""
        try require(token.count <= 8192, "sfu.token must be at most 8192 characters")
        if body.sfu.dialect == .stream {
            try require(!token.isEmpty, "sfu.token is required for the stream dialect")
        }
        try require(!body.sfu.urls.isEmpty && body.sfu.urls.count <= 16, "sfu.urls must hold 1 to 16 URLs")
        for url in body.sfu.urls {
            do { _ = try SignalingURL(url) } catch { throw APIError.invalid("sfu.urls: \(error)", code: "invalid_sfu_url") }
        }
        if let key = idempotencyKey {
            try require(!key.isEmpty && key.count <= 200, "Idempotency-Key must be 1 to 200 characters")
        }
        var janus: JanusOptions?
        switch body.sfu.dialect {
        case .janus:
            guard let options = body.sfu.janus else {
                throw APIError.invalid("sfu.janus (room, display, create_room) is required for the janus dialect", code: "validation_failed")
            }
            let room: JanusRoom
            switch options.room {
            case .case1(let number):
                try require(number >= 1, "sfu.janus.room must be a positive integer or a non-empty string")
                room = .number(number)
            case .case2(let name):
                try require(!name.isEmpty && name.count <= 256, "sfu.janus.room must be a positive integer or a 1 to 256 character string")
                room = .name(name)
            }
            let display = options.display ?? body.user_id
            try require(!display.isEmpty && display.count <= 256, "sfu.janus.display must be 1 to 256 characters")
            for (name, value) in [("pin", options.pin), ("room_secret", options.room_secret), ("admin_key", options.admin_key), ("api_secret", options.api_secret)] {
                if let value { try require(!value.isEmpty && value.count <= 256, "sfu.janus.\(name) must be 1 to 256 characters") }
            }
            janus = JanusOptions(
                room: room, display: display, createRoom: options.create_room ?? false, pin: options.pin,
                roomSecret: options.room_secret, adminKey: options.admin_key, apiSecret: options.api_secret)
        case .stream:
            try require(body.sfu.janus == nil, "sfu.janus only applies to the janus dialect")
        }
        let metadata = body.metadata?.additionalProperties ?? [:]
        try require(metadata.count <= 32, "metadata holds at most 32 entries")
        try require(metadata.allSatisfy { $0.key.count <= 256 && $0.value.count <= 1024 }, "metadata keys are at most 256 and values 1024 characters")

        var policy = configuration.defaultPolicy
        if let given = body.policy {
            func duration(_ value: Int64?, _ name: String, _ range: ClosedRange<Int64>, into keyPath: WritableKeyPath<ReconnectPolicy, Duration>) throws(APIError) {
                guard let value else { return }
                try require(range.contains(value), "policy.\(name) must be \(range.lowerBound) to \(range.upperBound)")
                policy[keyPath: keyPath] = .milliseconds(value)
            }
            try duration(given.health_check_interval_ms, "health_check_interval_ms", 50...600_000, into: \.healthCheckInterval)
            try duration(given.health_check_timeout_ms, "health_check_timeout_ms", 50...3_600_000, into: \.healthCheckTimeout)
            try duration(given.connect_timeout_ms, "connect_timeout_ms", 50...600_000, into: \.connectTimeout)
            try duration(given.join_timeout_ms, "join_timeout_ms", 50...600_000, into: \.joinTimeout)
            try duration(given.disconnection_timeout_ms, "disconnection_timeout_ms", 100...86_400_000, into: \.disconnectionTimeout)
            try duration(given.backoff_initial_ms, "backoff_initial_ms", 1...600_000, into: \.backoffInitial)
            try duration(given.backoff_max_ms, "backoff_max_ms", 1...3_600_000, into: \.backoffMaximum)
            try duration(given.stable_after_ms, "stable_after_ms", 1...3_600_000, into: \.stableAfter)
            try duration(given.flap_window_ms, "flap_window_ms", 1...86_400_000, into: \.flapWindow)
            if let limit = given.flap_limit {
                try require((2...10_000).contains(limit), "policy.flap_limit must be 2 to 10000")
                policy.flapLimit = limit
            }
        }
        let problems = policy.problems
        try require(problems.isEmpty, "policy: " + problems.joined(separator: "; "))

        self.init(
            callID: body.call_id, userID: body.user_id, dialect: body.sfu.dialect.rawValue,
            sfuURLs: body.sfu.urls, token: token, policy: policy, metadata: metadata,
            janus: janus, idempotencyKey: idempotencyKey)
    }
}

extension Components.Schemas.JanusRoom {
    init(_ room: JanusRoom) {
        switch room {
        case .number(let number): self = .case1(number)
        case .name(let name): self = .case2(name)
        }
    }
}

extension Components.Schemas.Percentiles {
    /// From nearest-rank percentiles keyed 50, 95, 99 (empty when `count` is 0), read
    /// from the fine recovery buckets.
    init(count: Int, percentiles: [Int: Int64]) {
        self.init(
            count: count, relative_error: RecoveryBuckets.relativeError, p50_ms: percentiles[50], p95_ms: percentiles[95],
            p99_ms: percentiles[99])
    }
}
