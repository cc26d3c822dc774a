import Logging
import ServiceLifecycle
import TetherEventLog

/// Sends the outbox's webhook deliveries: at least once, one session's in order per
/// endpoint, each endpoint on its own (``WebhookEndpointWorker``: its own concurrency
/// cap, connection pool and circuit breaker), so one that stalls never slows another.
/// On SIGTERM, tries in flight finish (within the shutdown grace) and are recorded.
final class WebhookDispatcher: Service, Sendable {
    struct Settings: Sendable {
        var concurrency = 16
        var timeout: Duration = .seconds(15)
        var retryWindow: Duration = .seconds(24 * 3600)
        var disableAfter: Duration = .seconds(5 * 24 * 3600)
    }

    private let store: any HistoryStore
    private let logger: Logger
    private let workers: [String: WebhookEndpointWorker]
    private let endpoints: [WebhookEndpoint]

    init(store: any HistoryStore, endpoints: [WebhookEndpoint], settings: Settings, metrics: TetherMetrics, logger: Logger) {
        self.store = store
        self.logger = logger
        self.endpoints = endpoints
        self.workers = Dictionary(uniqueKeysWithValues: endpoints.map { endpoint in
            (endpoint.id, WebhookEndpointWorker(endpoint: endpoint, store: store, settings: settings, metrics: metrics, logger: logger))
        })
    }

    /// New deliveries were committed, or one was made due: every endpoint looks now.
    func wake() { for worker in workers.values { worker.wake() } }

    /// An operator turned `endpoint` back on.
    func enabled(_ endpoint: String) { workers[endpoint]?.setEnabled(true) }

    func run() async throws {
        do {
            let givenUp = try await store.registerWebhookEndpoints(endpoints.map(\.routing), nowMs: WebhookEndpointWorker.nowMs())
            if givenUp > 0 { logger.notice("gave up webhook deliveries to endpoints no longer configured", metadata: ["count": "\(givenUp)"]) }
            let identity = try await store.databaseIdentity()
            let enabled = try await store.enabledWebhookEndpoints()
            for worker in workers.values {
                worker.start(identity: identity, enabled: enabled.contains(worker.endpoint.id))
            }
        } catch {
            logger.error("cannot prepare the webhook outbox; webhooks are not sent", metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for worker in workers.values { group.addTask { await worker.run() } }
            }
        } onGracefulShutdown: {
            for worker in self.workers.values { worker.stop() }
        }
        for worker in workers.values { await worker.shutdown() }
    }
}
