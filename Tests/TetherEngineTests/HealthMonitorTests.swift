import Testing
@testable import TetherEngine

@Suite(.timeLimit(.minutes(1))) struct HealthMonitorTests {
    let t0 = ContinuousClock.now

    @Test func sendsAHealthCheckEveryInterval() {
        var monitor = HealthMonitor(interval: .seconds(5), timeout: .seconds(15), now: t0)
        #expect(monitor.nextWakeUp == t0 + .seconds(5))
        #expect(monitor.tick(now: t0 + .seconds(4)) == .wait)
        #expect(monitor.tick(now: t0 + .seconds(5)) == .sendHealthCheck)
        #expect(monitor.nextWakeUp == t0 + .seconds(10))
    }

    @Test func declaresATimeoutAfterTheTimeoutWithoutAnswers() {
        var monitor = HealthMonitor(interval: .seconds(5), timeout: .seconds(15), now: t0)
        #expect(monitor.tick(now: t0 + .seconds(5)) == .sendHealthCheck)
        #expect(monitor.tick(now: t0 + .seconds(10)) == .sendHealthCheck)
        #expect(monitor.nextWakeUp == t0 + .seconds(15))
        #expect(monitor.tick(now: t0 + .seconds(15)) == .timedOut)
        #expect(monitor.tick(now: t0 + .seconds(20)) == .wait, "a timeout is declared once")
    }

    @Test func anAnswerPostponesTheTimeout() {
        var monitor = HealthMonitor(interval: .seconds(5), timeout: .seconds(15), now: t0)
        _ = monitor.tick(now: t0 + .seconds(5))
        monitor.answerReceived(now: t0 + .seconds(6))
        #expect(monitor.tick(now: t0 + .seconds(15)) == .sendHealthCheck)
        #expect(monitor.tick(now: t0 + .seconds(21)) == .timedOut)
    }

    @Test func aStalledLoopSendsOneCheckNotABurst() {
        var monitor = HealthMonitor(interval: .seconds(1), timeout: .seconds(60), now: t0)
        #expect(monitor.tick(now: t0 + .milliseconds(4500)) == .sendHealthCheck)
        #expect(monitor.nextCheckAt == t0 + .seconds(5))
        #expect(monitor.tick(now: t0 + .milliseconds(4600)) == .wait)
    }
}
