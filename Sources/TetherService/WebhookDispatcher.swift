import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TetherEventLog

/// Sends the outbox's webhook deliveries: signed POSTs, at least once, one session's in
/// order, retried with backoff until the retry window passes. Runs beside the engine
/// and the API and never blocks them: it reads and updates its own rows, and each try
/// has a 5 s timeout.
final class WebhookDispatcher: Service, Sendable {
    private let store: EventStore
    private let signature: WebhookSignature
    private let schedule: WebhookRetrySchedule
    private let metrics: TetherMetrics
    private let logger: Logger
    private let client: HTTPClient
    private let signal = WakeSignal()
    /// Tries in flight at once.
    static let concurrency = 32
    static let attemptTimeout: TimeAmount = .seconds(5)
    /// Outcomes that could not be saved yet (the database failed): kept here, saved
    /// again each round, and their rows never picked meanwhile, so nothing is sent twice
    /// or early by this process.
    private let unsaved = Mutex([Int64: WebhookDelivery]())
    private let endpoints: [String]

    init(store: EventStore, endpoints: [String], secret: String, retryWindow: Duration, metrics: TetherMetrics, logger: Logger) {
        self.store = store
        self.endpoints = endpoints
        self.signature = WebhookSignature(secret: secret)
        self.schedule = WebhookRetrySchedule(window: retryWindow)
        self.metrics = metrics
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: Self.attemptTimeout, read: Self.attemptTimeout)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// New deliveries were committed, or one was made due: look now.
    func wake() { signal.signal() }

    func run() async throws {
        do {
            let dropped = try await store.failDeliveries(notTo: endpoints, nowMs: Self.nowMs())
            if dropped > 0 { logger.notice("gave up webhook deliveries to endpoints no longer configured", metadata: ["count": "\(dropped)"]) }
        } catch {
            logger.warning("cannot check the webhook outbox for removed endpoints", metadata: ["error": "\(error)"])
        }
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
        try? await client.shutdown()
    }

    /// What finished in the loop's task group: one try, or the wait for more work.
    private enum Finished: Sendable {
        case attempt(Int64)
        case waited
    }

    /// Keeps up to `concurrency` tries in flight and picks new ones as each finishes, so
    /// a dead endpoint's 5 s timeouts never hold back another endpoint's deliveries.
    /// A row in flight stays pending in the database, so the rows behind it in its
    /// (session, endpoint) queue are not picked until it is settled: order holds.
    private func loop() async {
        await withTaskGroup(of: Finished.self) { group in
            var inFlight: Set<Int64> = []
            var waiting = false
            while !Task.isCancelled {
                await saveUnsaved()
                let nowMs = Self.nowMs()
                let excluded = inFlight.union(unsaved.withLock { $0.keys })
                var next: Int64?
                if inFlight.count < Self.concurrency {
                    do {
                        let due = try await store.dueDeliveries(nowMs: nowMs, excluding: excluded, limit: Self.concurrency - inFlight.count)
                        for delivery in due {
                            guard let id = delivery.id else { continue }
                            inFlight.insert(id)
                            group.addTask { await self.attempt(delivery); return .attempt(id) }
                        }
                        if due.isEmpty { next = try await store.nextDeliveryDueMs(excluding: excluded) }
                    } catch {
                        logger.warning("cannot read the webhook outbox; retrying", metadata: ["error": "\(error)"])
                    }
                    if let pending = try? await store.pendingDeliveryCount() { metrics.webhookBacklog(pending) }
                }
                if !waiting {
                    // Until the next retry falls due, a commit wakes us, or 1 s (a retry
                    // made due by an operator in another process is seen that late); at
                    // least 100 ms, so a row due but not pickable is no busy loop.
                    let wait = next.map { Duration.milliseconds(max(100, min($0 - nowMs, 1000))) } ?? .seconds(1)
                    waiting = true
                    group.addTask { await self.signal.wait(timeout: wait); return .waited }
                }
                switch await group.next() {
                case .attempt(let id):
                    inFlight.remove(id)
                case .waited:
                    waiting = false
                case nil:
                    return
                }
            }
            group.cancelAll()
        }
    }

    private func attempt(_ delivery: WebhookDelivery) async {
        guard let id = delivery.id else { return }
        var row = delivery
        let startedMs = Self.nowMs()
        row.attempts += 1
        row.lastAttemptAtMs = startedMs
        var request = HTTPClientRequest(url: delivery.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "tether-webhooks")
        request.headers.add(name: "Tether-Event-Id", value: String(delivery.eventID))
        request.headers.add(name: "Tether-Delivery-Id", value: String(id))
        request.headers.add(name: "Tether-Signature", value: signature.header(body: delivery.body, timestamp: startedMs / 1000))
        request.body = .bytes(ByteBuffer(string: delivery.body))
        var outcome: String
        do {
            let response = try await client.execute(request, timeout: Self.attemptTimeout)
            // The answer's body is not ours to read; drain a little so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            row.lastStatus = Int(response.status.code)
            switch response.status.code {
            case 200..<300:
                row.status = .delivered
                row.deliveredAtMs = Self.nowMs()
                row.lastError = nil
                outcome = "delivered"
            case 410:
                row.status = .failed
                row.lastError = "the endpoint answered 410 Gone: not retried"
                outcome = "gone"
            default:
                row.lastError = "the endpoint answered \(response.status.code)"
                outcome = scheduleRetry(&row)
            }
        } catch {
            row.lastStatus = nil
            row.lastError = "\(error)"
            outcome = scheduleRetry(&row)
        }
        metrics.webhookAttempt(outcome: outcome)
        do {
            try await store.saveDeliveryAttempt(row)
        } catch {
            logger.error("cannot record a webhook delivery's outcome; keeping it to save again", metadata: ["delivery": "\(id)", "error": "\(error)"])
            unsaved.withLock { $0[id] = row }
        }
    }

    private func saveUnsaved() async {
        for (id, row) in unsaved.withLock({ $0 }) {
            do {
                try await store.saveDeliveryAttempt(row)
                unsaved.withLock { _ = $0.removeValue(forKey: id) }
            } catch {
                return
            }
        }
    }

    /// Sets the next try (or gives up); returns the outcome name for the metric.
    private func scheduleRetry(_ row: inout WebhookDelivery) -> String {
        switch schedule.after(attempts: row.attempts, createdAtMs: row.createdAtMs, nowMs: Self.nowMs(), unitRandom: Double.random(in: 0..<1)) {
        case .retry(let atMs):
            row.nextAttemptAtMs = atMs
            return "retried"
        case .giveUp:
            row.status = .failed
            row.lastError = (row.lastError ?? "") + "; given up after \(row.attempts) tries"
            return "failed"
        }
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
