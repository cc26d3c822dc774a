/// Decides when to send a health check and when the silence has lasted too long.
///
/// Time is an input: the connection calls ``tick(now:)`` at ``nextWakeUp`` and
/// reports answers with ``answerReceived(now:)``.
public struct HealthMonitor: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public enum Action: Sendable, Equatable {
        /// Send a health check now, then wake again at `nextWakeUp`.
        case sendHealthCheck
        /// Too long without an answer: the connection is lost.
        case timedOut
        /// Nothing to do before `nextWakeUp`.
        case wait
    }

    public let interval: Duration
    public let timeout: Duration
    public private(set) var lastAnswerAt: Instant
    public private(set) var nextCheckAt: Instant
    public private(set) var hasTimedOut = false

    /// Starts watching at `now` (the moment the join succeeded counts as an answer).
    public init(interval: Duration, timeout: Duration, now: Instant) {
        self.interval = interval
        self.timeout = timeout
        self.lastAnswerAt = now
        self.nextCheckAt = now + interval
    }

    /// When the connection should call ``tick(now:)`` next.
    public var nextWakeUp: Instant { min(nextCheckAt, lastAnswerAt + timeout) }

    public mutating func answerReceived(now: Instant) {
        if now > lastAnswerAt { lastAnswerAt = now }
    }

    public mutating func tick(now: Instant) -> Action {
        if hasTimedOut { return .wait }
        if now >= lastAnswerAt + timeout {
            hasTimedOut = true
            return .timedOut
        }
        if now >= nextCheckAt {
            // Skip missed slots rather than bursting checks after a stall.
            while nextCheckAt <= now { nextCheckAt += interval }
            return .sendHealthCheck
        }
        return .wait
    }
}
