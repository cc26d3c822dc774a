import Foundation
import Logging
import ServiceLifecycle
import TetherEventLog
import TetherEvents
import TetherService

extension Scenarios {
    // MARK: - webhooks

    /// Delivery throughput with `pending` rows already in the outbox, for each size (the
    /// rate of the first `measured` deliveries, so the backlog is still about that size
    /// while it is measured), then the lateness of a healthy endpoint alone and beside
    /// one that never answers, for `sessions` sessions sending `rounds` webhooks each, one
    /// round a second. A real `tether serve` in this process, a local Hummingbird sink.
    public static func webhooks(pending sizes: [Int], measured: Int, sessions: Int, rounds: Int) async throws -> BenchReport {
        var report = BenchReport(
            scenario: "webhooks",
            parameters: "throughput of the first \(measured) deliveries at \(sizes.map(String.init).joined(separator: ", ")) pending; lateness for \(sessions) sessions × \(rounds) rounds")
        let sink = try await WebhookSink.start()
        do {
            for size in sizes {
                let (rate, cores) = try await throughput(pending: size, measured: measured, sink: sink)
                report.add("deliveries/s at \(size) pending", String(format: "%.0f", rate), target: "≥ 500 (release), ≥ 300 (debug)")
                report.add("CPU at \(size) pending (cores, sink included)", String(format: "%.2f", cores))
            }
            for stalling in [false, true] {
                let lateness = try await lateness(sessions: sessions, rounds: rounds, besideStalling: stalling, sink: sink)
                let label = stalling ? "healthy endpoint beside a stalling one" : "healthy endpoint alone"
                report.add("\(label): lateness p50 / p99 / max", "\(lateness.ms(50)) / \(lateness.ms(99)) / \(lateness.ms(100))",
                           target: stalling ? "p99 ≤ 1 s (release), ≤ 2 s (debug)" : "")
            }
        } catch {
            await sink.stop()
            throw error
        }
        await sink.stop()
        return report
    }

    static let benchSecret = "bench-webhook-secret-0123456789"

    /// A `tether serve` on `database` with the sink's endpoints, run for `body`.
    static func withWebhookService<T>(
        database: String, urls: [String], _ body: (TetherApplication) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "tether.bench")
        logger.logLevel = .error
        var configuration = ServiceConfiguration(port: 0, databasePath: database)
        configuration.webhookURLs = urls
        configuration.webhookSecrets = [benchSecret]
        configuration.webhookTypes = nil  // every history event
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try await buildApplication(configuration: configuration, logger: logger) { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [app.application], logger: logger))
        let running = Task { try await group.run() }
        for await _ in ports { break }
        do {
            let value = try await body(app)
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            return value
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }

    /// Fills the outbox with `pending` rows for endpoint `1` (10 sessions' worth of 30
    /// events per 300 rows, as a flapping fleet leaves them) with no dispatcher running,
    /// then starts the service and times its first `measured` deliveries. With nothing
    /// pending, times `measured` events written while it runs.
    static func throughput(pending: Int, measured: Int, sink: WebhookSink) async throws -> (perSecond: Double, cores: Double) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("webhooks.sqlite").path
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        if pending > 0 {
            var store = try EventStore.open(path: database)
            store.webhooks = WebhookRouting(endpoints: [.init(id: "1", url: sink.url)], types: nil, maxBacklog: max(300_000, pending))
            let log = EventLog(store: store, limits: .init(maxQueuedEvents: .max, maxQueuedBytes: .max))
            let writer = Task { try await log.run() }
            let sessions = max(1, pending / 30)
            for index in 0..<pending {
                log.append(event(session: index % sessions, at: nowMs))
            }
            try await log.flush(within: .seconds(600))
            log.stop()
            try await writer.value
        }
        sink.reset()
        return try await withWebhookService(database: database, urls: [sink.url]) { app in
            let started: ContinuousClock.Instant
            let cpuBefore: Duration
            let first: Int
            let count: Int
            if pending == 0 {
                // Nothing waits: the events are written while the clock runs.
                (started, cpuBefore, first, count) = (.now, ProcessUsage.cpuTime(), 0, measured)
                for index in 0..<measured { app.log.append(event(session: index % 300, at: Int64(Date().timeIntervalSince1970 * 1000))) }
            } else {
                // From the first delivery: the service's start is not delivery.
                try await sink.waitFor(1, timeout: .seconds(120))
                (started, cpuBefore, first) = (.now, ProcessUsage.cpuTime(), sink.count)
                count = min(measured, pending - first)
            }
            try await sink.waitFor(first + count, timeout: .seconds(600))
            let elapsed = ContinuousClock.now - started
            let cores = (ProcessUsage.cpuTime() - cpuBefore).inSeconds / elapsed.inSeconds
            return (Double(sink.count - first) / elapsed.inSeconds, cores)
        }
    }

    /// `sessions` sessions each send one webhook a second for `rounds` seconds; how late
    /// each reached the healthy endpoint (arrival minus the event's time).
    static func lateness(sessions: Int, rounds: Int, besideStalling: Bool, sink: WebhookSink) async throws -> Samples {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        sink.reset()
        let urls = besideStalling ? [sink.stallingURL, sink.url] : [sink.url]
        return try await withWebhookService(database: folder.appendingPathComponent("late.sqlite").path, urls: urls) { app in
            for round in 0..<rounds {
                if round > 0 { try await Task.sleep(for: .seconds(1)) }
                let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
                for session in 0..<sessions { app.log.append(event(session: session, at: nowMs)) }
            }
            try await sink.waitFor(sessions * rounds, timeout: .seconds(120))
            var samples = Samples()
            for arrival in sink.received { samples.add(.milliseconds(arrival.atMs - arrival.eventTimeMs)) }
            return samples
        }
    }

    static func event(session: Int, at timeMs: Int64) -> SessionEvent {
        SessionEvent(
            sessionID: "bench-\(session)", timeMs: timeMs, generation: 1,
            kind: .reconnected(strategy: .fast, attempts: 1, durationMs: 3, sfuURL: "ws://127.0.0.1:9001/ws", sfuSessionID: "5f0c2b1e-7d44-4e4a"))
    }
}
