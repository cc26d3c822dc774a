import TetherEvents

/// A message from the SFU, decoded into a shape that does not depend on the dialect.
public enum SignalEvent: Sendable, Equatable {
    /// The first answer to a join: the SFU accepted it.
    case joinAccepted(JoinAnswer)
    case healthCheckAnswered
    case sfuError(SFUError)
    case goAway(reason: String)
    case callEnded(reason: String)
    case participantJoined(userID: String, sessionID: String)
    case participantLeft(userID: String, sessionID: String)
    /// The SFU removed us from the call on someone's decision (a moderator's kick):
    /// an outcome that stands, never a loss to recover from.
    case removed(code: String, message: String)
}

/// What the SFU said when it accepted a join.
public struct JoinAnswer: Sendable, Equatable {
    /// The SFU session this connection now carries.
    public var sfuSessionID: String
    /// True when the SFU resumed the session named in a FAST join.
    public var reconnected: Bool
    /// How long the SFU keeps a lost session resumable; nil when it did not say.
    public var fastReconnectWindow: Duration?
    public var participantCount: Int
    /// The longest health-check interval the SFU tolerates before it expires an idle
    /// session (Janus's `session-timeout`); nil when it did not say.
    public var healthCheckCeiling: Duration?
    /// A session of ours the SFU still held from before the loss, destroyed during this
    /// join so the room never holds the agent twice.
    public var staleSessionDestroyed: String?
    /// The resumed session had lost its place in the room; the join put it back.
    public var rejoinedRoom: Bool
    /// Numbers the SFU sent with this answer that were out of range and were clamped
    /// or ignored (``PeerLimits``); each is recorded as `sfu_error{bad_value}`.
    public var valueProblems: [String]
    /// What the dialect needs to resume this SFU session later (JSON it owns; the engine
    /// carries and stores it, and never reads it). Nil when the session id is enough.
    public var resumeState: String?

    public init(
        sfuSessionID: String, reconnected: Bool, fastReconnectWindow: Duration?, participantCount: Int,
        healthCheckCeiling: Duration? = nil, staleSessionDestroyed: String? = nil, rejoinedRoom: Bool = false,
        valueProblems: [String] = [], resumeState: String? = nil
    ) {
        self.valueProblems = valueProblems
        self.resumeState = resumeState
        self.sfuSessionID = sfuSessionID
        self.reconnected = reconnected
        self.fastReconnectWindow = fastReconnectWindow
        self.participantCount = participantCount
        self.healthCheckCeiling = healthCheckCeiling
        self.staleSessionDestroyed = staleSessionDestroyed
        self.rejoinedRoom = rejoinedRoom
    }
}

/// An `error` sent by the SFU: its code, its words, and the strategy it asks for, if any.
public struct SFUError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var strategy: ReconnectStrategy?
    /// The node accepts no new sessions (Janus 472): another node of the session's list
    /// should be tried, for a first join as for REJOIN and MIGRATE.
    public var nodeRefusesNewSessions: Bool
    /// The node refused a FAST resume because it does not know the session (Stream's
    /// `PARTICIPANT_RECONNECT_FAILED`, Janus's 458 to a claim): evidence that it may
    /// have restarted and forgotten everyone.
    public var sessionUnknown: Bool
    /// The join was refused for its credentials (Stream's `UNAUTHENTICATED`, Janus's
    /// 403): fresh ones may succeed.
    public var unauthenticated: Bool

    public init(
        code: String, message: String, strategy: ReconnectStrategy?, nodeRefusesNewSessions: Bool = false, sessionUnknown: Bool = false,
        unauthenticated: Bool = false
    ) {
        self.unauthenticated = unauthenticated
        self.code = code
        self.message = message
        self.strategy = strategy
        self.nodeRefusesNewSessions = nodeRefusesNewSessions
        self.sessionUnknown = sessionUnknown
    }

    public var description: String {
        "SFU error \(code): \(message)" + (strategy.map { " (strategy \($0.rawValue))" } ?? "")
    }
}
