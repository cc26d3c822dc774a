/// Why a connection generation was lost: the three sites of the loss signal.
public enum LossReason: String, Sendable, Codable, CaseIterable {
    /// The server sent a close frame, or TCP ended (EOF or reset), while we did not ask to close.
    case unexpectedClose = "unexpected_close"
    /// A transport or protocol error (an undecodable frame included) after the join succeeded.
    case error
    /// No health-check answer within the health-check timeout.
    case healthCheckTimeout = "health_check_timeout"
}
