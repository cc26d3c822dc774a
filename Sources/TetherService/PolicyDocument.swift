import TetherEvents

/// A policy as JSON in milliseconds: how it is stored in the sessions table and shown.
struct PolicyDocument: Codable, Sendable, Equatable {
    var healthCheckIntervalMs: Int64
    var healthCheckTimeoutMs: Int64
    var connectTimeoutMs: Int64
    var joinTimeoutMs: Int64
    var disconnectionTimeoutMs: Int64
    var backoffInitialMs: Int64
    var backoffMaxMs: Int64

    enum CodingKeys: String, CodingKey {
        case healthCheckIntervalMs = "health_check_interval_ms"
        case healthCheckTimeoutMs = "health_check_timeout_ms"
        case connectTimeoutMs = "connect_timeout_ms"
        case joinTimeoutMs = "join_timeout_ms"
        case disconnectionTimeoutMs = "disconnection_timeout_ms"
        case backoffInitialMs = "backoff_initial_ms"
        case backoffMaxMs = "backoff_max_ms"
    }

    init(_ policy: ReconnectPolicy) {
        healthCheckIntervalMs = policy.healthCheckInterval.wholeMilliseconds
        healthCheckTimeoutMs = policy.healthCheckTimeout.wholeMilliseconds
        connectTimeoutMs = policy.connectTimeout.wholeMilliseconds
        joinTimeoutMs = policy.joinTimeout.wholeMilliseconds
        disconnectionTimeoutMs = policy.disconnectionTimeout.wholeMilliseconds
        backoffInitialMs = policy.backoffInitial.wholeMilliseconds
        backoffMaxMs = policy.backoffMaximum.wholeMilliseconds
    }

    var policy: ReconnectPolicy {
        ReconnectPolicy(
            healthCheckInterval: .milliseconds(healthCheckIntervalMs),
            healthCheckTimeout: .milliseconds(healthCheckTimeoutMs),
            connectTimeout: .milliseconds(connectTimeoutMs),
            joinTimeout: .milliseconds(joinTimeoutMs),
            disconnectionTimeout: .milliseconds(disconnectionTimeoutMs),
            backoffInitial: .milliseconds(backoffInitialMs),
            backoffMaximum: .milliseconds(backoffMaxMs))
    }
}
