/// Every interval, timeout and bound that governs one session's connection.
///
/// Policy is data: a session carries its own copy, filled from the request with the
/// service-wide defaults for anything left out.
public struct ReconnectPolicy: Sendable, Equatable, Hashable {
    /// How often to send a health check.
    public var healthCheckInterval: Duration
    /// How long without a health-check answer before the connection counts as lost.
    public var healthCheckTimeout: Duration
    /// TCP connect plus the WebSocket upgrade.
    public var connectTimeout: Duration
    /// From sending the join request to the SFU's first answer.
    public var joinTimeout: Duration
    /// From the first loss until the session gives up with `deadline_exceeded`.
    public var disconnectionTimeout: Duration
    /// First REJOIN retry delay bound; each retry doubles it (full jitter).
    public var backoffInitial: Duration
    /// Upper bound of a REJOIN retry delay.
    public var backoffMaximum: Duration
    /// How long the SFU keeps a lost session resumable when it does not say
    /// (`fast_reconnect_deadline_seconds` absent or 0).
    public var fastReconnectWindow: Duration
    /// A connection that lasts this long after a recovery counts as stable; a loss
    /// sooner is a flap, and the next recovery waits a growing backoff.
    public var stableAfter: Duration
    /// A session that recovers this many times within `flapWindow` ends
    /// `failed{flapping}` instead of flapping forever.
    public var flapLimit: Int
    public var flapWindow: Duration

    public init(
        healthCheckInterval: Duration = .seconds(5),
        healthCheckTimeout: Duration = .seconds(15),
        connectTimeout: Duration = .seconds(5),
        joinTimeout: Duration = .seconds(5),
        disconnectionTimeout: Duration = .seconds(30),
        backoffInitial: Duration = .milliseconds(250),
        backoffMaximum: Duration = .seconds(5),
        fastReconnectWindow: Duration = .seconds(10),
        stableAfter: Duration = .seconds(10),
        flapLimit: Int = 10,
        flapWindow: Duration = .seconds(120)
    ) {
        self.healthCheckInterval = healthCheckInterval
        self.healthCheckTimeout = healthCheckTimeout
        self.connectTimeout = connectTimeout
        self.joinTimeout = joinTimeout
        self.disconnectionTimeout = disconnectionTimeout
        self.backoffInitial = backoffInitial
        self.backoffMaximum = backoffMaximum
        self.fastReconnectWindow = fastReconnectWindow
        self.stableAfter = stableAfter
        self.flapLimit = flapLimit
        self.flapWindow = flapWindow
    }

    public static let `default` = ReconnectPolicy()

    /// Problems that make a policy unusable, in words a user can act on; empty when valid.
    public var problems: [String] {
        var found: [String] = []
        func positive(_ value: Duration, _ name: String) {
            if value <= .zero { found.append("\(name) must be greater than 0") }
        }
        positive(healthCheckInterval, "health_check_interval")
        positive(healthCheckTimeout, "health_check_timeout")
        positive(connectTimeout, "connect_timeout")
        positive(joinTimeout, "join_timeout")
        positive(disconnectionTimeout, "disconnection_timeout")
        positive(backoffInitial, "backoff_initial")
        positive(backoffMaximum, "backoff_max")
        positive(stableAfter, "stable_after")
        positive(flapWindow, "flap_window")
        if flapLimit < 2 { found.append("flap_limit must be at least 2") }
        if healthCheckTimeout < healthCheckInterval {
            found.append("health_check_timeout must be at least health_check_interval")
        }
        if backoffMaximum < backoffInitial {
            found.append("backoff_max must be at least backoff_initial")
        }
        return found
    }
}

extension Duration {
    /// Whole milliseconds, rounded down; what events and the API report.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
