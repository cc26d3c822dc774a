/// When the next reconnect attempt may start, service-wide: at most `perSecond` starts
/// in any second, spread with jitter inside each slot so that an SFU restart that drops
/// every session at once does not become a stampede.
///
/// Pure: time and randomness are inputs.
public struct AdmissionSchedule: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public let perSecond: Int
    /// The width of one slot. One slot less than `perSecond` per second, so that even
    /// jittered starts at both ends of a window never exceed the cap within it.
    public let slot: Duration
    public private(set) var nextSlot: Instant?

    public init(perSecond: Int) {
        precondition(perSecond >= 1)
        self.perSecond = perSecond
        slot = perSecond > 1 ? .seconds(1) / (perSecond - 1) : .seconds(1)
    }

    /// Reserves the next free slot at or after `now`; returns the start time inside it.
    public mutating func reserve(now: Instant, unitRandom: Double) -> Instant {
        let start = max(now, nextSlot ?? now)
        nextSlot = start + slot
        return start + slot * min(max(unitRandom, 0), 0.999)
    }
}
