/// How many of an SFU's recorded notices (`error`, `go_away`) one connection passes on
/// per window: a hostile or broken SFU that sends thousands a second must not fill the
/// history, the disk or the webhook outbox.
///
/// A pure machine: time is an input. The first `limit` notices of a window pass; the
/// rest are counted, and when the window closes the count is reported once
/// (`sfu_errors_suppressed{count}`). A notice that ends the session (an `error` asking
/// for DISCONNECT) always passes: suppressing it would change what the session does.
public struct NoticeBudget: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public enum Verdict: Sendable, Equatable {
        case pass
        /// Counted, not passed on. `closeWindowAt` is set for the first suppression of a
        /// window: when to call ``windowClosed(now:)`` to report the count.
        case suppress(closeWindowAt: Instant?)
    }

    public let limit: Int
    public let window: Duration
    private var windowStart: Instant?
    private var passed = 0
    public private(set) var suppressed = 0

    public init(limit: Int = 10, window: Duration = .seconds(1)) {
        precondition(limit > 0 && window > .zero)
        self.limit = limit
        self.window = window
    }

    public mutating func admit(now: Instant) -> Verdict {
        if let start = windowStart, now - start < window {
            if passed < limit {
                passed += 1
                return .pass
            }
            suppressed += 1
            return .suppress(closeWindowAt: suppressed == 1 ? start + window : nil)
        }
        // A new window. Suppressions of the old one are reported by its timer, which
        // always fires before a notice of the next window can arrive here... unless
        // the timer is late: they are then carried into this window's report.
        windowStart = now
        passed = 1
        return .pass
    }

    /// The window that suppressed notices is over: how many to report (0: nothing).
    public mutating func windowClosed(now: Instant) -> Int {
        let count = suppressed
        suppressed = 0
        if let start = windowStart, now - start >= window {
            windowStart = nil
            passed = 0
        }
        return count
    }
}
