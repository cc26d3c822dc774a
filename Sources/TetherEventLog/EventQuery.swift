/// Which events to read: all filters are optional and combine with AND.
public struct EventQuery: Sendable, Equatable {
    public var sessionID: String?
    public var type: String?
    /// Inclusive, ms since 1970.
    public var sinceMs: Int64?
    /// Exclusive, ms since 1970.
    public var untilMs: Int64?
    /// Only events with a larger id (the cursor).
    public var afterID: Int64?
    public var limit: Int

    public init(sessionID: String? = nil, type: String? = nil, sinceMs: Int64? = nil, untilMs: Int64? = nil, afterID: Int64? = nil, limit: Int = 100) {
        self.sessionID = sessionID
        self.type = type
        self.sinceMs = sinceMs
        self.untilMs = untilMs
        self.afterID = afterID
        self.limit = limit
    }
}

/// Which sessions to list, newest first.
public struct SessionQuery: Sendable, Equatable {
    public var state: String?
    public var callID: String?
    /// Only sessions created before this one (the cursor).
    public var beforeSeq: Int64?
    public var limit: Int

    public init(state: String? = nil, callID: String? = nil, beforeSeq: Int64? = nil, limit: Int = 100) {
        self.state = state
        self.callID = callID
        self.beforeSeq = beforeSeq
        self.limit = limit
    }
}
