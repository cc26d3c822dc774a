import TetherEvents

/// A session's state at one moment, as the API shows it.
public struct SessionSnapshot: Sendable, Equatable {
    public var state: SessionState
    public var sfuURL: String
    public var sfuSessionID: String?
    public var generation: UInt64
    public var losses: Int
    public var reconnects: Int
    public var failedReconnects: Int
    /// The attempt number of the reconnection in progress, 0 when none runs.
    public var currentAttempt: Int
    /// Why the session ended, for terminal states.
    public var endReason: String?
}
