import Foundation
import TetherEvents

/// Everything `tether serve` is configured with, filled once from flags and environment.
public struct ServiceConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The SQLite file.
    public var databasePath: String
    /// Bearer tokens accepted on `/v1/*`; empty means no authentication (loopback only).
    public var apiTokens: [String]
    /// Hosts (or host:port) that sessions may dial. Nothing else is ever dialed.
    public var allowedSFUHosts: [String]
    /// Policy for fields a create request leaves out.
    public var defaultPolicy: ReconnectPolicy
    /// Events older than this are deleted.
    public var eventRetention: Duration
    /// How often the retention sweep runs.
    public var pruneInterval: Duration
    /// Request bodies larger than this get 413.
    public var maxBodyBytes: Int
    /// How long graceful shutdown may take before the process exits anyway.
    public var shutdownTimeout: Duration
    /// Service-wide cap on reconnect attempts running at once.
    public var maxReconnectsInFlight: Int
    /// Service-wide cap on reconnect attempts started per second (spread with jitter).
    public var maxReconnectsPerSecond: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        databasePath: String = "./tether.sqlite",
        apiTokens: [String] = [],
        allowedSFUHosts: [String] = ServiceConfiguration.loopbackHosts,
        defaultPolicy: ReconnectPolicy = .default,
        eventRetention: Duration = .seconds(7 * 24 * 3600),
        pruneInterval: Duration = .seconds(60),
        maxBodyBytes: Int = 64 * 1024,
        shutdownTimeout: Duration = .seconds(10),
        maxReconnectsInFlight: Int = 256,
        maxReconnectsPerSecond: Int = 1000
    ) {
        self.maxReconnectsInFlight = maxReconnectsInFlight
        self.maxReconnectsPerSecond = maxReconnectsPerSecond
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.apiTokens = apiTokens
        self.allowedSFUHosts = allowedSFUHosts
        self.defaultPolicy = defaultPolicy
        self.eventRetention = eventRetention
        self.pruneInterval = pruneInterval
        self.maxBodyBytes = maxBodyBytes
        self.shutdownTimeout = shutdownTimeout
    }

    public static let loopbackHosts = ["127.0.0.1", "localhost", "::1"]

    public var bindsLoopbackOnly: Bool {
        host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Refuses configurations that would be unsafe or cannot work.
    public func validate() throws {
        if !bindsLoopbackOnly && apiTokens.isEmpty {
            throw Invalid(description: """
                refusing to bind \(host) without an API token: anyone who can reach it could put agents \
                into calls. Set --api-token (or TETHER_API_TOKEN), or bind 127.0.0.1.
                """)
        }
        if apiTokens.contains(where: { $0.count < 16 }) {
            throw Invalid(description: "API tokens must be at least 16 characters")
        }
        guard (0...65535).contains(port) else { throw Invalid(description: "port must be 0...65535") }
        let problems = defaultPolicy.problems
        if !problems.isEmpty { throw Invalid(description: "default policy: " + problems.joined(separator: "; ")) }
        if allowedSFUHosts.isEmpty { throw Invalid(description: "allow at least one SFU host") }
        if maxBodyBytes < 1024 { throw Invalid(description: "the body limit must be at least 1024 bytes") }
        if maxReconnectsInFlight < 1 { throw Invalid(description: "max reconnects in flight must be at least 1") }
        if maxReconnectsPerSecond < 2 { throw Invalid(description: "max reconnects per second must be at least 2") }
    }

    /// True when `host` (and `port`) may be dialed.
    func allows(host: String, port: Int) -> Bool {
        let host = host.lowercased()
        return allowedSFUHosts.contains { entry in
            let entry = entry.lowercased()
            if entry == "*" { return true }
            if entry == host { return true }
            return entry == "\(host):\(port)" || entry == "[\(host)]:\(port)"
        }
    }
}
