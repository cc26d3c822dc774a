/// Which events to read: all filters are optional and combine with AND.
public struct EventQuery: Sendable, Equatable {
    public var sessionID: String?
    /// Any of these types; empty means every type.
    public var types: [String]
    /// Events of the sessions in this call / of this user.
    public var callID: String?
    public var userID: String?
    /// Events that happened on this SFU node (the `sfu_url` column).
    public var sfuURL: String?
    /// The event's reason: a loss's, an end's, a failure's or an escalation's.
    public var reason: String?
    public var strategy: String?
    /// Inclusive, ms since 1970.
    public var sinceMs: Int64?
    /// Exclusive, ms since 1970.
    public var untilMs: Int64?
    /// Only events with a larger id (the cursor).
    public var afterID: Int64?
    public var limit: Int

    public init(
        sessionID: String? = nil, types: [String] = [], callID: String? = nil, userID: String? = nil,
        sfuURL: String? = nil, reason: String? = nil, strategy: String? = nil,
        sinceMs: Int64? = nil, untilMs: Int64? = nil, afterID: Int64? = nil, limit: Int = 100
    ) {
        self.sessionID = sessionID
        self.types = types
        self.callID = callID
        self.userID = userID
        self.sfuURL = sfuURL
        self.reason = reason
        self.strategy = strategy
        self.sinceMs = sinceMs
        self.untilMs = untilMs
        self.afterID = afterID
        self.limit = limit
    }
}
