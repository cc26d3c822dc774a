import TetherEvents

/// A session's state at one moment, as the API shows it: read off the ``Reconnector``.
public struct SessionSnapshot: Sendable, Equatable {
    public var state: SessionState
    public var sfuURL: String
    public var sfuSessionID: String?
    /// The dialect's resume state for `sfuSessionID`, stored to resume after a restart.
    public var resumeState: String?
    public var generation: UInt64
    public var counters: SessionCounters
    /// The attempt number of the reconnection in progress, 0 when none runs.
    public var currentAttempt: Int
    /// Why the session ended, for terminal states.
    public var end: EndReason?

    public init(
        state: SessionState, sfuURL: String, sfuSessionID: String?, resumeState: String? = nil, generation: UInt64,
        counters: SessionCounters, currentAttempt: Int, end: EndReason?
    ) {
        self.state = state
        self.sfuURL = sfuURL
        self.sfuSessionID = sfuSessionID
        self.resumeState = resumeState
        self.generation = generation
        self.counters = counters
        self.currentAttempt = currentAttempt
        self.end = end
    }

    public var losses: Int { counters.losses }
    public var reconnects: Int { counters.reconnects }
    public var failedReconnects: Int { counters.failedReconnects }
}
