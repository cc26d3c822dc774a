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

    public init(sfuSessionID: String, reconnected: Bool, fastReconnectWindow: Duration?, participantCount: Int) {
        self.sfuSessionID = sfuSessionID
        self.reconnected = reconnected
        self.fastReconnectWindow = fastReconnectWindow
        self.participantCount = participantCount
    }
}

/// An `error` sent by the SFU: its code, its words, and the strategy it asks for, if any.
public struct SFUError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var strategy: ReconnectStrategy?

    public init(code: String, message: String, strategy: ReconnectStrategy?) {
        self.code = code
        self.message = message
        self.strategy = strategy
    }

    public var description: String {
        "SFU error \(code): \(message)" + (strategy.map { " (strategy \($0.rawValue))" } ?? "")
    }
}
