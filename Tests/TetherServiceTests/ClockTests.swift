import Foundation
import Testing
import TetherEvents
@testable import TetherEventLog

/// Issue 9: event times you can trust across clock jumps, with an injected clock.
@Suite(.timeLimit(.minutes(1))) struct ClockTests {
    func ms(_ value: Int64) -> Duration { .milliseconds(value) }

    /// A write of one event stamped `time`, as the writer's queue holds it.
    func event(_ time: Int64) -> EventLog.Write {
        let event = SessionEvent(sessionID: "s", timeMs: time, generation: 1, kind: .left(reason: "\(time)"))
        return .event(event, payload: String(decoding: try! JSONEncoder().encode(event), as: UTF8.self))
    }

    @Test func aTinyInversionIsClampedSoTimeFollowsIds() {
        var clock = ClockGuard(lastStoredTimeMs: nil)
        #expect(clock.stamp(10_000, monotonicNow: ms(0)) == (10_000, nil))
        #expect(clock.stamp(9_400, monotonicNow: ms(5)) == (10_000, nil))
        #expect(clock.stamp(10_020, monotonicNow: ms(20)) == (10_020, nil))
    }

    @Test func aBackwardJumpIsStoredAsItHappenedAndReported() {
        var clock = ClockGuard(lastStoredTimeMs: nil)
        _ = clock.stamp(100_000, monotonicNow: ms(0))
        let (stored, jump) = clock.stamp(40_000, monotonicNow: ms(10))
        #expect(stored == 40_000, "not pinned to the earlier, later time")
        #expect(jump == .backward(fromMs: 100_000, toMs: 40_000))
        #expect(clock.stamp(40_050, monotonicNow: ms(60)) == (40_050, nil), "time goes on from the new value")
    }

    @Test func aForwardJumpIsReportedAgainstTheMonotonicClock() {
        var clock = ClockGuard(lastStoredTimeMs: nil)
        _ = clock.stamp(100_000, monotonicNow: ms(0))
        #expect(clock.stamp(101_000, monotonicNow: ms(1_000)) == (101_000, nil), "time passing is no jump")
        let (stored, jump) = clock.stamp(3_700_000, monotonicNow: ms(1_100))
        #expect(stored == 3_700_000)
        #expect(jump == .forward(fromMs: 101_100, toMs: 3_700_000))
        // Back to the right time an hour "earlier": a backward jump, stored as it is.
        #expect(clock.stamp(101_200, monotonicNow: ms(1_200)).jump == .backward(fromMs: 3_700_000, toMs: 101_200))
    }

    @Test func anEventThatWaitedInTheQueueIsNoJump() {
        var clock = ClockGuard(lastStoredTimeMs: nil)
        _ = clock.stamp(100_000, monotonicNow: ms(0))
        // Stamped at 100,500 but written 30 s later (a failing disk held the queue).
        #expect(clock.stamp(100_500, monotonicNow: ms(30_000)) == (100_500, nil))
    }

    @Test func aRestartAfterAForwardGlitchDoesNotPinTime() {
        // The previous process stored an event from a clock an hour ahead.
        var clock = ClockGuard(lastStoredTimeMs: 3_700_000)
        let (stored, jump) = clock.stamp(100_000, monotonicNow: ms(0))
        #expect(stored == 100_000)
        #expect(jump == .backward(fromMs: 3_700_000, toMs: 100_000))
        // And a restart after plain downtime is no forward jump.
        var later = ClockGuard(lastStoredTimeMs: 100_000)
        #expect(later.stamp(90_000_000, monotonicNow: ms(0)) == (90_000_000, nil))
    }

    @Test(arguments: StoreKind.allCases) func timeFiltersAndRetentionWorkOnRealTimeAcrossABackwardJump(kind: StoreKind) async throws {
        try await kind.withStore { store in
        // 1000, 2000, then the clock steps back to 500, then on to 600 and 2500 (one
        // batch, so one monotonic reading: 2500 is still within the forward tolerance).
        let (stored, _) = try await store.write(
            [event(1_000), event(2_000), event(500), event(600), event(2_500)][...],
            clock: ClockGuard(lastStoredTimeMs: nil), monotonicNow: .zero)
        #expect(stored.map(\.type) == ["left", "left", "clock_jump", "left", "left", "left"])
        #expect(stored.map(\.timeMs) == [1_000, 2_000, 500, 500, 600, 2_500])

        let window = try await store.events(EventQuery(sinceMs: 550, untilMs: 2_500, limit: 100))
        #expect(window.map(\.timeMs) == [1_000, 2_000, 600], "every event in [550, 2500), on both sides of the jump")
        let stats = try await store.stats(sinceMs: 0, untilMs: 10_000)
        #expect(stats.sinceMs == 0)

        let removed = try await store.prune(eventsBefore: 700, batch: 1)
        #expect(removed == 3, "the marker, 500 and 600 are past retention; 1000 is not")
        #expect(try await store.events(EventQuery(limit: 100)).map(\.timeMs) == [1_000, 2_000, 2_500])
        }
    }

    @Test(arguments: StoreKind.allCases) func aClockThatKeepsSteppingBackKeepsQueriesExact(kind: StoreKind) async throws {
        try await kind.withStore { store in
        // More backward jumps than one statement should name as ranges.
        let steps = EventStore.maxSegmentRanges + 20
        var batch: [EventLog.Write] = []
        for step in 0..<steps { batch += [event(50_000 + Int64(step) * 10), event(40_000)] }
        _ = try await store.write(batch[...], clock: ClockGuard(lastStoredTimeMs: nil), monotonicNow: .zero)
        let exact = try await store.events(EventQuery(types: ["left"], sinceMs: 40_000, untilMs: 40_001, limit: 1000))
        #expect(exact.count == steps, "every event at 40,000 and nothing else")
        let stats = try await store.stats(sinceMs: 40_000, untilMs: 40_001)
        #expect(stats.recoveryCount == 0)
        #expect(try await store.prune(eventsBefore: 45_000) == 2 * steps, "the 40,000s and the clock_jump markers stamped 40,000")
        }
    }
}
