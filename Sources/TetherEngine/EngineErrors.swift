/// Why dialing or joining failed, with the step it failed at.
public struct ConnectFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalidURL = "invalid_url"
        /// The address policy (`--allow-sfu-host`) refused every resolved address.
        case addressNotAllowed = "sfu_address_not_allowed"
        case resolveFailed = "resolve_failed"
        case refused = "connect_failed"
        case connectTimeout = "connect_timeout"
        case upgradeRejected = "upgrade_rejected"
        case upgradeTimeout = "upgrade_timeout"
        /// The TLS handshake failed: an untrusted certificate, a wrong host name, ...
        case tlsFailed = "tls_failed"
        case joinTimeout = "join_timeout"
        case closedDuringJoin = "closed_during_join"
        case cancelled
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// True for failures before the WebSocket was open.
    public var isConnectStep: Bool {
        switch kind {
        case .invalidURL, .addressNotAllowed, .resolveFailed, .refused, .connectTimeout, .upgradeRejected, .upgradeTimeout, .tlsFailed, .cancelled: true
        case .joinTimeout, .closedDuringJoin: false
        }
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
