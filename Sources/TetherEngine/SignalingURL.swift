import Foundation

/// A parsed `ws://` or `wss://` SFU address.
public struct SignalingURL: Sendable, Equatable, CustomStringConvertible {
    public var secure: Bool
    public var host: String
    public var port: Int
    /// Path plus query, as sent in the upgrade request.
    public var target: String

    public init(_ string: String) throws {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased() else {
            throw ConnectFailure(.invalidURL, "'\(string)' is not a URL")
        }
        guard scheme == "ws" || scheme == "wss" else {
            throw ConnectFailure(.invalidURL, "'\(string)' must use ws:// or wss://")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConnectFailure(.invalidURL, "'\(string)' has no host")
        }
        secure = scheme == "wss"
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (secure ? 443 : 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        target = path + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
    }

    /// The `Host` header value.
    var hostHeader: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let defaultPort = secure ? 443 : 80
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    public var description: String { "\(secure ? "wss" : "ws")://\(hostHeader)\(target)" }
}
