/// A fault the simulator can be told to produce.
public enum SimulatorFault: Sendable, Equatable {
    /// End every connection with no close frame: FIN, or RST when `reset`.
    case drop(reset: Bool)
    /// Send a close frame with `code`, then close.
    case close(code: UInt16, reason: String)
    /// Stop answering health checks for this long.
    case freezeHealthChecks(milliseconds: Int)
    /// Send an `error` event; `strategy` is `fast`, `rejoin`, `migrate`, `disconnect` or nil.
    case error(code: Int, message: String, strategy: String?)
    case goAway(reason: String)
    case callEnded(reason: String)
    /// Send a binary frame that is not an SfuEvent, then optionally close with a code.
    case garbage(thenCloseCode: UInt16?)
    /// Forget every session and drop every connection, as a restart would.
    case forgetSessions
    /// Answer the next `count` joins with an `error`.
    case rejectJoins(count: Int, code: Int, strategy: String?)
    /// Hold the answer to the next `count` joins for `milliseconds` (a very long delay
    /// is a join that is never answered).
    case delayJoins(count: Int, milliseconds: Int)
    /// Accept the next `count` joins, then drop each connection (no close frame)
    /// `milliseconds` later: a flapping node.
    case dropAfterJoin(count: Int, milliseconds: Int)
    /// Send `count` `error` events (no strategy) whose message is `bytes` long, each
    /// once the previous one is taken by the socket: a hostile SFU filling the history.
    case errorFlood(count: Int, bytes: Int)
    /// Stop reading from the participant, then send `count` pings (125-byte payloads, the
    /// most a control frame carries): a hostile SFU that
    /// makes the client queue pongs it never reads.
    case pingFlood(count: Int)
}
