import Testing
@testable import TetherEngine

@Suite(.timeLimit(.minutes(1))) struct NoticeBudgetTests {
    let t0 = ContinuousClock.now
    func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }

    @Test func theFirstTenOfAWindowPassAndTheRestAreCountedOnce() {
        var budget = NoticeBudget(limit: 10, window: .seconds(1))
        for index in 0..<10 { #expect(budget.admit(now: at(index)) == .pass) }
        #expect(budget.admit(now: at(10)) == .suppress(closeWindowAt: at(1000)), "the first suppression asks for the window's end")
        for index in 11..<500 { #expect(budget.admit(now: at(index)) == .suppress(closeWindowAt: nil)) }
        #expect(budget.windowClosed(now: at(1000)) == 490)
        #expect(budget.windowClosed(now: at(1001)) == 0, "reported once")
    }

    @Test func aNewWindowPassesAgain() {
        var budget = NoticeBudget(limit: 2, window: .seconds(1))
        #expect(budget.admit(now: at(0)) == .pass)
        #expect(budget.admit(now: at(1)) == .pass)
        #expect(budget.admit(now: at(2)) == .suppress(closeWindowAt: at(1000)))
        #expect(budget.windowClosed(now: at(1000)) == 1)
        #expect(budget.admit(now: at(1500)) == .pass)
        #expect(budget.admit(now: at(1501)) == .pass)
        #expect(budget.admit(now: at(1502)) == .suppress(closeWindowAt: at(2500)))
    }

    @Test func aLateTimerLosesNoCount() {
        var budget = NoticeBudget(limit: 1, window: .seconds(1))
        #expect(budget.admit(now: at(0)) == .pass)
        #expect(budget.admit(now: at(1)) == .suppress(closeWindowAt: at(1000)))
        // The next window starts before the timer of the first one ran.
        #expect(budget.admit(now: at(1200)) == .pass)
        #expect(budget.admit(now: at(1201)) == .suppress(closeWindowAt: nil))
        #expect(budget.windowClosed(now: at(1300)) == 2, "both windows' suppressions, in the late report")
        #expect(budget.admit(now: at(1400)) == .suppress(closeWindowAt: at(2200)), "the current window goes on")
    }
}
