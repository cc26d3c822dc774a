import Foundation
import TetherEngine
import TetherEventLog
import TetherEvents
import TetherPostgresStore

/// Everything `tether serve` is configured with, filled once from flags and environment.
public struct ServiceConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// `--db`: an SQLite file, or a `postgres://user[:password]@host[:port]/dbname[?sslmode=…]` URL.
    public var databasePath: String
    /// The PostgreSQL password when the URL carries none (`--db-password-file`, or
    /// `PGPASSWORD`), so that it is not on the command line.
    public var databasePassword: String?
    /// Bearer tokens with every right; with no token of either kind there is no
    /// authentication (allowed on loopback only).
    public var apiTokens: [String]
    /// Bearer tokens for GET and HEAD only: history, stats, metrics, the live tail.
    public var readTokens: [String]
    /// `--allow-sfu-host` entries: names, `host:port`, IPs, CIDRs, `*` (any public
    /// unicast address). Checked on the resolved address of every dial.
    public var allowedSFUHosts: [String]
    /// A PEM bundle of CAs trusted for `wss://` SFUs, besides the system's.
    public var sfuCAFile: String?
    /// An idle or half-sent HTTP connection is closed after this long.
    public var httpIdleTimeout: Duration
    /// A connection whose response makes no progress (its client does not read) for this
    /// long is closed.
    public var httpWriteTimeout: Duration = .seconds(10)
    /// Requests one connection may have waiting for an answer (pipelined); reading stops
    /// at the cap, and a request beyond it closes the connection once the others are answered.
    public var maxPipelinedRequests: Int = 16
    /// Web origins (`https://ops.example.com`) allowed to send state-changing requests,
    /// besides the console's own (the request's `Host`).
    public var allowedOrigins: [String] = []
    /// Open HTTP connections beyond this are answered 503 and closed.
    public var maxConnections: Int
    /// `/v1/events/stream` readers at once; one more is answered 503.
    public var maxEventStreams: Int
    /// Events one live-tail reader may have queued; a reader further behind is
    /// disconnected and resumes with `Last-Event-ID`.
    public var eventStreamBuffer: Int
    /// Policy for fields a create request leaves out.
    public var defaultPolicy: ReconnectPolicy
    /// Events older than this are deleted.
    public var eventRetention: Duration
    /// How often the retention sweep runs.
    public var pruneInterval: Duration
    /// Request bodies larger than this get 413.
    public var maxBodyBytes: Int
    /// How long an Idempotency-Key is remembered after its session was created.
    public var idempotencyKeyTTL: Duration
    /// How long graceful shutdown (sessions leave, the history is flushed) may take;
    /// the process exits at most 2 s after it in any case.
    public var shutdownGrace: Duration
    /// Service-wide cap on reconnect attempts running at once.
    public var maxReconnectsInFlight: Int
    /// Service-wide cap on reconnect attempts started per second (spread with jitter).
    public var maxReconnectsPerSecond: Int
    /// When an SFU node counts as restarted (its sessions then skip FAST).
    public var nodeRestart: NodeRestartDetector.Configuration
    /// Where webhooks go (operator configuration: internal hosts allowed, http/https
    /// only), each `URL[#secret-file]`; ids `1`, `2`, … by position.
    public var webhookURLs: [String] = []
    /// A JSON file of endpoints with stable ids: `{"endpoints": [{"id", "url", "secret_file"?}]}`.
    public var webhookConfigFile: String?
    /// Sign every endpoint's webhooks that has no secret file of its own; several at
    /// once during a rotation (each signs). `whsec_<base64>` or raw text (≥ 16 characters).
    public var webhookSecrets: [String] = []
    /// The first of ``webhookSecrets`` (what a single `--webhook-secret` sets).
    public var webhookSecret: String? {
        get { webhookSecrets.first }
        set { webhookSecrets = newValue.map { [$0] } ?? [] }
    }
    /// A try that has no answer this long after its request is written is a failure.
    public var webhookTimeout: Duration = .seconds(15)
    /// Tries in flight at once per endpoint (and the size of its connection pool).
    public var webhookConcurrency: Int = 16
    /// An endpoint failing for longer than this is disabled (as Svix does).
    public var webhookDisableAfter: Duration = .seconds(5 * 24 * 3600)
    /// Pending deliveries one endpoint may hold; past it the oldest fail with `overflow`.
    public var webhookMaxBacklog: Int = 300_000
    /// Signs credentials requests, apart from every webhook secret (so no webhook
    /// receiver can forge one); required with `credentialsURL`.
    public var credentialsSecret: String?
    /// Credentials requests in flight at once, service-wide.
    public var credentialsConcurrency: Int = 64
    /// Webhook types sent; nil sends every history event (`*`).
    public var webhookTypes: Set<String>? = WebhookRouting.defaultTypes
    /// How long a failing delivery is retried after its event.
    public var webhookRetryWindow: Duration = .seconds(24 * 3600)
    /// Asked for fresh SFU credentials before REJOIN/MIGRATE and on an unauthenticated refusal.
    public var credentialsURL: String?
    /// The longest a history read of the API (sessions, events, stats) may run before it
    /// is interrupted and answered 504 `query_timeout`.
    public var queryTimeLimit: Duration = .seconds(10)
    /// This instance's name in a fleet (PostgreSQL store); nil generates one
    /// (`<host name>-<6 hex>`). The SQLite store has one owner and no fleet.
    public var instanceID: String?
    /// A fleet instance's lease: renewed every fifth of it, on the database's clock.
    public var leaseTTL: Duration = .seconds(10)
    /// An instance stops acting as an agent this long before its lease could expire
    /// (its own clock, counted from the last accepted renewal's send).
    public var leaseMargin: Duration = .seconds(1)
    /// Live sessions this instance runs at most; nil derives it from the open-file
    /// limit. Creates beyond it go to another instance with room, or are 503.
    public var maxSessions: Int?
    /// Where peers and `GET /v1/instances` say this instance's API is; nil uses the
    /// bound host and port.
    public var advertisedAddress: String?

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        databasePath: String = "./tether.sqlite",
        apiTokens: [String] = [],
        readTokens: [String] = [],
        allowedSFUHosts: [String] = SFUAddressPolicy.loopbackDefaults,
        sfuCAFile: String? = nil,
        httpIdleTimeout: Duration = .seconds(30),
        maxConnections: Int = 1024,
        maxEventStreams: Int = 64,
        eventStreamBuffer: Int = 4096,
        defaultPolicy: ReconnectPolicy = .default,
        eventRetention: Duration = .seconds(7 * 24 * 3600),
        pruneInterval: Duration = .seconds(60),
        maxBodyBytes: Int = 64 * 1024,
        shutdownGrace: Duration = .seconds(25),
        idempotencyKeyTTL: Duration = .seconds(24 * 3600),
        maxReconnectsInFlight: Int = 256,
        maxReconnectsPerSecond: Int = 1000,
        nodeRestart: NodeRestartDetector.Configuration = .init(),
        webhookURLs: [String] = [],
        webhookSecret: String? = nil,
        webhookTypes: Set<String>? = WebhookRouting.defaultTypes,
        webhookRetryWindow: Duration = .seconds(24 * 3600),
        credentialsURL: String? = nil
    ) {
        self.webhookURLs = webhookURLs
        self.webhookSecrets = webhookSecret.map { [$0] } ?? []
        self.webhookTypes = webhookTypes
        self.webhookRetryWindow = webhookRetryWindow
        self.credentialsURL = credentialsURL
        self.nodeRestart = nodeRestart
        self.maxReconnectsInFlight = maxReconnectsInFlight
        self.maxReconnectsPerSecond = maxReconnectsPerSecond
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.apiTokens = apiTokens
        self.readTokens = readTokens
        self.allowedSFUHosts = allowedSFUHosts
        self.sfuCAFile = sfuCAFile
        self.httpIdleTimeout = httpIdleTimeout
        self.maxConnections = maxConnections
        self.maxEventStreams = maxEventStreams
        self.eventStreamBuffer = eventStreamBuffer
        self.defaultPolicy = defaultPolicy
        self.eventRetention = eventRetention
        self.pruneInterval = pruneInterval
        self.maxBodyBytes = maxBodyBytes
        self.shutdownGrace = shutdownGrace
        self.idempotencyKeyTTL = idempotencyKeyTTL
    }

    /// The webhook types sent unless `--webhook-events` says otherwise.
    public static let defaultWebhookTypes = WebhookRouting.defaultTypes

    /// True when `host` is loopback as an address (`127.0.0.0/8` in any spelling the
    /// resolver takes, `::1`, their IPv4-mapped forms) or is `localhost`; a name that
    /// merely starts with "127." is not.
    public var bindsLoopbackOnly: Bool {
        if host.lowercased() == "localhost" { return true }
        guard let address = IPAddress(parsing: host)?.unmapped else { return false }
        return Self.loopbackNetworks.contains { $0.contains(address) }
    }

    private static let loopbackNetworks = [IPNetwork(parsing: "127.0.0.0/8")!, IPNetwork(parsing: "::1/128")!]

    /// The parsed `--allow-sfu-host` list.
    public var sfuAddressPolicy: SFUAddressPolicy {
        get throws { try SFUAddressPolicy(entries: allowedSFUHosts) }
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
        if readTokens.contains(where: { $0.count < 16 }) {
            throw Invalid(description: "read tokens must be at least 16 characters")
        }
        guard (0...65535).contains(port) else { throw Invalid(description: "port must be 0...65535") }
        _ = try storeLocation()
        let problems = defaultPolicy.problems
        if !problems.isEmpty { throw Invalid(description: "default policy: " + problems.joined(separator: "; ")) }
        if allowedSFUHosts.isEmpty { throw Invalid(description: "allow at least one SFU host") }
        do { _ = try sfuAddressPolicy } catch { throw Invalid(description: "--allow-sfu-host: \(error)") }
        if httpIdleTimeout < .milliseconds(100) { throw Invalid(description: "the HTTP idle timeout must be at least 100ms") }
        if httpWriteTimeout < .milliseconds(100) { throw Invalid(description: "the HTTP write timeout must be at least 100ms") }
        if maxPipelinedRequests < 1 { throw Invalid(description: "max pipelined requests must be at least 1") }
        for origin in allowedOrigins {
            guard let url = URL(string: origin), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false,
                  url.path.isEmpty || url.path == "/", url.query == nil
            else {
                throw Invalid(description: "--allow-origin '\(origin)' is not an origin (scheme://host[:port], http or https)")
            }
        }
        if maxConnections < 1 { throw Invalid(description: "max connections must be at least 1") }
        if maxEventStreams < 1 { throw Invalid(description: "max event streams must be at least 1") }
        if eventStreamBuffer < 100 { throw Invalid(description: "the event stream buffer must hold at least 100 events") }
        if shutdownGrace < .seconds(1) { throw Invalid(description: "the shutdown grace must be at least 1s") }
        if maxBodyBytes < 1024 { throw Invalid(description: "the body limit must be at least 1024 bytes") }
        if let credentialsURL {
            guard let parsed = URL(string: credentialsURL), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
                throw Invalid(description: "'\(credentialsURL)' is not an http or https URL (the credentials URL must be)")
            }
            guard let secret = credentialsSecret else {
                throw Invalid(description: "--credentials-url needs --credentials-secret (its own: a webhook secret never signs credentials requests)")
            }
            do { _ = try WebhookSecret(parsing: secret) } catch { throw Invalid(description: "--credentials-secret: \(error)") }
        }
        _ = try webhookEndpoints()
        if webhookTimeout < .milliseconds(100) { throw Invalid(description: "the webhook timeout must be at least 100ms") }
        if !(1...1024).contains(webhookConcurrency) { throw Invalid(description: "webhook concurrency must be 1 to 1024") }
        if webhookDisableAfter < .seconds(1) { throw Invalid(description: "--webhook-disable-after must be at least 1s") }
        if webhookMaxBacklog < 1 { throw Invalid(description: "--webhook-max-backlog must be at least 1") }
        if !(1...4096).contains(credentialsConcurrency) { throw Invalid(description: "credentials concurrency must be 1 to 4096") }
        if let types = webhookTypes {
            let unknown = types.subtracting(WebhookRouting.allTypes)
            if !unknown.isEmpty {
                throw Invalid(description: "unknown webhook event types \(unknown.sorted()); known: \(WebhookRouting.allTypes.sorted().joined(separator: ", ")) or *")
            }
        }
        if webhookRetryWindow < .seconds(1) { throw Invalid(description: "the webhook retry window must be at least 1s") }
        if maxReconnectsInFlight < 1 { throw Invalid(description: "max reconnects in flight must be at least 1") }
        if maxReconnectsPerSecond < 2 { throw Invalid(description: "max reconnects per second must be at least 2") }
        if let instanceID {
            guard (1...64).contains(instanceID.utf8.count),
                  instanceID.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) })
            else {
                throw Invalid(description: "--instance-id must be 1 to 64 characters of A-Z a-z 0-9 - _ . (got '\(instanceID.prefix(80))')")
            }
        }
        if leaseTTL < .seconds(1) || leaseTTL > .seconds(300) { throw Invalid(description: "--lease-ttl must be 1s to 300s") }
        if leaseMargin <= .zero || leaseMargin * 2 > leaseTTL - leaseTTL / 5 {
            throw Invalid(description: "--lease-margin must be above 0 and at most half of (--lease-ttl − one renewal period, a fifth of it)")
        }
        if let maxSessions, maxSessions < 1 { throw Invalid(description: "--max-sessions must be at least 1") }
    }

    /// `<host name>-<6 random hex>`: unique enough for a fleet, and says where it runs.
    public static func generatedInstanceID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "tether"
        let safe = String(host.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" }.prefix(40))
        return (safe.isEmpty ? "tether" : safe) + "-" + String(UInt32.random(in: 0...0xFF_FFFF), radix: 16).leftPadded(to: 6)
    }

    /// `--max-sessions`, or what the open-file limit leaves room for: one descriptor per
    /// session and per API connection, plus the database's.
    public var sessionCapacity: Int {
        if let maxSessions { return maxSessions }
        let soft = FileDescriptorLimit.current?.soft ?? 1024
        return max(1, Int(clamping: soft) - maxConnections - 64)
    }

    /// Where the history lives, as `--db` says.
    public enum StoreLocation: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        case sqlite(path: String)
        case postgres(PostgresURL)

        /// What logs and messages show: the path, or the URL without its password.
        public var description: String {
            switch self {
            case .sqlite(let path): path
            case .postgres(let url): url.redacted
            }
        }

        public var debugDescription: String { description }
    }

    public func storeLocation() throws -> StoreLocation {
        guard PostgresURL.isPostgres(databasePath) else {
            guard !databasePath.isEmpty else { throw Invalid(description: "--db is empty (a file path, or a postgres:// URL)") }
            return .sqlite(path: databasePath)
        }
        do {
            var url = try PostgresURL(parsing: databasePath)
            if url.password == nil { url.password = databasePassword }
            return .postgres(url)
        } catch {
            // The URL itself may hold a password: the message never repeats it.
            throw Invalid(description: "--db: \(error)")
        }
    }

    /// The configured webhook endpoints, secrets read (``WebhookEndpoint/resolve(urls:configFile:secrets:)``).
    func webhookEndpoints() throws -> [WebhookEndpoint] {
        try WebhookEndpoint.resolve(urls: webhookURLs, configFile: webhookConfigFile, secrets: webhookSecrets)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
