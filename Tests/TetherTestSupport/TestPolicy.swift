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
/// that a busy 2-core CI machine cannot inject a spurious loss, and connect and join
/// timeouts (5 s) a loaded main pass does not reach (at 1 s, an in-process simulator's
/// upgrade answered late failed creates); the rest still fast.
public let steadyTestPolicy = ReconnectPolicy(
    healthCheckInterval: .milliseconds(500),
    healthCheckTimeout: .seconds(2),
    connectTimeout: .seconds(5),
    joinTimeout: .seconds(5),
    disconnectionTimeout: .seconds(5),
    backoffInitial: .milliseconds(50),
    backoffMaximum: .milliseconds(200))

/// For tests about which path a session takes (strategies, sequences, what reaches the
/// file), not how fast: a busy 2-core CI machine can stall a join past 1 s, which fails
/// an attempt the test did not mean to fail.
public let patientTestPolicy = ReconnectPolicy(
    healthCheckInterval: .milliseconds(500),
    healthCheckTimeout: .seconds(5),
    connectTimeout: .seconds(10),
    joinTimeout: .seconds(10),
    disconnectionTimeout: .seconds(120),
    backoffInitial: .milliseconds(50),
    backoffMaximum: .milliseconds(200))
