import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import TetherEngine
import TetherEvents

/// The runner on a fake transport: what it does with the machine's actions at every
/// await point an attempt has, with no socket and no sleep.
@Suite(.timeLimit(.minutes(1))) struct SessionRunnerTests {
    final class Recorder: Sendable {
        private let box = NIOLockedValueBox<[SessionUpdate]>([])
        func take(_ update: SessionUpdate) { box.withLockedValue { $0.append(update) } }
        var types: [String] { box.withLockedValue { $0.flatMap { $0.events.map(\.type) } } }
        var events: [SessionEvent] { box.withLockedValue { $0.flatMap(\.events) } }
    }

    let policy = ReconnectPolicy(
        healthCheckInterval: .seconds(60), healthCheckTimeout: .seconds(120), disconnectionTimeout: .seconds(30),
        backoffInitial: .milliseconds(1), backoffMaximum: .milliseconds(2))

    func runner(
        _ transport: FakeTransport, limiter: ReconnectLimiter? = nil, watch: NodeRestartWatch? = nil,
        credentials: CredentialsSource? = nil, nodes: [String] = ["ws://a/ws"], recorder: Recorder
    ) -> SessionRunner {
        let configuration = SessionConfiguration(id: "s", callID: "c", userID: "u", token: "t0", sfuURLs: nodes, policy: policy)
        return SessionRunner(
            configuration: configuration,
            machine: Reconnector(policy: policy, nodes: nodes, token: "t0", refreshesCredentials: credentials != nil),
            transport: transport,
            executor: AttemptExecutor(
                transport: transport, limiter: limiter, restartWatch: watch, credentials: credentials, sessionID: "s", callID: "c", userID: "u"),
            sink: { recorder.take($0) })
    }

    /// Starts the session and answers its first join; returns once joined.
    func joined(_ runner: SessionRunner, _ transport: FakeTransport) async throws {
        async let started: Void = runner.start()
        try await transport.connectStarted(1)
        transport.join(1)
        try await started
    }

    func lose(_ transport: FakeTransport, _ generation: GenerationID) {
        transport.send(GenerationNotice(generation: generation, kind: .lost(reason: .unexpectedClose, closeCode: 1006, detail: nil, lastContact: .now)))
    }

    @Test func noticesThatArriveBeforeTheirJoinIsProcessedAreReplayedInOrder() async throws {
        let transport = FakeTransport()
        let recorder = Recorder()
        let runner = runner(transport, recorder: recorder)
        async let started: Void = runner.start()
        try await transport.connectStarted(1)
        // The new generation reports before its join's answer reaches the runner.
        for code in ["e1", "e2", "e3"] {
            transport.send(GenerationNotice(generation: 1, kind: .signal(.sfuError(SFUError(code: code, message: "early", strategy: nil)))))
        }
        try await waitUntil("the notices to be buffered") { await runner.snapshot.state == .connecting && recorder.types == ["session_created"] }
        transport.join(1)
        try await started
        try await waitUntil("the early notices to be replayed") { recorder.types.count == 5 }
        #expect(recorder.types == ["session_created", "joined", "sfu_error", "sfu_error", "sfu_error"])
        let codes = recorder.events.compactMap { if case .sfuError(let code, _, _) = $0.kind { code } else { nil } }
        #expect(codes == ["e1", "e2", "e3"])
        await runner.leave()
    }

    @Test func aFastRuledOutAfterItsAdmissionHandsItsPlaceToTheRejoin() async throws {
        let transport = FakeTransport()
        let recorder = Recorder()
        let limiter = ReconnectLimiter(maxInFlight: 1, perSecond: 1000)
        let watch = NodeRestartWatch(configuration: .init(evidenceThreshold: 1, evidenceWindow: .seconds(10), verdictLifetime: .seconds(60)))
        let runner = runner(transport, limiter: limiter, watch: watch, recorder: recorder)
        try await joined(runner, transport)
        // Another session holds the only place: the FAST queues for it.
        try await limiter.acquire()
        lose(transport, 1)
        try await waitUntil("the FAST to queue for a place") { limiter.waiting == 1 }
        // The node's restart is established while it waits.
        watch.fastRefused(node: "ws://a/ws", session: "other")
        limiter.release()
        // Ruled out after admission: the REJOIN dials on the same place.
        try await transport.connectStarted(3)
        #expect(limiter.inFlightCount == 1, "one place for the FAST and the REJOIN that replaced it")
        #expect(!transport.connects.contains { $0.generation == 2 }, "the FAST was never dialed")
        transport.join(3, sfuSessionID: "s2")
        try await waitUntil("the rejoin to succeed") { recorder.types.contains("reconnected") }
        try await waitUntil("the place to be given back") { limiter.inFlightCount == 0 }
        #expect(recorder.events.contains { $0.kind == .strategyEscalated(from: .fast, to: .rejoin, reason: "node_restarted") })
        await runner.leave()
    }

    enum Await: String, CaseIterable, Sendable { case admission, credentials, connect }

    /// A DELETE at each await point of an attempt: the attempt stops there, gives its
    /// place back, dials nothing more, and the session has left.
    @Test(arguments: Await.allCases)
    func aDeleteDuringAnAttemptCancelsItWhereverItWaits(point: Await) async throws {
        let transport = FakeTransport()
        let recorder = Recorder()
        let limiter = ReconnectLimiter(maxInFlight: 1, perSecond: 1000)
        let fetching = NIOLockedValueBox(false)
        let credentials = CredentialsSource { _ in
            fetching.withLockedValue { $0 = true }
            try await Task.sleep(for: .seconds(600))
            return .init(token: "fresh", urls: nil)
        }
        let runner = runner(transport, limiter: limiter, credentials: point == .credentials ? credentials : nil, recorder: recorder)
        try await joined(runner, transport)
        if point == .admission { try await limiter.acquire() }
        // A REJOIN (credentials are fetched for REJOIN and MIGRATE only).
        transport.send(GenerationNotice(generation: 1, kind: .signal(.sfuError(SFUError(code: "x", message: "rejoin", strategy: .rejoin)))))
        switch point {
        case .admission: try await waitUntil("the attempt to queue") { limiter.waiting == 1 }
        case .credentials: try await waitUntil("the credentials fetch") { fetching.withLockedValue { $0 } }
        case .connect: try await transport.connectStarted(2)
        }
        await runner.leave()
        #expect(await runner.state == .left)
        if point == .admission { limiter.release() }
        try await waitUntil("every place to be given back") { limiter.inFlightCount == 0 && limiter.waiting == 0 }
        #expect(transport.waiting.isEmpty, "no connect is left waiting")
        if point != .connect { #expect(!transport.connects.contains { $0.generation == 2 }, "nothing was dialed after the DELETE") }
        #expect(recorder.types.last == "left")
    }

    @Test func aJoinThatCompletesAfterADeleteIsLeftAndClosedNeverMadeCurrent() async throws {
        let transport = FakeTransport()
        let recorder = Recorder()
        let runner = runner(transport, recorder: recorder)
        try await joined(runner, transport)
        transport.ignoreCancellation()
        transport.send(GenerationNotice(generation: 1, kind: .signal(.sfuError(SFUError(code: "x", message: "rejoin", strategy: .rejoin)))))
        try await transport.connectStarted(2)
        await runner.leave()
        // The SFU answers the cancelled join anyway.
        transport.join(2, sfuSessionID: "late")
        try await waitUntil("the late join to be left") {
            transport.closes.contains { $0.0 == 2 && $0.1 == .leave(sessionID: "late", reason: "requested") }
        }
        #expect(await runner.snapshot.generation == 1, "the late generation never became current")
        #expect(await runner.state == .left)
        #expect(!recorder.types.contains("reconnected"))
    }
}
