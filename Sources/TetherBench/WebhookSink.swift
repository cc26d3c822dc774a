import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A local webhook receiver for the webhooks scenario: `/hook` answers 200 at once and
/// records when each webhook arrived (wall-clock ms, comparable with event times);
/// `/stall` never answers (an endpoint that hangs), until the sink stops.
final class WebhookSink: Sendable {
    struct Arrival: Sendable {
        var atMs: Int64
        var eventTimeMs: Int64
    }

    let port: Int
    private let recorder: Recorder
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var stallingURL: String { "http://127.0.0.1:\(port)/stall" }
    var count: Int { recorder.arrivals.withLock { $0.count } }
    var received: [Arrival] { recorder.arrivals.withLock { $0 } }

    private init(port: Int, recorder: Recorder, group: ServiceGroup, running: Task<Void, any Error>) {
        self.port = port
        self.recorder = recorder
        self.group = group
        self.running = running
    }

    static func start() async throws -> WebhookSink {
        let box = Recorder()
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            box.record(body: body)
            return Response(status: .ok)
        }
        router.post("stall") { _, _ -> Response in
            try await Task.sleep(for: .seconds(3600))
            return Response(status: .ok)
        }
        var logger = Logger(label: "tether.bench.sink")
        logger.logLevel = .critical
        let (ports, portSeen) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portSeen.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let running = Task {
            defer { portSeen.finish() }
            try await group.run()
        }
        var port = 0
        for await bound in ports { port = bound; break }
        guard port > 0 else { throw BenchError("the webhook sink did not start") }
        return WebhookSink(port: port, recorder: box, group: group, running: running)
    }

    /// Waits until `count` webhooks arrived (at most `timeout`).
    func waitFor(_ count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while self.count < count {
            guard ContinuousClock.now < deadline else { throw BenchError("only \(self.count) of \(count) webhooks arrived within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func reset() { recorder.arrivals.withLock { $0.removeAll(keepingCapacity: true) } }

    func stop() async {
        await group.triggerGracefulShutdown()
        running.cancel()
        _ = try? await running.value
    }

    /// What the route records and the sink reads (a `Mutex` cannot be captured by value).
    private final class Recorder: Sendable {
        let arrivals = Mutex<[Arrival]>([])

        func record(body: ByteBuffer) {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let eventTime = (((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any])?["created_at_ms"] as? NSNumber)?.int64Value ?? now
            arrivals.withLock { $0.append(Arrival(atMs: now, eventTimeMs: eventTime)) }
        }
    }
}
