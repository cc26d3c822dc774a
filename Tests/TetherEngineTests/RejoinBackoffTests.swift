import Testing
@testable import TetherEngine

@Suite(.timeLimit(.minutes(1))) struct RejoinBackoffTests {
    let backoff = RejoinBackoff(initial: .milliseconds(250), maximum: .seconds(2))

    @Test func ceilingDoublesUpToTheMaximum() {
        #expect(backoff.ceiling(forRetry: 1) == .milliseconds(250))
        #expect(backoff.ceiling(forRetry: 2) == .milliseconds(500))
        #expect(backoff.ceiling(forRetry: 4) == .seconds(2))
        #expect(backoff.ceiling(forRetry: 40) == .seconds(2))
    }

    @Test func fullJitterScalesTheCeiling() {
        #expect(backoff.delay(forRetry: 2, unitRandom: 0) == .zero)
        #expect(backoff.delay(forRetry: 2, unitRandom: 0.5) == .milliseconds(250))
        #expect(backoff.delay(forRetry: 3, unitRandom: 0.25) == .milliseconds(250))
    }
}
