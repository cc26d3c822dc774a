import Testing
@testable import TetherEngine

/// The service-wide reconnect cap: places are handed over, and a cancelled waiter
/// leaves nothing behind.
@Suite(.timeLimit(.minutes(1))) struct ReconnectLimiterTests {
    /// Polls `condition` (an actor's state) until it holds; fails the test after 5 s.
    func eventually(_ what: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("not within 5 s: \(what)")
        throw CancellationError()
    }

    @Test func aReleasedPlaceGoesToTheNextWaiter() async throws {
        let limiter = ReconnectLimiter(maxInFlight: 1, perSecond: 1_000_000)
        try await limiter.acquire()
        let waiter = Task { try await limiter.acquire() }
        try await eventually("the second caller queues") { await limiter.waiting == 1 }
        await limiter.release()
        try await waiter.value
        #expect(await limiter.inFlightCount == 1, "the place was handed over, not freed and retaken")
        await limiter.release()
        #expect(await limiter.inFlightCount == 0)
    }

    @Test func aWaiterCancelledWhileQueuedLeavesNothingBehind() async throws {
        let limiter = ReconnectLimiter(maxInFlight: 1, perSecond: 1_000_000)
        try await limiter.acquire()
        let cancelled = Task { try await limiter.acquire() }
        try await eventually("the caller queues") { await limiter.waiting == 1 }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        try await eventually("the queue is empty") { await limiter.waiting == 0 }
        // Its place was never taken: releasing the holder frees the limiter entirely.
        await limiter.release()
        #expect(await limiter.inFlightCount == 0)
        try await limiter.acquire()
        #expect(await limiter.inFlightCount == 1)
    }

    @Test func aCallerCancelledWhileWaitingForItsStartSlotReleasesItsPlace() async throws {
        // Slots of 1 s, reserved in call order with jitter inside each: four callers at
        // once take the next four slots, so a fifth's start is at least four slots after
        // the first call, whatever the jitter — seconds of margin for the cancel below,
        // even on a loaded machine (one caller alone could be due within milliseconds).
        let limiter = ReconnectLimiter(maxInFlight: 5, perSecond: 2)
        let early = (0..<4).map { _ in Task { try await limiter.acquire() } }
        try await eventually("four callers hold places") { await limiter.inFlightCount == 4 }
        let waiting = Task { try await limiter.acquire() }
        try await eventually("the fifth caller holds a place") { await limiter.inFlightCount == 5 }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(await limiter.inFlightCount == 4, "the cancelled caller gave its place back")
        for task in early { task.cancel() }
    }
}
