/// Which sessions to list, newest first: all filters are optional and combine with AND.
public struct SessionQuery: Sendable, Equatable {
    public var state: String?
    public var callID: String?
    public var userID: String?
    /// Sessions whose current node is this one.
    public var sfuURL: String?
    /// Created at or after (inclusive) / before (exclusive), ms since 1970.
    public var createdSinceMs: Int64?
    public var createdUntilMs: Int64?
    /// Equality on the create's metadata: every pair must match.
    public var metadata: [String: String]
    /// Only sessions created before this one (the cursor).
    public var beforeSeq: Int64?
    public var limit: Int

    public init(
        state: String? = nil, callID: String? = nil, userID: String? = nil, sfuURL: String? = nil,
        createdSinceMs: Int64? = nil, createdUntilMs: Int64? = nil, metadata: [String: String] = [:],
        beforeSeq: Int64? = nil, limit: Int = 100
    ) {
        self.state = state
        self.callID = callID
        self.userID = userID
        self.sfuURL = sfuURL
        self.createdSinceMs = createdSinceMs
        self.createdUntilMs = createdUntilMs
        self.metadata = metadata
        self.beforeSeq = beforeSeq
        self.limit = limit
    }
}
