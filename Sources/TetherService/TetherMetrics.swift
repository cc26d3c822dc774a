import CoreMetrics
import Metrics
import Prometheus
import Synchronization
import TetherEventLog
import TetherEvents

/// The service's Prometheus metrics, made through swift-metrics with a registry of its
/// own (no global bootstrap, so several services can live in one test process).
public final class TetherMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Prometheus's, or it and an OpenTelemetry exporter's together.
    private let factory: any MetricsFactory
    private let stateCounts = Mutex([String: Int]())
    private let reportedWriteErrors = Mutex(0)
    /// The HTTP series made so far: a lookup in the factory takes its lock and sorts
    /// labels on every call, too much for each request.
    private let httpSeries = Mutex<[HTTPSeriesKey: HTTPSeries]>([:])

    private struct HTTPSeriesKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    private struct HTTPSeries {
        var requests: CoreMetrics.Counter
        var duration: Metrics.Timer
    }

    /// `exportingTo`: a second factory every metric also records to (OpenTelemetry).
    public init(exportingTo export: (any MetricsFactory)? = nil) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["tether_reconnect_duration_seconds"] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
        ]
        factory.durationHistogramBuckets["tether_http_request_duration_seconds"] = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        self.factory = export.map { MultiplexMetricsHandler(factories: [factory, $0]) } ?? factory
        registerAtZero()
    }

    /// Every series a dashboard queries exists from the start (at zero), in every mode:
    /// a panel shows 0, not "no data", and the dashboard test can check each name.
    private func registerAtZero() {
        for state in SessionState.allCases { gauge(state.rawValue).record(0) }
        for reason in LossReason.allCases {
            Counter(label: "tether_losses_total", dimensions: [("reason", reason.rawValue)], factory: factory).increment(by: 0)
        }
        for strategy in ReconnectStrategy.allCases {
            for outcome in ["succeeded", "attempt_failed"] {
                Counter(label: "tether_reconnects_total", dimensions: [("strategy", strategy.rawValue), ("outcome", outcome)], factory: factory)
                    .increment(by: 0)
            }
            _ = Metrics.Timer(label: "tether_reconnect_duration_seconds", dimensions: [("strategy", strategy.rawValue)], factory: factory)
        }
        // The engine's reasons for giving up; a refused resume adds its own when it happens.
        for reason in ["deadline_exceeded", "flapping"] {
            Counter(label: "tether_reconnects_failed_total", dimensions: [("reason", reason)], factory: factory).increment(by: 0)
        }
        for outcome in ["delivered", "retried", "rejected", "gone", "failed"] {
            Counter(label: "tether_webhook_deliveries_total", dimensions: [("outcome", outcome)], factory: factory).increment(by: 0)
        }
        CoreMetrics.Gauge(label: "tether_webhook_pending_deliveries", factory: factory).record(0)
        CoreMetrics.Gauge(label: "tether_event_queue_depth", factory: factory).record(0)
        Counter(label: "tether_event_write_errors_total", factory: factory).increment(by: 0)
        registerFleetCounters()
    }

    /// One answered HTTP request.
    func httpRequest(method: String, route: String, status: Int, duration: Duration) {
        let key = HTTPSeriesKey(method: method, route: route, status: status)
        let series = httpSeries.withLock { series in
            if let existing = series[key] { return existing }
            let made = HTTPSeries(
                requests: Counter(
                    label: "tether_http_requests_total", dimensions: [("method", method), ("route", route), ("status", "\(status)")],
                    factory: factory),
                duration: Metrics.Timer(label: "tether_http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory)
            )
            series[key] = made
            return made
        }
        series.requests.increment()
        series.duration.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// Counts what an event says about losses and reconnects.
    func observe(_ event: SessionEvent) {
        switch event.kind {
        case .connectionLost(let reason, _, _):
            Counter(label: "tether_losses_total", dimensions: [("reason", reason.rawValue)], factory: factory).increment()
        case .reconnected(let strategy, _, let durationMs, _, _):
            Counter(label: "tether_reconnects_total", dimensions: [("strategy", strategy.rawValue), ("outcome", "succeeded")], factory: factory).increment()
            Metrics.Timer(label: "tether_reconnect_duration_seconds", dimensions: [("strategy", strategy.rawValue)], factory: factory)
                .recordMilliseconds(durationMs)
        case .reconnectAttemptFailed(let strategy, _, _, _):
            Counter(label: "tether_reconnects_total", dimensions: [("strategy", strategy.rawValue), ("outcome", "attempt_failed")], factory: factory).increment()
        case .reconnectFailed(let reason, _, _):
            Counter(label: "tether_reconnects_failed_total", dimensions: [("reason", reason)], factory: factory).increment()
        default:
            break
        }
    }

    /// The history writer's queue depth and write errors, read at scrape time.
    func recordStorage(_ health: EventLog.Health) {
        CoreMetrics.Gauge(label: "tether_event_queue_depth", factory: factory).record(health.queuedWrites)
        let newErrors = reportedWriteErrors.withLock { reported -> Int in
            defer { reported = max(reported, health.writeErrors) }
            return max(0, health.writeErrors - reported)
        }
        let errors = Counter(label: "tether_event_write_errors_total", factory: factory)
        if newErrors > 0 { errors.increment(by: newErrors) } else { errors.increment(by: 0) }
    }

    /// One webhook try's outcome: `delivered`, `retried`, `rejected` (a 4xx: final for
    /// that delivery), `gone` (410: the endpoint is disabled) or `failed` (given up after
    /// the retry window).
    func webhookAttempt(outcome: String) {
        Counter(label: "tether_webhook_deliveries_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// Each endpoint's backlog, oldest pending age, state and overflow total, read at
    /// scrape time from the outbox's own counts (kept with every change, never a scan).
    func recordWebhooks(_ endpoints: [WebhookEndpointStatus], nowMs: Int64) {
        // All endpoints together, unlabeled: present with no endpoint configured too.
        CoreMetrics.Gauge(label: "tether_webhook_pending_deliveries", factory: factory).record(endpoints.reduce(0) { $0 + $1.backlog })
        for endpoint in endpoints {
            let label = [("endpoint", endpoint.id)]
            CoreMetrics.Gauge(label: "tether_webhook_backlog", dimensions: label, factory: factory).record(endpoint.backlog)
            let age = endpoint.oldestPendingCreatedAtMs.map { Double(max(0, nowMs - $0)) / 1000 } ?? 0
            CoreMetrics.Gauge(label: "tether_webhook_oldest_pending_age_seconds", dimensions: label, factory: factory).record(age)
            CoreMetrics.Gauge(label: "tether_webhook_endpoint_enabled", dimensions: label, factory: factory).record(endpoint.enabled ? 1 : 0)
            CoreMetrics.Gauge(label: "tether_webhook_overflowed", dimensions: label, factory: factory).record(endpoint.overflowed)
        }
    }

    /// Moves one session between states in the `tether_sessions` gauge.
    func sessionMoved(from old: String?, to new: String) {
        guard old != new else { return }
        let counts = stateCounts.withLock { counts -> [String: Int] in
            if let old { counts[old, default: 0] -= 1 }
            counts[new, default: 0] += 1
            return counts
        }
        if let old { gauge(old).record(counts[old] ?? 0) }
        gauge(new).record(counts[new] ?? 0)
    }

    /// A session this instance no longer runs (another instance does now).
    func sessionGone(from old: String) {
        let count = stateCounts.withLock { counts -> Int in
            counts[old, default: 0] -= 1
            return counts[old] ?? 0
        }
        gauge(old).record(count)
    }

    /// Fleet events: `tether_fleet_ownership_lost_total` (a write found the session
    /// adopted: the socket was closed), `tether_fleet_stale_events_dropped_total` (events
    /// queued under an epoch that no longer held), `tether_fleet_fenced_total` (this
    /// instance stopped acting as an agent), `tether_fleet_adopted_total{release}`.
    func fleet(_ label: String, by amount: Int = 1, dimensions: [(String, String)] = []) {
        Counter(label: label, dimensions: dimensions, factory: factory).increment(by: amount)
    }

    /// Registers the fleet counters at zero (a single-owner store shows them at zero too).
    private func registerFleetCounters() {
        for label in ["tether_fleet_ownership_lost_total", "tether_fleet_stale_events_dropped_total", "tether_fleet_fenced_total"] {
            fleet(label, by: 0)
        }
        for release in ["dead", "handover", "restart", "placement"] {
            fleet("tether_fleet_adopted_total", by: 0, dimensions: [("release", release)])
        }
    }

    private func gauge(_ state: String) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: "tether_sessions", dimensions: [("state", state)], factory: factory)
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
