import Testing
@testable import TetherEngine
import TetherEvents

@Suite(.timeLimit(.minutes(1))) struct LossLatchTests {
    func established() -> LossLatch {
        var latch = LossLatch()
        latch.handshakeSucceeded()
        return latch
    }

    @Test func unexpectedCloseEmitsLossWithCode() {
        var latch = established()
        #expect(latch.observe(.closed(code: 1011, detail: "bye")) == .emitLoss(.unexpectedClose, closeCode: 1011, detail: "bye"))
    }

    @Test func errorThenCloseEmitsOneLoss() {
        var latch = established()
        #expect(latch.observe(.error("boom")) == .emitLoss(.error, closeCode: nil, detail: "boom"))
        #expect(latch.observe(.closed(code: 1006, detail: nil)) == .ignore)
        #expect(latch.observe(.healthCheckTimedOut) == .ignore)
    }

    @Test func healthCheckTimeoutThenOurCloseEmitsOnce() {
        var latch = established()
        #expect(latch.observe(.healthCheckTimedOut) == .emitLoss(.healthCheckTimeout, closeCode: nil, detail: nil))
        #expect(latch.observe(.closed(code: 1006, detail: nil)) == .ignore)
    }

    @Test func userRequestedCloseNeverEmits() {
        var latch = established()
        latch.userRequestedClose()
        #expect(latch.observe(.closed(code: 1000, detail: nil)) == .ignore)
        #expect(latch.observe(.error("late")) == .ignore)
        #expect(latch.observe(.healthCheckTimedOut) == .ignore)
    }

    @Test func failuresBeforeTheJoinFailTheJoinInstead() {
        var latch = LossLatch()
        guard case .failHandshake = latch.observe(.error("reset")) else {
            Issue.record("an error before the join must fail the join")
            return
        }
        #expect(latch.observe(.closed(code: 1006, detail: nil)) == .ignore)
    }

    @Test func aNewGenerationStartsWithAFreshLatch() {
        var first = established()
        #expect(first.observe(.error("x")) == .emitLoss(.error, closeCode: nil, detail: "x"))
        // The same close: swallowed by the generation that already reported its loss…
        #expect(first.observe(.closed(code: 1006, detail: nil)) == .ignore)
        // …and reported by a new generation's own latch.
        var second = established()
        #expect(second.observe(.closed(code: 1006, detail: nil)) == .emitLoss(.unexpectedClose, closeCode: 1006, detail: nil))
    }
}
