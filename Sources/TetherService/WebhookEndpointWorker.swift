import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization
import TetherEventLog

/// Delivers one endpoint's webhooks: up to `concurrency` tries at once on a connection
/// pool of that size (so no try waits for a connection inside Tether), behind a circuit
/// breaker. Each turn it records every try that finished in one transaction, then picks
/// due queue heads by an index seek: its cost does not grow with the backlog.
final class WebhookEndpointWorker: Sendable {
    let endpoint: WebhookEndpoint
    private let store: any HistoryStore
    private let settings: WebhookDispatcher.Settings
    private let metrics: TetherMetrics
    private let logger: Logger
    private let client: HTTPClient
    private let standard: StandardWebhookSignature
    private let tetherSignature: WebhookSignature
    private let schedule: WebhookRetrySchedule
    private let signal = WakeSignal()
    private let state = Mutex(State())
    static let connectTimeout: Duration = .seconds(5)

    private struct State {
        var breaker = CircuitBreaker()
        var enabled = true
        var stopping = false
        var identity = "unknown"
        /// Tries that finished and are not recorded yet.
        var finished: [WebhookSettlement] = []
    }

    init(endpoint: WebhookEndpoint, store: any HistoryStore, settings: WebhookDispatcher.Settings, metrics: TetherMetrics, logger: Logger) {
        self.endpoint = endpoint
        self.store = store
        self.settings = settings
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "webhook_endpoint"] = "\(endpoint.id)"
        self.logger = logger
        self.standard = StandardWebhookSignature(secrets: endpoint.secrets)
        self.tetherSignature = WebhookSignature(secret: endpoint.secrets[0])
        self.schedule = WebhookRetrySchedule(window: settings.retryWindow)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: Self.connectTimeout.timeAmount, read: settings.timeout.timeAmount)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.concurrency)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func start(identity: String, enabled: Bool) {
        state.withLock {
            $0.identity = identity
            $0.enabled = enabled
        }
    }

    func wake() { signal.signal() }

    func setEnabled(_ enabled: Bool) {
        state.withLock {
            $0.enabled = enabled
            if enabled { $0.breaker = CircuitBreaker() }
        }
        signal.signal()
    }

    /// Stops picking; the loop ends once the tries in flight are recorded.
    func stop() {
        state.withLock { $0.stopping = true }
        signal.signal()
    }

    func shutdown() async { try? await client.shutdown() }

    func run() async {
        await withDiscardingTaskGroup { group in
            var inFlight: Set<Int64> = []
            var unsaved: [WebhookSettlement] = []
            while true {
                let (done, stopping, enabled) = state.withLock { state in
                    defer { state.finished = [] }
                    return (state.finished, state.stopping, state.enabled)
                }
                for settlement in done { inFlight.remove(settlement.delivery.id ?? -1) }
                unsaved += done
                if !unsaved.isEmpty {
                    do {
                        try await store.settleWebhookTries(unsaved, disableAfterMs: settings.disableAfter.wholeMilliseconds)
                        unsaved = []
                    } catch {
                        // Kept, and their rows not picked meanwhile: nothing is sent twice by this process.
                        logger.error("cannot record webhook tries; keeping them to record again", metadata: ["error": "\(error)"])
                    }
                }
                if stopping {
                    if inFlight.isEmpty { return }
                    await signal.wait(timeout: .seconds(1))
                    continue
                }
                var next: Int64?
                if enabled {
                    next = await pick(into: &inFlight, excluding: Set(unsaved.compactMap(\.delivery.id)), group: &group)
                }
                let nowMs = Self.nowMs()
                let reopen = state.withLock { $0.breaker.reopensAt }
                var wait: Duration = unsaved.isEmpty ? .seconds(1) : .milliseconds(500)
                if let next { wait = min(wait, .milliseconds(max(20, next - nowMs))) }
                if let reopen { wait = min(wait, max(.milliseconds(20), reopen - .now)) }
                await signal.wait(timeout: wait)
            }
        }
    }

    /// Starts tries for due heads, as many as the cap and the breaker allow; returns when
    /// the next head falls due when nothing was.
    private func pick(into inFlight: inout Set<Int64>, excluding held: Set<Int64>, group: inout DiscardingTaskGroup) async -> Int64? {
        let free = settings.concurrency - inFlight.count
        guard free > 0 else { return nil }
        let nowMs = Self.nowMs()
        let excluded = inFlight.union(held)
        do {
            var due = try await store.dueWebhookHeads(endpoint: endpoint.id, nowMs: nowMs, excluding: excluded, limit: free)
            let admitted = state.withLock { $0.breaker.admits(due.count, now: .now) }
            if admitted < due.count {
                // The breaker holds the rest back, except what an operator made due.
                let forced = due.dropFirst(admitted).filter(\.forced)
                due = Array(due.prefix(admitted)) + forced
            }
            for delivery in due {
                guard let id = delivery.id else { continue }
                inFlight.insert(id)
                group.addTask { await self.attempt(delivery) }
            }
            if due.isEmpty { return try await store.nextWebhookHeadDueMs(endpoint: endpoint.id, excluding: excluded) }
        } catch {
            logger.warning("cannot read the webhook outbox; retrying", metadata: ["error": "\(error)"])
        }
        return nil
    }

    private func attempt(_ delivery: WebhookDelivery) async {
        let startedMs = Self.nowMs()
        let identity = state.withLock { $0.identity }
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "tether-webhooks")
        request.headers.add(name: "Tether-Event-Id", value: String(delivery.eventID))
        request.headers.add(name: "Tether-Delivery-Id", value: String(delivery.id ?? 0))
        request.headers.add(name: "Tether-Signature", value: tetherSignature.header(body: delivery.body, timestamp: startedMs / 1000))
        for (name, value) in standard.headers(messageID: "msg_\(identity)_\(delivery.eventID)", timestamp: startedMs / 1000, body: delivery.body) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(string: delivery.body))
        var status: Int?
        var retryAfter: String?
        var failure: String?
        do {
            let response = try await client.execute(request, deadline: .now() + (Self.connectTimeout + settings.timeout).timeAmount)
            status = Int(response.status.code)
            retryAfter = response.headers.first(name: "Retry-After")
            // The answer's body is not ours to read; drain a little so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch {
            failure = "\(error)"
        }
        let atMs = Self.nowMs()
        let outcome: WebhookSettlement.Outcome
        let metric: String
        switch WebhookResponseClass.classify(status: status, retryAfter: retryAfter) {
        case .delivered:
            (outcome, metric) = (.delivered, "delivered")
            state.withLock { $0.breaker.succeeded() }
        case .rejected:
            (outcome, metric) = (.failed(error: "the endpoint answered \(status ?? 0): final for this delivery"), "rejected")
            state.withLock { $0.breaker.succeeded() }
        case .disableEndpoint:
            (outcome, metric) = (.disableEndpoint(reason: "the endpoint answered 410 Gone: disabled"), "gone")
            state.withLock { $0.enabled = false }
            logger.warning("webhook endpoint answered 410 Gone; disabled until enabled again")
        case .retry(let after):
            let error = failure ?? "the endpoint answered \(status ?? 0)"
            state.withLock { $0.breaker.failed(now: .now) }
            switch schedule.after(attempts: delivery.attempts + 1, createdAtMs: delivery.createdAtMs, nowMs: atMs, unitRandom: Double.random(in: 0..<1)) {
            case .retry(let scheduled):
                let asked = after.map { atMs + $0.wholeMilliseconds } ?? scheduled
                (outcome, metric) = (.retry(atMs: max(scheduled, asked), error: error), "retried")
            case .giveUp:
                (outcome, metric) = (.failed(error: error + "; given up after \(delivery.attempts + 1) tries"), "failed")
            }
        }
        metrics.webhookAttempt(outcome: metric)
        state.withLock { $0.finished.append(.init(delivery: delivery, status: status, outcome: outcome, atMs: atMs)) }
        signal.signal()
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
