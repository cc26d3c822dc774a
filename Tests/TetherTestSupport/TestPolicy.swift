import TetherEvents

/// Fast timings so a test sees several health checks and a whole deadline in seconds.
public let fastTestPolicy = ReconnectPolicy(
    healthCheckInterval: .milliseconds(100),
    healthCheckTimeout: .milliseconds(400),
    connectTimeout: .seconds(1),
    joinTimeout: .seconds(1),
    disconnectionTimeout: .seconds(5),
    backoffInitial: .milliseconds(50),
    backoffMaximum: .milliseconds(200))

/// For tests that are not about detection: health-check timeouts long enough (2 s)
/// that a busy 2-core CI machine cannot inject a spurious loss, the rest still fast.
public let steadyTestPolicy = ReconnectPolicy(
    healthCheckInterval: .milliseconds(500),
    healthCheckTimeout: .seconds(2),
    connectTimeout: .seconds(1),
    joinTimeout: .seconds(1),
    disconnectionTimeout: .seconds(5),
    backoffInitial: .milliseconds(50),
    backoffMaximum: .milliseconds(200))
