import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import OpenAPIHummingbird
import ServiceLifecycle
import TetherAPI
import TetherEngine
import TetherEventLog
import TetherPostgresStore

/// What ``buildApplication(configuration:logger:onServerRunning:)`` assembles: the app
/// plus handles that tests and the CLI use.
public struct TetherApplication: Sendable {
    public let application: Application<RouterResponder<TetherRequestContext>>
    public let log: EventLog
    public let registry: SessionRegistry
    public let metrics: TetherMetrics
    let eventStreams: EventStreamSlots
}

public struct StartupError: Error, CustomStringConvertible {
    public var description: String
}

/// Builds the service: the database lock, the event log, the session registry, the
/// HTTP API, and the services they run as (started in that order, stopped in reverse).
public func buildApplication(
    configuration: ServiceConfiguration,
    logger: Logger = Logger(label: "tether"),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    sseHeartbeat: Duration = .seconds(15),
    historyBatchSize: Int = 20_000,
    telemetry: Telemetry? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> TetherApplication {
    try configuration.validate()
    let addressPolicy = try configuration.sfuAddressPolicy
    let tls: TLSTrust
    do {
        tls = try configuration.sfuCAFile.map { try TLSTrust(caFile: $0) } ?? .system
    } catch {
        throw StartupError(description: "cannot load --sfu-ca-file \(configuration.sfuCAFile ?? ""): \(error)")
    }
    // Before anything touches the database: one owner per SQLite file; on PostgreSQL,
    // a fleet whose instances own sessions one by one.
    let location = try configuration.storeLocation()
    var services: [any Service] = []
    var store: any HistoryStore
    var fleetSetup: (url: PostgresURL, fleet: PostgresFleet, fence: OwnershipFence)?
    switch location {
    case .sqlite(let path):
        do {
            services.append(try DatabaseLock(databasePath: path))
        } catch {
            throw StartupError(description: "\(error)")
        }
        do {
            store = try EventStore.open(path: path)
        } catch {
            throw StartupError(description: "cannot open the database at \(path): \(error)")
        }
    case .postgres(let url):
        let postgres: PostgresStore
        do {
            postgres = try await PostgresStore.open(url: url, logger: logger)
        } catch {
            // postgres-nio's own description hides everything; its reflection names the
            // cause (never the password: it is not part of any error).
            throw StartupError(description: "cannot open the database at \(url.redacted): \(String(reflecting: error))")
        }
        let instanceID = configuration.instanceID ?? ServiceConfiguration.generatedInstanceID()
        let fence = OwnershipFence(instanceID: instanceID)
        var fenced = postgres
        fenced.fence = fence
        fenced.webhookClaim = WebhookEndpointWorker.connectTimeout + configuration.webhookTimeout + .seconds(10)
        store = fenced
        do {
            fleetSetup = (url, try PostgresFleet(url: url, store: fenced, instanceID: instanceID, logger: logger), fence)
        } catch {
            postgres.close()
            throw StartupError(description: "cannot set up the fleet on \(url.redacted): \(error)")
        }
    }
    let webhookEndpoints: [WebhookEndpoint]
    do {
        webhookEndpoints = try configuration.webhookEndpoints()
    } catch {
        throw StartupError(description: "\(error)")
    }
    if !webhookEndpoints.isEmpty {
        // Deliveries are written by the event log's writer, in each event's transaction.
        store.webhooks = WebhookRouting(
            endpoints: webhookEndpoints.map(\.routing), types: configuration.webhookTypes, maxBacklog: configuration.webhookMaxBacklog)
    }
    let log = EventLog(
        store: store, batchSize: historyBatchSize, instanceID: fleetSetup?.fleet.instanceID,
        liveSource: fleetSetup == nil ? .ownCommits : .sharedHistory, logger: logger)
    let feed = fleetSetup.map { _ in FleetEventFeed(log: log, logger: logger) }
    let metrics = TetherMetrics(exportingTo: telemetry?.metricsFactory)
    let boundAddress = BoundAddress(configured: configuration.advertisedAddress, host: configuration.host, port: configuration.port)
    let fleetContext = fleetSetup.map {
        FleetContext(fleet: $0.fleet, signals: FleetSignals(), capacity: configuration.sessionCapacity, permit: ActingPermit())
    }
    var webhooks: WebhookDispatcher?
    if !webhookEndpoints.isEmpty {
        let dispatcher = WebhookDispatcher(
            store: store, endpoints: webhookEndpoints,
            settings: .init(
                concurrency: configuration.webhookConcurrency, timeout: configuration.webhookTimeout,
                retryWindow: configuration.webhookRetryWindow, disableAfter: configuration.webhookDisableAfter),
            metrics: metrics, logger: logger)
        let routing = store.webhooks
        // Committed events that became deliveries wake the dispatcher at once.
        _ = log.subscribe(.init(
            deliver: { event in
                if routing?.subscribedType(of: event.kind) != nil { dispatcher.wake() }
                return true
            },
            end: {}))
        webhooks = dispatcher
    }
    let registry = SessionRegistry(
        configuration: configuration, addressPolicy: addressPolicy, tls: tls, log: log, metrics: metrics,
        eventLoopGroup: eventLoopGroup, fleet: fleetContext, logger: logger)
    var member: FleetMember?
    if let fleetSetup, let fleetContext {
        fleetSetup.fence.onStale { stale in Task { await registry.ownershipLost(stale) } }
        do {
            member = FleetMember(
                fleet: fleetSetup.fleet, listener: try FleetListener(url: fleetSetup.url, logger: logger), registry: registry, log: log,
                feed: feed,
                context: fleetContext, metrics: metrics, address: boundAddress, ttl: configuration.leaseTTL,
                margin: configuration.leaseMargin, logger: logger)
        } catch {
            throw StartupError(description: "cannot set up the fleet's listener: \(error)")
        }
    }

    // HEAD answers from the GET handlers (so a read token's HEAD works too).
    let router = Router(context: TetherRequestContext.self, options: .autoGenerateHeadEndpoints)
    // Outermost: it sees the status the client gets, errors mapped.
    router.add(middleware: HTTPMetricsMiddleware(metrics: metrics))
    // A span per request (the bootstrapped tracer's), parent of what the handler traces.
    if telemetry?.tracesRequests == true { router.add(middleware: RequestSpanMiddleware()) }
    router.add(middleware: APIErrorMiddleware(logger: logger))
    // Before anything reads the request: a DNS-rebound or cross-site browser request
    // changes nothing, whichever route it names.
    router.add(middleware: RequestOriginMiddleware(policy: RequestOriginPolicy(
        checksHost: configuration.apiTokens.isEmpty && configuration.readTokens.isEmpty,
        allowedOrigins: configuration.allowedOrigins)))
    // Every route but the two probes lives in this group, so the bearer check runs on
    // what the router matched, whatever the raw path looked like; bodies are read only
    // after it.
    let guarded = router.group()
        .add(middleware: BearerAuthMiddleware(tokens: TokenRing(full: configuration.apiTokens, read: configuration.readTokens)))
        .add(middleware: BodyLimitMiddleware(maxBytes: configuration.maxBodyBytes))
    let handler = APIHandler(configuration: configuration, registry: registry, log: log, metrics: metrics, webhooks: webhooks, fleetMember: member)
    try handler.registerHandlers(
        on: GuardedRouteTransport(open: router, guarded: guarded),
        configuration: .init(jsonEncodingOptions: APIJSON.encodingOptions))
    SessionReadRoute(registry: registry).register(on: guarded)
    ConsoleRoute().register(on: router)
    let eventStreams = EventStreamSlots(limit: configuration.maxEventStreams)
    EventStreamRoute(log: log, heartbeat: sseHeartbeat, streams: eventStreams, buffer: configuration.eventStreamBuffer)
        .register(on: guarded)

    let connections = HTTPConnectionCount(limit: configuration.maxConnections)
    let application = Application(
        router: router,
        server: .http1(configuration: .init(
            additionalChannelHandlers: [
                ConnectionLimitHandler(count: connections, requestReadTimeout: configuration.httpIdleTimeout.timeAmount),
                ResponseProgressHandler(
                    writeTimeout: configuration.httpWriteTimeout.timeAmount, maxPipelined: configuration.maxPipelinedRequests,
                    logger: logger),
            ],
            idleTimeout: configuration.httpIdleTimeout.timeAmount)),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tether"),
        services: services + [
            log,
        ] + (feed.map { [$0] } ?? []) + (webhooks.map { [$0] } ?? []) + [
            // Before the registry, so it stops after it: sessions leave, then cleanups end.
            registry.janitor,
            registry,
            RetentionService(store: store, retention: configuration.eventRetention, interval: configuration.pruneInterval, logger: logger),
            // Last, so it stops first: its sessions are handed over before the registry
            // would make them leave.
        ] + (member.map { [$0] } ?? []),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            boundAddress.bound(port: port)
            await onServerRunning(port)
        },
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger)
    // Every session the previous process left live is in the registry, with its
    // runner, before the port is bound; their rejoins start when the registry runs.
    await registry.prepare()
    return TetherApplication(application: application, log: log, registry: registry, metrics: metrics, eventStreams: eventStreams)
}
