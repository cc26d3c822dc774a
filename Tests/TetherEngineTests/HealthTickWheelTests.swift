import NIOCore
import NIOEmbedded
import Testing
@testable import TetherEngine

/// The per-loop wheel that holds every connection's health-check wake-up: each runs at
/// its tick and not before, once, unless cancelled; the loop holds one scheduled task.
@Suite(.timeLimit(.minutes(1))) struct HealthTickWheelTests {
    @Test func wakeUpsRunAtTheirTickInOrderOnceAndNotWhenCancelled() {
        let loop = EmbeddedEventLoop()
        let wheel = HealthTickWheel.on(loop)
        let start = loop.now
        var ran: [String] = []
        _ = wheel.schedule(at: start + .milliseconds(40)) { ran.append("a40") }
        let cancelled = wheel.schedule(at: start + .milliseconds(40)) { ran.append("b40") }
        _ = wheel.schedule(at: start + .milliseconds(20)) { ran.append("c20") }
        let alone = wheel.schedule(at: start + .milliseconds(60)) { ran.append("d60") }
        wheel.cancel(cancelled, at: start + .milliseconds(40))
        wheel.cancel(alone, at: start + .milliseconds(60))
        #expect(wheel.pendingCount == 2)

        loop.advanceTime(by: .milliseconds(19))
        #expect(ran.isEmpty, "nothing before its tick")
        loop.advanceTime(by: .milliseconds(1))
        #expect(ran == ["c20"])
        loop.advanceTime(by: .milliseconds(20))
        #expect(ran == ["c20", "a40"])
        loop.advanceTime(by: .milliseconds(100))
        #expect(ran == ["c20", "a40"], "a cancelled wake-up never runs, a run one never again")
        #expect(wheel.pendingCount == 0)
    }

    @Test func aWakeUpThatSchedulesTheNextOneKeepsTicking() {
        let loop = EmbeddedEventLoop()
        let wheel = HealthTickWheel.on(loop)
        var count = 0
        func next() {
            count += 1
            // Due at once (its tick has passed), as a late wake-up's next can be: it
            // runs on the following turn, not in this one and not never.
            _ = wheel.schedule(at: count < 3 ? loop.now : loop.now + .milliseconds(20)) { next() }
        }
        _ = wheel.schedule(at: loop.now + .milliseconds(20)) { next() }
        loop.advanceTime(by: .milliseconds(20))
        #expect(count == 3)
        loop.advanceTime(by: .milliseconds(20))
        #expect(count == 4)
    }

    @Test func eachLoopHasOneWheel() {
        let first = EmbeddedEventLoop()
        let second = EmbeddedEventLoop()
        #expect(HealthTickWheel.on(first) === HealthTickWheel.on(first))
        #expect(HealthTickWheel.on(first) !== HealthTickWheel.on(second))
    }

    /// The detection bound: a wake-up lands on the first grid tick at or after its
    /// instant — never before it, less than one tick (20 ms) after it.
    @Test(arguments: [0, 1, 19_999_999, 20_000_000, 20_000_001, 7_654_321_987, 123_456_789_000_000])
    func aWakeUpMovesToTheNextTickAndNoFurther(nanoseconds: UInt64) {
        let tick = SignalingChannelHandler.onTickGrid(.uptimeNanoseconds(nanoseconds)).uptimeNanoseconds
        #expect(tick >= nanoseconds && tick - nanoseconds < UInt64(SignalingChannelHandler.healthTickGrid))
        #expect(tick % UInt64(SignalingChannelHandler.healthTickGrid) == 0)
    }
}
