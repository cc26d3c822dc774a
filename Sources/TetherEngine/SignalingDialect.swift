/// One SFU wire protocol: how to join, health-check and leave, and how its messages
/// decode into ``SignalEvent``.
public protocol SignalingDialect: Sendable {
    /// The name used in the API (`stream`, `janus`).
    var name: String { get }
    /// The `Sec-WebSocket-Protocol` to ask for, if the SFU requires one.
    var webSocketSubprotocol: String? { get }
    /// A codec for one connection generation. Codecs may keep per-connection state
    /// (transaction ids, handles), so each generation gets a fresh one.
    func makeCodec() -> any SignalingCodec
    /// Whether an operator's MIGRATE may join the target before leaving the current
    /// node (two sessions of one participant for a moment, as Stream's SFUs allow).
    var supportsMakeBeforeBreak: Bool { get }
    /// Whether the SFU keeps a session resumable for a new socket from another process
    /// (Janus's `claim`), so a restarted Tether tries FAST before REJOIN.
    var resumesAcrossRestarts: Bool { get }
    /// Whether the SFU keeps a lost session (and its participant) alive until it is
    /// destroyed or expires, so one left behind on a node must be destroyed explicitly
    /// (a join with `cleanupOnly`).
    var leavesStaleSessions: Bool { get }
}

extension SignalingDialect {
    public var supportsMakeBeforeBreak: Bool { false }
    public var resumesAcrossRestarts: Bool { false }
    public var leavesStaleSessions: Bool { false }
}

/// Requests the engine asks a codec to write.
public enum SignalRequest: Sendable, Equatable {
    case join(JoinParameters)
    case healthCheck
    case leave(sessionID: String, reason: String)
}

/// What a codec produces from an inbound frame.
public enum CodecOutput: Sendable, Equatable {
    case event(SignalEvent)
    /// A frame to send back at once (a multi-step handshake's next step, for example).
    case send(WireFrame)
}

/// Encodes requests and decodes frames for one connection generation. Lives on the
/// connection's event loop; never shared between threads.
public protocol SignalingCodec {
    /// The frames that carry `request`, in order.
    mutating func encode(_ request: SignalRequest) throws -> [WireFrame]
    /// Decodes one frame. Unknown messages yield no output; a frame that cannot be
    /// decoded at all throws (a protocol error: a loss with reason `error`).
    mutating func decode(_ frame: WireFrame) throws -> [CodecOutput]
}

/// A frame the dialect could not make sense of.
public struct UndecodableFrame: Error, Sendable, CustomStringConvertible {
    public var dialect: String
    public var detail: String
    public init(dialect: String, detail: String) {
        self.dialect = dialect
        self.detail = detail
    }
    public var description: String { "undecodable \(dialect) frame: \(detail)" }
}
