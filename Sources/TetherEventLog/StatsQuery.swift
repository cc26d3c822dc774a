/// The window and filters of `/v1/stats`.
public struct StatsQuery: Sendable, Equatable {
    /// What `group_by` splits the figures by.
    public enum Grouping: String, Sendable, CaseIterable {
        /// The node each event happened on.
        case sfuURL = "sfu_url"
        /// The call of each event's session.
        case callID = "call_id"
    }

    /// Inclusive, ms since 1970.
    public var sinceMs: Int64
    /// Exclusive, ms since 1970.
    public var untilMs: Int64
    public var callID: String?
    public var userID: String?
    public var sfuURL: String?
    public var groupBy: Grouping?

    /// At most this many groups are returned, those with the most losses first: a
    /// window with thousands of calls stays one bounded answer.
    public static let maxGroups = 200

    public init(sinceMs: Int64, untilMs: Int64, callID: String? = nil, userID: String? = nil, sfuURL: String? = nil, groupBy: Grouping? = nil) {
        self.sinceMs = sinceMs
        self.untilMs = untilMs
        self.callID = callID
        self.userID = userID
        self.sfuURL = sfuURL
        self.groupBy = groupBy
    }
}

extension StatsQuery {
    /// Whether the rollups can answer (they are per node): not for a call's or a
    /// user's figures, nor per call.
    public var usesRollups: Bool { callID == nil && userID == nil && groupBy != .callID }
}
