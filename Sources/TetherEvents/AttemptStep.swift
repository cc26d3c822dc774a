/// The step of a reconnection attempt that failed.
public enum AttemptStep: String, Sendable, Codable, CaseIterable {
    /// TCP connect, TLS, or the WebSocket upgrade.
    case connect
    /// The join handshake: the SFU answered with an error, or not in time.
    case join
    /// A FAST resume the SFU did not honour (`reconnected` was not true).
    case resume
    /// The SFU's fast-reconnect window closed before the FAST attempt finished.
    case fastWindow = "fast_window"
}
