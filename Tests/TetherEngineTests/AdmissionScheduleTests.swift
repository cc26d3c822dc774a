import Testing
@testable import TetherEngine

@Suite(.timeLimit(.minutes(1))) struct AdmissionScheduleTests {
    let t0 = ContinuousClock.now

    @Test func startsAreSpreadOneSlotApartWithJitterInside() {
        var schedule = AdmissionSchedule(perSecond: 11)
        #expect(schedule.slot == .milliseconds(100))
        let first = schedule.reserve(now: t0, unitRandom: 0.5)
        let second = schedule.reserve(now: t0, unitRandom: 0)
        let third = schedule.reserve(now: t0, unitRandom: 0.999)
        #expect(first == t0 + .milliseconds(50))
        #expect(second == t0 + .milliseconds(100))
        #expect(third > t0 + .milliseconds(299) && third < t0 + .milliseconds(300))
    }

    @Test func aQuietPeriodDoesNotBankSlots() {
        var schedule = AdmissionSchedule(perSecond: 11)
        _ = schedule.reserve(now: t0, unitRandom: 0)
        let later = schedule.reserve(now: t0 + .seconds(5), unitRandom: 0)
        #expect(later == t0 + .seconds(5))
    }

    @Test(arguments: [2, 10, 100, 1000])
    func noOneSecondWindowExceedsTheCap(perSecond: Int) {
        var schedule = AdmissionSchedule(perSecond: perSecond)
        var starts: [ContinuousClock.Instant] = []
        for index in 0..<(perSecond * 3) {
            starts.append(schedule.reserve(now: t0, unitRandom: index % 2 == 0 ? 0 : 0.999))
        }
        for (index, start) in starts.enumerated() {
            let window = starts[index...].prefix { $0 < start + .seconds(1) }
            #expect(window.count <= perSecond)
        }
    }
}
