import TetherEvents

/// Why a session ended: decided once, by the ``Reconnector``'s terminal transition, and
/// read as this typed value by everything else (the row, the API, idempotent replays).
public enum EndReason: Sendable, Equatable, Hashable {
    /// It left: asked (`requested`, `shutdown`, a signal), told by the SFU
    /// (`sfu_disconnect`), or removed by a moderator (`kicked`).
    case left(reason: String)
    /// The SFU ended the call.
    case ended(reason: String)
    /// The first join failed with the SFU's code (or the transport's: `connect_timeout`, …).
    case joinFailed(code: String, message: String)
    /// A reconnection gave up: `deadline_exceeded`, `flapping`, `sfu_address_not_allowed`, …
    case reconnectFailed(reason: String)

    /// The state this end puts the session in.
    public var state: SessionState {
        switch self {
        case .left: .left
        case .ended: .ended
        case .joinFailed, .reconnectFailed: .failed
        }
    }

    /// The `end_reason` the API shows: the reason itself, `join_failed: <code>` for a
    /// failed join. For display only: nothing parses it back (``joinFailureCode`` is typed).
    public var text: String {
        switch self {
        case .left(let reason), .ended(let reason), .reconnectFailed(let reason): reason
        case .joinFailed(let code, _): "join_failed: \(code)"
        }
    }

    /// The code of a failed first join, nil for any other end.
    public var joinFailureCode: String? {
        if case .joinFailed(let code, _) = self { return code }
        return nil
    }

    /// The history event that records this end.
    public func event(attempts: Int = 0, durationMs: Int64 = 0) -> SessionEventKind {
        switch self {
        case .left(let reason): .left(reason: reason)
        case .ended(let reason): .callEnded(reason: reason)
        case .joinFailed(let code, let message): .joinFailed(code: code, message: message)
        case .reconnectFailed(let reason): .reconnectFailed(reason: reason, attempts: attempts, durationMs: durationMs)
        }
    }
}
