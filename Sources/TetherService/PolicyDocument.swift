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
    var stableAfterMs: Int64
    var flapLimit: Int
    var flapWindowMs: Int64

    enum CodingKeys: String, CodingKey {
        case healthCheckIntervalMs = "health_check_interval_ms"
        case healthCheckTimeoutMs = "health_check_timeout_ms"
        case connectTimeoutMs = "connect_timeout_ms"
        case joinTimeoutMs = "join_timeout_ms"
        case disconnectionTimeoutMs = "disconnection_timeout_ms"
        case backoffInitialMs = "backoff_initial_ms"
        case backoffMaxMs = "backoff_max_ms"
        case stableAfterMs = "stable_after_ms"
        case flapLimit = "flap_limit"
        case flapWindowMs = "flap_window_ms"
    }

    /// Rows stored before the flapping fields existed read with today's defaults.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ReconnectPolicy.default
        healthCheckIntervalMs = try c.decode(Int64.self, forKey: .healthCheckIntervalMs)
        healthCheckTimeoutMs = try c.decode(Int64.self, forKey: .healthCheckTimeoutMs)
        connectTimeoutMs = try c.decode(Int64.self, forKey: .connectTimeoutMs)
        joinTimeoutMs = try c.decode(Int64.self, forKey: .joinTimeoutMs)
        disconnectionTimeoutMs = try c.decode(Int64.self, forKey: .disconnectionTimeoutMs)
        backoffInitialMs = try c.decode(Int64.self, forKey: .backoffInitialMs)
        backoffMaxMs = try c.decode(Int64.self, forKey: .backoffMaxMs)
        stableAfterMs = try c.decodeIfPresent(Int64.self, forKey: .stableAfterMs) ?? defaults.stableAfter.wholeMilliseconds
        flapLimit = try c.decodeIfPresent(Int.self, forKey: .flapLimit) ?? defaults.flapLimit
        flapWindowMs = try c.decodeIfPresent(Int64.self, forKey: .flapWindowMs) ?? defaults.flapWindow.wholeMilliseconds
    }

    init(_ policy: ReconnectPolicy) {
        healthCheckIntervalMs = policy.healthCheckInterval.wholeMilliseconds
        healthCheckTimeoutMs = policy.healthCheckTimeout.wholeMilliseconds
        connectTimeoutMs = policy.connectTimeout.wholeMilliseconds
        joinTimeoutMs = policy.joinTimeout.wholeMilliseconds
        disconnectionTimeoutMs = policy.disconnectionTimeout.wholeMilliseconds
        backoffInitialMs = policy.backoffInitial.wholeMilliseconds
        backoffMaxMs = policy.backoffMaximum.wholeMilliseconds
        stableAfterMs = policy.stableAfter.wholeMilliseconds
        flapLimit = policy.flapLimit
        flapWindowMs = policy.flapWindow.wholeMilliseconds
    }

    var policy: ReconnectPolicy {
        ReconnectPolicy(
            healthCheckInterval: .milliseconds(healthCheckIntervalMs),
            healthCheckTimeout: .milliseconds(healthCheckTimeoutMs),
            connectTimeout: .milliseconds(connectTimeoutMs),
            joinTimeout: .milliseconds(joinTimeoutMs),
            disconnectionTimeout: .milliseconds(disconnectionTimeoutMs),
            backoffInitial: .milliseconds(backoffInitialMs),
            backoffMaximum: .milliseconds(backoffMaxMs),
            stableAfter: .milliseconds(stableAfterMs),
            flapLimit: flapLimit,
            flapWindow: .milliseconds(flapWindowMs))
    }
}
