import NIOConcurrencyHelpers
import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct StaleSessionJanitorTests {
    /// A node that never answers: every connect is refused at once.
    final class Refusing: SignalingTransport {
        func deliverNotices(to receiver: @escaping @Sendable (GenerationNotice) -> Void) {}
        let tries = NIOLockedValueBox(0)
        func connect(_ generation: GenerationID, to url: String, joining parameters: JoinParameters) async throws -> JoinAnswer {
            tries.withLockedValue { $0 += 1 }
            throw ConnectFailure(.refused, "refused")
        }
        func close(_ generation: GenerationID, leaving: SignalRequest?) {}
        func waitUntilClosed(_ generation: GenerationID) async {}
        func finish() {}
    }

    let cleanup = JoinParameters(token: "t", callID: "c", userID: "u", staleSessionID: "1:2", cleanupOnly: true)

    @Test func aCleanupThatNeverReachesItsNodeGivesUp() async throws {
        let janitor = StaleSessionJanitor(initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(40), giveUpAfter: .milliseconds(300))
        let running = Task { try await janitor.run() }
        let node = Refusing()
        let outcome = NIOLockedValueBox<StaleSessionJanitor.Outcome?>(nil)
        #expect(janitor.submit(.init(transport: node, url: "ws://gone/ws", parameters: cleanup) { result in
            outcome.withLockedValue { $0 = result }
        }))
        try await waitUntil("the cleanup to give up") { outcome.withLockedValue { $0 } == .gaveUp }
        #expect(node.tries.withLockedValue { $0 } >= 3, "it retried before giving up")
        running.cancel()
    }

    @Test func aCleanupReportsWhatItFound() async throws {
        let janitor = StaleSessionJanitor()
        let running = Task { try await janitor.run() }
        let node = FakeTransport()
        let outcome = NIOLockedValueBox<StaleSessionJanitor.Outcome?>(nil)
        janitor.submit(.init(transport: node, url: "ws://old/ws", parameters: cleanup) { result in outcome.withLockedValue { $0 = result } })
        try await node.connectStarted(1)
        #expect(node.connects.first?.parameters.cleanupOnly == true)
        node.answer(1, with: .success(JoinAnswer(sfuSessionID: "", reconnected: false, fastReconnectWindow: nil, participantCount: 0, staleSessionDestroyed: "1")))
        try await waitUntil("the cleanup to report") { outcome.withLockedValue { $0 } == .destroyed(found: true) }
        #expect(node.closes.map(\.0) == [1], "the cleanup's socket is closed")
        running.cancel()
    }

    /// Shutdown (the service's task cancelled) stops every cleanup at once.
    @Test func shutdownStopsItsCleanups() async throws {
        let janitor = StaleSessionJanitor()
        let running = Task { try await janitor.run() }
        let node = FakeTransport()
        let outcome = NIOLockedValueBox<StaleSessionJanitor.Outcome?>(nil)
        janitor.submit(.init(transport: node, url: "ws://old/ws", parameters: cleanup) { result in outcome.withLockedValue { $0 = result } })
        try await node.connectStarted(1)
        running.cancel()
        _ = try? await running.value
        #expect(node.waiting.isEmpty, "the dial in flight was cancelled")
        #expect(outcome.withLockedValue { $0 } == nil, "a cancelled cleanup reports nothing")
        #expect(!janitor.submit(.init(transport: node, url: "ws://old/ws", parameters: cleanup) { _ in }), "a stopped janitor takes no more")
    }
}
