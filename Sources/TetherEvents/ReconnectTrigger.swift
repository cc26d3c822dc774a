/// What started (or was merged into) a reconnection.
public enum ReconnectTrigger: String, Sendable, Codable, CaseIterable {
    case connectionLost = "connection_lost"
    case sfuError = "sfu_error"
    case goAway = "go_away"
    /// An operator asked to move the session (migrate or drain).
    case operatorRequest = "operator_request"
    /// Tether restarted while the session was live.
    case restart
}
