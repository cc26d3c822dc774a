import NIOConcurrencyHelpers
@testable import TetherEngine
import TetherEvents

/// A ``SignalingTransport`` the test drives by hand: every connect waits until the test
/// answers it (or the attempt is cancelled), closes are recorded, and the test sends
/// notices as any generation.
final class FakeTransport: SignalingTransport {
    struct Connect: Sendable {
        var generation: GenerationID
        var url: String
        var parameters: JoinParameters
    }

    private struct State {
        var pending: [GenerationID: CheckedContinuation<JoinAnswer, any Error>] = [:]
        var connects: [Connect] = []
        var closes: [(GenerationID, SignalRequest?)] = []
        var finished = false
        /// Connects go on when their task is cancelled (a join already on the wire).
        var ignoresCancellation = false
    }

    /// The runner's receiver, and what the test sent before there was one (delivered
    /// when it is set, as a stream would have buffered it).
    private let delivery = NIOLockedValueBox<(receiver: (@Sendable (GenerationNotice) -> Void)?, early: [GenerationNotice])>((nil, []))
    private let state = NIOLockedValueBox(State())

    init() {}

    func deliverNotices(to receiver: @escaping @Sendable (GenerationNotice) -> Void) {
        let early = delivery.withLockedValue { delivery -> [GenerationNotice] in
            delivery.receiver = receiver
            defer { delivery.early = [] }
            return delivery.early
        }
        for notice in early { receiver(notice) }
    }

    func connect(_ generation: GenerationID, to url: String, joining parameters: JoinParameters) async throws -> JoinAnswer {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<JoinAnswer, any Error>) in
                state.withLockedValue { state in
                    state.connects.append(Connect(generation: generation, url: url, parameters: parameters))
                    state.pending[generation] = waiter
                }
                if Task.isCancelled { answer(generation, with: .failure(ConnectFailure(.cancelled, "cancelled"))) }
            }
        } onCancel: {
            guard !state.withLockedValue({ $0.ignoresCancellation }) else { return }
            answer(generation, with: .failure(ConnectFailure(.cancelled, "cancelled")))
        }
    }

    /// Ends the connect of `generation` (nothing happens when none waits).
    func answer(_ generation: GenerationID, with result: Result<JoinAnswer, any Error>) {
        state.withLockedValue { $0.pending.removeValue(forKey: generation) }?.resume(with: result)
    }

    func join(_ generation: GenerationID, sfuSessionID: String = "s1", reconnected: Bool = false) {
        answer(generation, with: .success(JoinAnswer(sfuSessionID: sfuSessionID, reconnected: reconnected, fastReconnectWindow: nil, participantCount: 1)))
    }

    func close(_ generation: GenerationID, leaving: SignalRequest?) {
        state.withLockedValue { $0.closes.append((generation, leaving)) }
    }

    func waitUntilClosed(_ generation: GenerationID) async {}

    func finish() {
        state.withLockedValue { $0.finished = true }
    }

    func send(_ notice: GenerationNotice) {
        let receiver = delivery.withLockedValue { delivery -> (@Sendable (GenerationNotice) -> Void)? in
            if delivery.receiver == nil { delivery.early.append(notice) }
            return delivery.receiver
        }
        receiver?(notice)
    }

    func ignoreCancellation() { state.withLockedValue { $0.ignoresCancellation = true } }

    var connects: [Connect] { state.withLockedValue { $0.connects } }
    var closes: [(GenerationID, SignalRequest?)] { state.withLockedValue { $0.closes } }
    var waiting: [GenerationID] { state.withLockedValue { Array($0.pending.keys) } }
    var finished: Bool { state.withLockedValue { $0.finished } }

    /// Waits (polling, bounded) until a connect of `generation` waits for its answer.
    func connectStarted(_ generation: GenerationID, within limit: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + limit
        while !waiting.contains(generation) {
            guard ContinuousClock.now < deadline else { throw FakeTimeout(what: "a connect of \(generation); connects: \(connects.map(\.generation))") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

struct FakeTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 2 ms; throws past `limit`.
func waitUntil(_ what: String, within limit: Duration = .seconds(10), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw FakeTimeout(what: what) }
        try await Task.sleep(for: .milliseconds(2))
    }
}
