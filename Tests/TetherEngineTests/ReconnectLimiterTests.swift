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
        // One start per second: the second caller has its place but waits ~1 s to start.
        let limiter = ReconnectLimiter(maxInFlight: 5, perSecond: 2)
        try await limiter.acquire()
        let second = Task { try await limiter.acquire() }
        try await eventually("the second caller holds a place") { await limiter.inFlightCount == 2 }
        second.cancel()
        await #expect(throws: CancellationError.self) { try await second.value }
        #expect(await limiter.inFlightCount == 1, "the cancelled caller gave its place back")
    }
}
