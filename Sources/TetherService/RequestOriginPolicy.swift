import Foundation
import HTTPTypes
import TetherEngine

/// Which `Host` and `Origin` a request may carry, decided on the headers alone.
///
/// - Without tokens Tether listens on loopback only, and anything that reaches the port
///   may act. A web page the operator visits can still reach it by DNS rebinding (its
///   own name re-pointed at 127.0.0.1): the browser then sends the page's name as
///   `Host`. So without tokens, a `Host` that is not a loopback name or address is
///   refused (421).
/// - In every mode, a state-changing request (POST, PUT, PATCH, DELETE) that a browser
///   sent from another origin is refused (403), whatever its body or content type: a
///   cross-site form needs no preflight. The console's own origin (the request's
///   `Host`) and `--allow-origin` entries pass; a request with no `Origin` (curl, the
///   CLI, other servers) is not a browser's and is unaffected.
struct RequestOriginPolicy: Sendable {
    /// Loopback only and no tokens: the `Host` check applies.
    let checksHost: Bool
    /// `scheme://host[:port]` origins allowed besides the request's own, lower-cased.
    let allowedOrigins: Set<String>

    init(checksHost: Bool, allowedOrigins: [String] = []) {
        self.checksHost = checksHost
        self.allowedOrigins = Set(allowedOrigins.map { Self.normalized($0) })
    }

    enum Verdict: Equatable {
        case allow
        case misdirected(String)
        case foreignOrigin(String)
    }

    func check(method: HTTPRequest.Method, host: String?, origin: String?) -> Verdict {
        if checksHost, let host, !Self.isLoopback(host: host) {
            return .misdirected(host)
        }
        guard Self.changesState(method), let origin else { return .allow }
        let normalized = Self.normalized(origin)
        if allowedOrigins.contains(normalized) { return .allow }
        if let host, normalized == "http://" + host.lowercased() || normalized == "https://" + host.lowercased() {
            return .allow
        }
        return .foreignOrigin(origin)
    }

    static func changesState(_ method: HTTPRequest.Method) -> Bool {
        method != .get && method != .head && method != .options
    }

    /// `localhost`, a name under `.localhost` (browsers resolve those to loopback
    /// themselves), or a loopback IP literal, with or without a port.
    static func isLoopback(host: String) -> Bool {
        let name = Self.hostWithoutPort(host.lowercased())
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        guard let address = IPAddress(parsing: name)?.unmapped else { return false }
        return loopbackNetworks.contains { $0.contains(address) }
    }

    private static let loopbackNetworks = [IPNetwork(parsing: "127.0.0.0/8")!, IPNetwork(parsing: "::1/128")!]

    /// `[::1]:8080` → `::1`, `127.0.0.1:8080` → `127.0.0.1`, `localhost` → `localhost`.
    static func hostWithoutPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return host }
            return String(host[host.index(after: host.startIndex)..<close])
        }
        // One colon: name:port. Several: a bare IPv6 literal (not valid in Host, but
        // judge it as the address it is).
        let colons = host.filter { $0 == ":" }.count
        if colons == 1, let colon = host.firstIndex(of: ":") { return String(host[..<colon]) }
        return host
    }

    private static func normalized(_ origin: String) -> String {
        var text = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
