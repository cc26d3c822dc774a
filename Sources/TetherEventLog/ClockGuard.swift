/// Decides the time stored with each event and notices wall-clock jumps. Pure: the
/// writer passes each event's wall time and a monotonic reading.
///
/// Appends from many sessions reach the writer a hair out of order, so a tiny
/// inversion (at most `tolerance`) is clamped to keep time order and id order in
/// step. Anything larger is a clock jump (an NTP step, a VM that booted before NTP):
/// the time is stored as it happened, never pinned to a glitch, and the jump is
/// reported so the writer records it and, for a backward jump, starts a new clock
/// segment (within a segment, time never goes backwards in id order).
public struct ClockGuard: Sendable, Equatable {
    public enum Jump: Sendable, Equatable {
        case backward(fromMs: Int64, toMs: Int64)
        case forward(fromMs: Int64, toMs: Int64)
    }

    public let toleranceMs: Int64
    /// The newest stored time and the monotonic reading when it was stored (nil for a
    /// time read back from the database: the process was not running in between, so
    /// a forward jump across a restart cannot be told from time passing).
    private var last: (timeMs: Int64, monotonic: Duration?)?

    public init(toleranceMs: Int64 = 1000, lastStoredTimeMs: Int64?) {
        self.toleranceMs = toleranceMs
        self.last = lastStoredTimeMs.map { ($0, nil) }
    }

    /// The time to store for an event stamped `timeMs`, and the jump it reveals, if any.
    public mutating func stamp(_ timeMs: Int64, monotonicNow: Duration) -> (storedMs: Int64, jump: Jump?) {
        guard let previous = last else {
            last = (timeMs, monotonicNow)
            return (timeMs, nil)
        }
        var stored = timeMs
        var jump: Jump?
        if timeMs < previous.timeMs {
            if previous.timeMs - timeMs <= toleranceMs {
                stored = previous.timeMs
            } else {
                jump = .backward(fromMs: previous.timeMs, toMs: timeMs)
            }
        } else if let previousMonotonic = previous.monotonic {
            // Ahead of where the monotonic clock says wall time should be by now. (An
            // event that waited in the queue is behind, never ahead, so queueing delay
            // cannot look like a jump.)
            let elapsed = monotonicNow - previousMonotonic
            let elapsedMs = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
            let expected = previous.timeMs + max(0, elapsedMs)
            if timeMs - expected > 2 * toleranceMs {
                jump = .forward(fromMs: expected, toMs: timeMs)
            }
        }
        last = (stored, monotonicNow)
        return (stored, jump)
    }

    public static func == (lhs: ClockGuard, rhs: ClockGuard) -> Bool {
        lhs.toleranceMs == rhs.toleranceMs && lhs.last?.timeMs == rhs.last?.timeMs && lhs.last?.monotonic == rhs.last?.monotonic
    }
}
