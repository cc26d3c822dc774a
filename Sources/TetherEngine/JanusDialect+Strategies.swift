import TetherEvents

extension JanusDialect {
    /// How the engine hears each ``JanusFact``: the one place the `janus` dialect picks
    /// a strategy. Whatever ends the Janus session or our handle in it calls for REJOIN
    /// (a claim can only resume a session Janus still has); a refused join step calls for
    /// nothing (the join fails, or the reconnection's attempt does), flagged when fresh
    /// credentials (403) or another node (472) may help.
    func error(for fact: JanusFact) -> SFUError {
        switch fact {
        case .refused(let request, let code, let reason):
            SFUError(
                code: String(code), message: reason, strategy: nil,
                nodeRefusesNewSessions: request == "create" && code == 472, unauthenticated: code == 403)
        case .roomMissing(let reason):
            SFUError(code: "426", message: "no such room \(room) (create_room is false): \(reason)", strategy: nil)
        case .staleDestroyRefused(let code, let reason):
            SFUError(code: String(code), message: "destroying a stale session: \(reason)", strategy: nil)
        case .keepaliveRefused(let code, let reason):
            SFUError(code: String(code), message: "keepalive refused: \(reason)", strategy: .rejoin)
        case .claimRefused(let code, let reason):
            SFUError(code: String(code), message: reason, strategy: .rejoin, sessionUnknown: code == 458)
        case .sessionTimedOut:
            SFUError(code: "session_timeout", message: "Janus timed the session out", strategy: .rejoin)
        case .handleDetached(let handle):
            SFUError(code: "detached", message: "Janus detached our handle \(handle)", strategy: .rejoin)
        case .roomDestroyed:
            SFUError(code: "room_destroyed", message: "the room \(room) was destroyed", strategy: .rejoin)
        }
    }
}
