import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TetherEngine
import TetherEvents

/// Many sessions in this process against one simulator, with every event time-stamped
/// on the monotonic clock as the engine emits it.
final class Fleet: Sendable {
    struct Stamp: Sendable {
        var session: String
        var type: String
        var at: ContinuousClock.Instant
        /// CLOCK_BOOTTIME, comparable with the simulator's `at_ns`.
        var bootNanoseconds: Int64
    }

    let runners: [SessionRunner]
    private let box: Box

    private init(runners: [SessionRunner], box: Box) {
        self.runners = runners
        self.box = box
    }

    /// Creates `count` sessions on `url` in `calls` calls and joins them, `concurrency` at
    /// a time. Every join is announced to the call's other participants, so the call
    /// size sets how much the SFU sends (and the engine reads) per join.
    static func join(
        count: Int, url: String, policy: ReconnectPolicy, limiter: ReconnectLimiter? = nil, restartWatch: NodeRestartWatch? = nil,
        concurrency: Int = 100, calls: Int = 100
    ) async throws -> Fleet {
        let box = Box()
        var runners: [SessionRunner] = []
        for index in 0..<count {
            runners.append(SessionRunner(
                configuration: SessionConfiguration(
                    id: "bench-\(index)", callID: "default:bench-\(index % max(calls, 1))", userID: "agent-\(index)",
                    token: Self.token(call: "default:bench-\(index % max(calls, 1))", user: "agent-\(index)"),
                    sfuURLs: [url], policy: policy),
                dialect: StreamDialect(),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                limiter: limiter,
                restartWatch: restartWatch,
                record: { event in
                    box.add(Stamp(session: event.sessionID, type: event.type, at: .now, bootNanoseconds: bootTimeNanoseconds()))
                }))
        }
        let fleet = Fleet(runners: runners, box: box)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, runner) in runners.enumerated() {
                if index >= concurrency { try await group.next() }
                group.addTask { try await runner.start() }
            }
            try await group.waitForAll()
        }
        return fleet
    }

    final class Box: Sendable {
        let stamps = Mutex<[Stamp]>([])
        /// Each type's stamp times, in the order recorded: what the 2 ms polls of
        /// ``count(_:since:)`` read. Copying and filtering every stamp on each poll cost
        /// the benchmark more CPU than the engine it measures (seen with perf), and the
        /// two share the machine's cores.
        let timesByType = Mutex<[String: [ContinuousClock.Instant]]>([:])
        func add(_ stamp: Stamp) {
            stamps.withLock { $0.append(stamp) }
            timesByType.withLock { $0[stamp.type, default: []].append(stamp.at) }
        }
    }

    func all() -> [Stamp] { box.stamps.withLock { $0 } }

    /// Stamps of `type` at or after `since`, counted back from the newest (earlier
    /// rounds are never walked).
    func count(_ type: String, since: ContinuousClock.Instant) -> Int {
        box.timesByType.withLock { byType in
            guard let times = byType[type] else { return 0 }
            var count = 0
            var index = times.count - 1
            while index >= 0, times[index] >= since {
                count += 1
                index -= 1
            }
            return count
        }
    }

    /// The first `type` stamp of each session at or after `since`.
    func first(_ type: String, since: ContinuousClock.Instant) -> [String: ContinuousClock.Instant] {
        var firsts: [String: ContinuousClock.Instant] = [:]
        for stamp in all() where stamp.type == type && stamp.at >= since && firsts[stamp.session] == nil {
            firsts[stamp.session] = stamp.at
        }
        return firsts
    }

    /// Polls until `condition` holds or `timeout` passes; returns whether it held.
    @discardableResult
    func wait(timeout: Duration, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return condition()
    }

    func leaveAll() async {
        await withTaskGroup(of: Void.self) { group in
            for runner in runners { group.addTask { await runner.leave(reason: "bench_done") } }
        }
    }

    static func token(call: String, user: String) -> String {
        func encode(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return encode(#"{"alg":"HS256","typ":"JWT"}"#) + "." + encode(#"{"call_cid":"\#(call)","user_id":"\#(user)"}"#) + ".bench"
    }
}

import Glibc

func bootTimeNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_BOOTTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// The simulator's admin surface.
enum Admin {
    /// Injects `fault`; returns when the simulator started it (CLOCK_BOOTTIME ns).
    @discardableResult
    static func post(_ simulator: SimulatorProcess, _ fault: String) async throws -> Int64 {
        var request = HTTPClientRequest(url: simulator.admin + "/" + fault)
        request.method = .POST
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        guard response.status == .ok else { throw BenchError("admin \(fault) answered \(response.status)") }
        let body = try await response.body.collect(upTo: 1 << 16)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
        return (object?["at_ns"] as? NSNumber)?.int64Value ?? bootTimeNanoseconds()
    }

    static func state(_ simulator: SimulatorProcess) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: simulator.admin + "/state"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }
}
