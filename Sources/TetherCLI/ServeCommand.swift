import ArgumentParser
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import TetherBuildInfo
import TetherEngine
import TetherEvents
import TetherLogging
import TetherService
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP control plane: sessions, history, stats, metrics.",
        discussion: """
            Every setting is a flag or an environment variable (the flag wins). Lists in \
            environment variables are comma-separated.

            Binding a non-loopback address requires at least one API token. With any token \
            configured, every route but /healthz and /readyz needs one: an API token may do \
            everything, a read token only GET and HEAD. On start, sessions that were live when the process last stopped (a crash, kill -9) are resumed by REJOIN. \
            SIGTERM or SIGINT makes every session leave cleanly and flushes the history.
            """
    )

    @Option(help: "Address to bind. (env TETHER_HOST, default 127.0.0.1)")
    var host: String?

    @Option(help: "Port to bind; 0 picks a free one. (env TETHER_PORT, default 8080)")
    var port: Int?

    @Option(name: .customLong("db"), help: "Where sessions and history live: an SQLite file, or postgres://user[:password]@host[:port]/dbname[?sslmode=disable|prefer|require|verify-ca|verify-full] (PostgreSQL; no file is written then). (env TETHER_DB, default ./tether.sqlite)")
    var databasePath: String?

    @Option(name: .customLong("db-password-file"), help: "A file holding the PostgreSQL password, when the --db URL has none (else PGPASSWORD is used). (env TETHER_DB_PASSWORD_FILE)")
    var databasePasswordFile: String?

    @Option(name: .customLong("api-token"), help: "Bearer token with every right; repeat for several; at least 16 characters. Required off loopback. (env TETHER_API_TOKEN, comma-separated)")
    var apiTokens: [String] = []

    @Option(name: .customLong("read-token"), help: "Bearer token for GET and HEAD only (sessions, events, the live tail, stats, metrics); a write with it is 403. Repeatable; at least 16 characters. (env TETHER_READ_TOKEN, comma-separated)")
    var readTokens: [String] = []

    @Option(name: .customLong("allow-sfu-host"), help: "Where sessions may dial, checked on the resolved address: a host name, host:port, an IP, IP:port or a CIDR (10.0.0.0/8, fd00::/8); '*' means any public unicast address (never loopback, private, link-local, CGNAT, ULA, multicast or unspecified unless an IP or CIDR entry names it). Repeatable. (env TETHER_ALLOW_SFU_HOSTS, default 127.0.0.0/8,::1,localhost)")
    var allowedSFUHosts: [String] = []

    @Option(name: .customLong("sfu-ca-file"), help: "PEM bundle of certificate authorities trusted for wss:// SFUs, besides the system's; certificates and host names are always verified. (env TETHER_SFU_CA_FILE)")
    var sfuCAFile: String?

    @Option(help: "Close an HTTP connection idle (or sending a request) this long. (env TETHER_HTTP_IDLE_TIMEOUT, default 30s)")
    var httpIdleTimeout: DurationArgument?

    @Option(help: "Close an HTTP connection whose response makes no progress (the client does not read) this long. (env TETHER_HTTP_WRITE_TIMEOUT, default 10s)")
    var httpWriteTimeout: DurationArgument?

    @Option(help: "Most requests one HTTP connection may have waiting for an answer (pipelined); reading stops there, and one more closes the connection once the others are answered. (env TETHER_MAX_PIPELINED_REQUESTS, default 16)")
    var maxPipelinedRequests: Int?

    @Option(help: "Most HTTP connections at once; more are answered 503 and closed, except 8 more reserved for single /healthz and /readyz requests. SFU sockets do not count. (env TETHER_MAX_CONNECTIONS, default 1024)")
    var maxConnections: Int?

    @Option(name: .customLong("allow-origin"), help: "A web origin (https://ops.example.com) whose pages may send POST, PUT and DELETE, besides the console's own; any other Origin is refused 403. Repeatable. (env TETHER_ALLOW_ORIGINS, comma-separated)")
    var allowedOrigins: [String] = []

    @Option(help: "Most /v1/events/stream readers at once; more are answered 503. (env TETHER_MAX_EVENT_STREAMS, default 64)")
    var maxEventStreams: Int?

    @Option(help: "Default health-check interval. (env TETHER_HEALTH_CHECK_INTERVAL, default 5s)")
    var healthCheckInterval: DurationArgument?

    @Option(help: "Default health-check timeout. (env TETHER_HEALTH_CHECK_TIMEOUT, default 15s)")
    var healthCheckTimeout: DurationArgument?

    @Option(help: "Default connect (TCP + WebSocket upgrade) timeout. (env TETHER_CONNECT_TIMEOUT, default 5s)")
    var connectTimeout: DurationArgument?

    @Option(help: "Default join timeout. (env TETHER_JOIN_TIMEOUT, default 5s)")
    var joinTimeout: DurationArgument?

    @Option(help: "Default disconnection deadline. (env TETHER_DISCONNECTION_TIMEOUT, default 30s)")
    var disconnectionTimeout: DurationArgument?

    @Option(help: "Default first REJOIN backoff bound. (env TETHER_BACKOFF_INITIAL, default 250ms)")
    var backoffInitial: DurationArgument?

    @Option(help: "Default largest REJOIN backoff. (env TETHER_BACKOFF_MAX, default 5s)")
    var backoffMax: DurationArgument?

    @Option(help: "Delete events older than this. (env TETHER_EVENT_RETENTION, default 7d as 168h)")
    var eventRetention: DurationArgument?

    @Option(help: "Largest request body in bytes. (env TETHER_MAX_BODY_BYTES, default 65536)")
    var maxBodyBytes: Int?

    @Option(help: "Cap on reconnect attempts running at once, service-wide. (env TETHER_MAX_RECONNECTS_IN_FLIGHT, default 256)")
    var maxReconnectsInFlight: Int?

    @Option(help: "Cap on reconnect attempts started per second, service-wide, spread with jitter. (env TETHER_MAX_RECONNECTS_PER_SECOND, default 1000)")
    var maxReconnectsPerSecond: Int?

    @Option(help: "Distinct sessions whose FAST resume one SFU node refuses as unknown, within --node-restart-window, before the node counts as restarted and its other sessions skip FAST. (env TETHER_NODE_RESTART_EVIDENCE, default 3)")
    var nodeRestartEvidence: Int?

    @Option(help: "How close together those refusals must be. (env TETHER_NODE_RESTART_WINDOW, default 2s)")
    var nodeRestartWindow: DurationArgument?

    @Option(help: "How long a node stays counted as restarted. (env TETHER_NODE_RESTART_VERDICT, default 10s)")
    var nodeRestartVerdict: DurationArgument?

    @Option(name: .customLong("webhook-url"), help: "Send signed webhooks here: URL[#secret-file] (repeatable; http or https; internal hosts allowed; id 1, 2, … by position; a secret file holds this endpoint's own secrets, one per line). (env TETHER_WEBHOOK_URLS, comma-separated)")
    var webhookURLs: [String] = []

    @Option(help: "A JSON file of webhook endpoints with stable ids, {\"endpoints\": [{\"id\", \"url\", \"secret_file\"}]}: an endpoint keeps its backlog when its URL changes. (env TETHER_WEBHOOK_CONFIG)")
    var webhookConfig: String?

    @Option(name: .customLong("webhook-secret"), help: "Signs webhooks (Standard Webhooks webhook-signature, and Tether-Signature with the first): whsec_<base64> or text of at least 16 characters. Repeat during a rotation: each signs. (env TETHER_WEBHOOK_SECRET, comma-separated)")
    var webhookSecrets: [String] = []

    @Option(help: "A webhook try with no answer this long after its request is written fails (and is retried). (env TETHER_WEBHOOK_TIMEOUT, default 15s)")
    var webhookTimeout: DurationArgument?

    @Option(help: "Webhook tries in flight at once per endpoint, on a connection pool of that size. (env TETHER_WEBHOOK_CONCURRENCY, default 16)")
    var webhookConcurrency: Int?

    @Option(help: "Disable an endpoint that has failed for this long (it is listed, and enabled again through the API). (env TETHER_WEBHOOK_DISABLE_AFTER, default 5d as 120h)")
    var webhookDisableAfter: DurationArgument?

    @Option(help: "Pending webhook deliveries one endpoint may hold; past it the oldest fail with overflow. (env TETHER_WEBHOOK_MAX_BACKLOG, default 300000)")
    var webhookMaxBacklog: Int?

    @Option(help: "Signs --credentials-url requests (its own secret: a webhook secret never does): whsec_<base64> or text of at least 16 characters. Required with --credentials-url. (env TETHER_CREDENTIALS_SECRET)")
    var credentialsSecret: String?

    @Option(help: "Credentials requests in flight at once, service-wide. (env TETHER_CREDENTIALS_CONCURRENCY, default 64)")
    var credentialsConcurrency: Int?

    @Option(help: "Webhook types to send, comma-separated, or * for every history event. (env TETHER_WEBHOOK_EVENTS, default session.joined,session.reconnected,session.failed,session.left,session.ended,session.events_dropped)")
    var webhookEvents: String?

    @Option(help: "How long a failing webhook delivery is retried after its event. (env TETHER_WEBHOOK_RETRY_WINDOW, default 24h)")
    var webhookRetryWindow: DurationArgument?

    @Option(name: .customLong("credentials-url"), help: "Ask this URL for fresh SFU credentials (a POST signed with --credentials-secret) before a REJOIN or MIGRATE, when a join is refused as unauthenticated, and before a JWT expires. (env TETHER_CREDENTIALS_URL)")
    var credentialsURL: String?

    @Option(help: "How long SIGTERM/SIGINT may take: sessions leave in parallel, the history is flushed; the process exits at most 2s later in any case. Give docker stop -t a few seconds more. (env TETHER_SHUTDOWN_GRACE, default 25s)")
    var shutdownGrace: DurationArgument?

    @Option(name: .customLong("idempotency-key-ttl"), help: "How long an Idempotency-Key is remembered after its create. (env TETHER_IDEMPOTENCY_KEY_TTL, default 24h)")
    var idempotencyKeyTTL: DurationArgument?

    @Option(name: .customLong("instance-id"), help: "This instance's name in a fleet sharing a PostgreSQL --db: 1 to 64 of A-Z a-z 0-9 - _ . (env TETHER_INSTANCE_ID, default <host name>-<6 random hex>)")
    var instanceID: String?

    @Option(help: "A fleet instance's lease, renewed every fifth of it on the database's clock; peers adopt an instance's sessions once it expired. (env TETHER_LEASE_TTL, default 10s)")
    var leaseTTL: DurationArgument?

    @Option(help: "A fleet instance stops acting as an agent (leaves every SFU) when no renewal was accepted for --lease-ttl minus this. (env TETHER_LEASE_MARGIN, default 1s)")
    var leaseMargin: DurationArgument?

    @Option(help: "Most live sessions this instance runs; in a fleet, creates beyond it go to an instance with room. (env TETHER_MAX_SESSIONS, default: the open-file limit less --max-connections and 64)")
    var maxSessions: Int?

    @Option(name: .customLong("advertise-address"), help: "Where this instance's API is reachable, as GET /v1/instances shows it. (env TETHER_ADVERTISE_ADDRESS, default http://<host>:<port>)")
    var advertiseAddress: String?

    @Option(help: "Log level for stderr. (env TETHER_LOG_LEVEL, default info)")
    var logLevel: Logger.Level?

    @Option(help: "Log lines as text, or as one JSON object per line on stdout and stderr. (env TETHER_LOG_FORMAT, default text on a terminal, json otherwise)")
    var logFormat: LogFormat?

    @Option(name: .customLong("otel-endpoint"), help: "Export traces and metrics over OTLP/HTTP to this base URL (/v1/traces and /v1/metrics are appended), e.g. http://collector:4318. (env OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_SERVICE_NAME names the service, default tether; default: off)")
    var otelEndpoint: String?

    /// Flag, then environment, then default.
    func resolved() throws -> ServiceConfiguration {
        let env = ProcessInfo.processInfo.environment
        func list(_ name: String) -> [String] {
            env[name].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } ?? []
        }
        func duration(_ flag: DurationArgument?, _ name: String, _ fallback: Duration) throws -> Duration {
            if let flag { return flag.duration }
            guard let text = env[name] else { return fallback }
            guard let value = Duration(parsing: text), value > .zero else {
                throw ValidationError("\(name)='\(text)' is not a duration (500ms, 5s, 2m)")
            }
            return value
        }
        func integer(_ flag: Int?, _ name: String, _ fallback: Int) throws -> Int {
            if let flag { return flag }
            guard let text = env[name] else { return fallback }
            guard let value = Int(text) else { throw ValidationError("\(name)='\(text)' is not an integer") }
            return value
        }
        let defaults = ReconnectPolicy.default
        let eventsText = webhookEvents ?? env["TETHER_WEBHOOK_EVENTS"]
        let webhookTypes: Set<String>? = eventsText.map { text in
            text.trimmingCharacters(in: .whitespaces) == "*"
                ? nil
                : Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        } ?? ServiceConfiguration.defaultWebhookTypes
        let evidence = try integer(nodeRestartEvidence, "TETHER_NODE_RESTART_EVIDENCE", 3)
        guard (1...10_000).contains(evidence) else {
            throw ValidationError("--node-restart-evidence must be 1 to 10000 (got \(evidence))")
        }
        let hosts = allowedSFUHosts.isEmpty ? list("TETHER_ALLOW_SFU_HOSTS") : allowedSFUHosts
        var configuration = ServiceConfiguration(
            host: host ?? env["TETHER_HOST"] ?? "127.0.0.1",
            port: try integer(port, "TETHER_PORT", 8080),
            databasePath: databasePath ?? env["TETHER_DB"] ?? "./tether.sqlite",
            apiTokens: apiTokens.isEmpty ? list("TETHER_API_TOKEN") : apiTokens,
            readTokens: readTokens.isEmpty ? list("TETHER_READ_TOKEN") : readTokens,
            allowedSFUHosts: hosts.isEmpty ? SFUAddressPolicy.loopbackDefaults : hosts,
            sfuCAFile: sfuCAFile ?? env["TETHER_SFU_CA_FILE"],
            httpIdleTimeout: try duration(httpIdleTimeout, "TETHER_HTTP_IDLE_TIMEOUT", .seconds(30)),
            maxConnections: try integer(maxConnections, "TETHER_MAX_CONNECTIONS", 1024),
            maxEventStreams: try integer(maxEventStreams, "TETHER_MAX_EVENT_STREAMS", 64),
            defaultPolicy: ReconnectPolicy(
                healthCheckInterval: try duration(healthCheckInterval, "TETHER_HEALTH_CHECK_INTERVAL", defaults.healthCheckInterval),
                healthCheckTimeout: try duration(healthCheckTimeout, "TETHER_HEALTH_CHECK_TIMEOUT", defaults.healthCheckTimeout),
                connectTimeout: try duration(connectTimeout, "TETHER_CONNECT_TIMEOUT", defaults.connectTimeout),
                joinTimeout: try duration(joinTimeout, "TETHER_JOIN_TIMEOUT", defaults.joinTimeout),
                disconnectionTimeout: try duration(disconnectionTimeout, "TETHER_DISCONNECTION_TIMEOUT", defaults.disconnectionTimeout),
                backoffInitial: try duration(backoffInitial, "TETHER_BACKOFF_INITIAL", defaults.backoffInitial),
                backoffMaximum: try duration(backoffMax, "TETHER_BACKOFF_MAX", defaults.backoffMaximum)),
            eventRetention: try duration(eventRetention, "TETHER_EVENT_RETENTION", .seconds(7 * 24 * 3600)),
            maxBodyBytes: try integer(maxBodyBytes, "TETHER_MAX_BODY_BYTES", 64 * 1024),
            shutdownGrace: try duration(shutdownGrace, "TETHER_SHUTDOWN_GRACE", .seconds(25)),
            idempotencyKeyTTL: try duration(idempotencyKeyTTL, "TETHER_IDEMPOTENCY_KEY_TTL", .seconds(24 * 3600)),
            maxReconnectsInFlight: try integer(maxReconnectsInFlight, "TETHER_MAX_RECONNECTS_IN_FLIGHT", 256),
            maxReconnectsPerSecond: try integer(maxReconnectsPerSecond, "TETHER_MAX_RECONNECTS_PER_SECOND", 1000),
            nodeRestart: .init(
                evidenceThreshold: evidence,
                evidenceWindow: try duration(nodeRestartWindow, "TETHER_NODE_RESTART_WINDOW", .seconds(2)),
                verdictLifetime: try duration(nodeRestartVerdict, "TETHER_NODE_RESTART_VERDICT", .seconds(10))),
            webhookURLs: webhookURLs.isEmpty ? list("TETHER_WEBHOOK_URLS") : webhookURLs,
            webhookTypes: webhookTypes,
            webhookRetryWindow: try duration(webhookRetryWindow, "TETHER_WEBHOOK_RETRY_WINDOW", .seconds(24 * 3600)),
            credentialsURL: credentialsURL ?? env["TETHER_CREDENTIALS_URL"])
        configuration.httpWriteTimeout = try duration(httpWriteTimeout, "TETHER_HTTP_WRITE_TIMEOUT", .seconds(10))
        configuration.maxPipelinedRequests = try integer(maxPipelinedRequests, "TETHER_MAX_PIPELINED_REQUESTS", 16)
        configuration.allowedOrigins = allowedOrigins.isEmpty ? list("TETHER_ALLOW_ORIGINS") : allowedOrigins
        configuration.webhookConfigFile = webhookConfig ?? env["TETHER_WEBHOOK_CONFIG"]
        configuration.webhookSecrets = webhookSecrets.isEmpty ? list("TETHER_WEBHOOK_SECRET") : webhookSecrets
        configuration.webhookTimeout = try duration(webhookTimeout, "TETHER_WEBHOOK_TIMEOUT", .seconds(15))
        configuration.webhookConcurrency = try integer(webhookConcurrency, "TETHER_WEBHOOK_CONCURRENCY", 16)
        configuration.webhookDisableAfter = try duration(webhookDisableAfter, "TETHER_WEBHOOK_DISABLE_AFTER", .seconds(5 * 24 * 3600))
        configuration.webhookMaxBacklog = try integer(webhookMaxBacklog, "TETHER_WEBHOOK_MAX_BACKLOG", 300_000)
        configuration.credentialsSecret = credentialsSecret ?? env["TETHER_CREDENTIALS_SECRET"]
        configuration.credentialsConcurrency = try integer(credentialsConcurrency, "TETHER_CREDENTIALS_CONCURRENCY", 64)
        configuration.instanceID = instanceID ?? env["TETHER_INSTANCE_ID"]
        configuration.leaseTTL = try duration(leaseTTL, "TETHER_LEASE_TTL", .seconds(10))
        configuration.leaseMargin = try duration(leaseMargin, "TETHER_LEASE_MARGIN", .seconds(1))
        if let maxSessions { configuration.maxSessions = maxSessions } else if env["TETHER_MAX_SESSIONS"] != nil {
            configuration.maxSessions = try integer(nil, "TETHER_MAX_SESSIONS", 0)
        }
        configuration.advertisedAddress = advertiseAddress ?? env["TETHER_ADVERTISE_ADDRESS"]
        if let file = databasePasswordFile ?? env["TETHER_DB_PASSWORD_FILE"] {
            do {
                configuration.databasePassword = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
            } catch {
                throw ValidationError("cannot read --db-password-file \(file): \(error.localizedDescription)")
            }
        } else {
            configuration.databasePassword = env["PGPASSWORD"]
        }
        return configuration
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let format: LogFormat
        do {
            format = try LogFormat.resolve(flag: logFormat, environment: env["TETHER_LOG_FORMAT"], standardErrorIsTerminal: isatty(STDERR_FILENO) == 1)
        } catch {
            FileHandle.standardError.write(Data("tether serve: \(error)\n".utf8))
            throw ExitCode(64)
        }
        let console = ConsoleLine(format: format)
        var resolvedConfiguration: ServiceConfiguration
        do {
            resolvedConfiguration = try resolved()
            try resolvedConfiguration.validate()
        } catch {
            console.fail("tether serve: \(error)")
            throw ExitCode(64)
        }
        var metadata: Logger.Metadata = [:]
        if case .postgres = try? resolvedConfiguration.storeLocation() {
            // Named here rather than by the service, so every line of this process
            // (the banner's too) carries the name the fleet knows it by.
            let instanceID = resolvedConfiguration.instanceID ?? ServiceConfiguration.generatedInstanceID()
            resolvedConfiguration.instanceID = instanceID
            metadata["instance_id"] = "\(instanceID)"
        }
        let configuration = resolvedConfiguration
        let processMetadata = metadata
        bootstrapLogging(
            level: logLevel ?? env["TETHER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info,
            format: format, metadata: processMetadata)
        let logger = Logger(label: "tether")
        let export: OpenTelemetryExport?
        do {
            export = try OpenTelemetryExport.bootstrap(endpoint: otelEndpoint, environment: env, logger: Logger(label: "tether.otel"))
        } catch {
            console.fail("tether serve: \(error)")
            throw ExitCode(64)
        }
        if let limit = FileDescriptorLimit.raiseToHardLimit() {
            // About one descriptor per session and per API connection, plus the database's.
            logger.notice("open-file limit \(limit.soft) (hard \(limit.hard)): room for about \(max(0, Int(clamping: limit.soft) - configuration.maxConnections - 64)) sessions")
        }
        if let location = try? configuration.storeLocation() {
            // Which history this process writes; a URL never with its password.
            logger.info("history store: \(location)")
        }
        let app: TetherApplication
        do {
            app = try await buildApplication(configuration: configuration, logger: logger, telemetry: export?.telemetry) { port in
                let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
                let address = "http://\(host):\(port)"
                var banner = processMetadata
                banner["address"] = "\(address)"
                banner["version"] = "\(BuildInfo.version)"
                banner["commit"] = "\(BuildInfo.commit)"
                console.announce("tether serve listening on \(address)", metadata: banner)
            }
        } catch {
            console.fail("tether serve: \(error)")
            throw ExitCode(1)
        }
        // The exporters first, so they stop last: the application's final spans flush.
        var groupConfiguration = ServiceGroupConfiguration(
            services: (export?.services ?? []) + [app.application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGrace
        // The promise that the process exits: a service that ignores cancellation (a
        // write stuck in the kernel, a socket that will not close) must not keep it
        // alive until an orchestrator's SIGKILL.
        let grace = configuration.shutdownGrace
        let watchdog = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                // Cancelled (the normal end) means the shutdown finished in time.
                guard (try? await Task.sleep(for: grace + .milliseconds(1500))) != nil else { return }
                console.fail("tether serve: shutdown took longer than --shutdown-grace \(grace); exiting")
                Foundation.exit(1)
            }
        }
        defer { watchdog.cancel() }
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}
