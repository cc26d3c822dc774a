import TetherEvents

/// Everything a dialect needs to write a join for one attempt.
public struct JoinParameters: Sendable, Equatable {
    public var token: String
    public var callID: String
    public var userID: String
    /// The SFU session to resume (FAST), or nil to start a new one.
    public var resumeSessionID: String?
    /// Why we are joining: nil for the first join.
    public var reconnect: ReconnectContext?
    /// A session of ours this node may still hold from before a loss: destroyed before
    /// the new one is created, so the room never holds the agent twice.
    public var staleSessionID: String?
    /// Only destroy `staleSessionID` and report it; join nothing (a cleanup on a node
    /// the session has left).
    public var cleanupOnly: Bool
    /// The dialect's resume state for `resumeSessionID` (``JoinAnswer/resumeState``).
    public var resumeState: String?
    /// The dialect's resume state for `staleSessionID`.
    public var staleResumeState: String?

    public struct ReconnectContext: Sendable, Equatable {
        public var strategy: ReconnectStrategy
        public var attempt: Int
        public var previousSessionID: String?
        /// The node being left, for MIGRATE.
        public var fromSFU: String?
        public var reason: String

        public init(strategy: ReconnectStrategy, attempt: Int, previousSessionID: String?, fromSFU: String?, reason: String) {
            self.strategy = strategy
            self.attempt = attempt
            self.previousSessionID = previousSessionID
            self.fromSFU = fromSFU
            self.reason = reason
        }
    }

    public init(
        token: String, callID: String, userID: String, resumeSessionID: String? = nil, reconnect: ReconnectContext? = nil,
        staleSessionID: String? = nil, cleanupOnly: Bool = false, resumeState: String? = nil, staleResumeState: String? = nil
    ) {
        self.resumeState = resumeState
        self.staleResumeState = staleResumeState
        self.token = token
        self.callID = callID
        self.userID = userID
        self.resumeSessionID = resumeSessionID
        self.reconnect = reconnect
        self.staleSessionID = staleSessionID
        self.cleanupOnly = cleanupOnly
    }
}
