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
