/// Where a session is in its life. `left`, `failed` and `ended` are terminal.
public enum SessionState: String, Sendable, Codable, CaseIterable {
    case connecting
    case joined
    case reconnecting
    case migrating
    /// The session left because someone asked: DELETE, shutdown, SIGINT, or the SFU's DISCONNECT.
    case left
    /// Tether gave up: the join failed, or the disconnection deadline passed.
    case failed
    /// The SFU ended the call.
    case ended

    public var isTerminal: Bool {
        switch self {
        case .left, .failed, .ended: true
        case .connecting, .joined, .reconnecting, .migrating: false
        }
    }
}
