/// When this instance may act as an agent, judged on its own monotonic clock: a pure
/// machine, time is an input.
///
/// The database judges the lease on its clock (`expires_at = now() + ttl`, set when the
/// renewal *ran*); this side counts from when the renewal was *sent*, which is never
/// later. So an instance that stops acting at `sent + ttl − margin` has stopped at
/// least `margin` before any peer may see its lease expire — and peers wait a grace on
/// top. Nothing here depends on the two clocks agreeing on the time of day.
public struct FleetLease: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public enum Phase: String, Sendable {
        /// Not registered yet (start-up): acts as no agent.
        case joining
        case serving
        /// Shutting down: hands its sessions over, claims nothing.
        case draining
        /// Stopped acting: its lease may be gone. Registers again under a new incarnation.
        case fenced
    }

    public enum Action: Sendable, Equatable {
        /// Stop being an agent now: leave and close every SFU connection, write nothing more.
        case fence(reason: String)
    }

    public let ttl: Duration
    public let margin: Duration
    public private(set) var phase: Phase = .joining
    /// When the newest renewal (or registration) the database accepted was sent.
    public private(set) var lastAcceptedSend: Instant?

    public init(ttl: Duration, margin: Duration) {
        self.ttl = ttl
        self.margin = margin
    }

    /// How often the lease is renewed: five tries per lease.
    public var renewalPeriod: Duration { ttl / 5 }

    /// The longest the database may be unreachable without this instance fencing:
    /// `ttl − margin − one renewal period` (the last renewal may have been sent up to a
    /// period before the outage began). 7 s at the defaults.
    public var outageTolerance: Duration { ttl - margin - renewalPeriod }

    /// Past this instant this instance must not act as an agent.
    public var fenceDeadline: Instant? {
        guard phase == .serving || phase == .draining, let lastAcceptedSend else { return nil }
        return lastAcceptedSend + ttl - margin
    }

    /// The registration sent at `sentAt` was accepted: serving.
    public mutating func registered(sentAt: Instant) {
        phase = .serving
        lastAcceptedSend = sentAt
    }

    /// A renewal sent at `sentAt` was accepted. One that lands after the deadline
    /// changes nothing once fenced: fencing is never undone by a late answer, only by a
    /// new registration.
    public mutating func renewed(sentAt: Instant) {
        guard phase == .serving || phase == .draining else { return }
        lastAcceptedSend = max(lastAcceptedSend ?? sentAt, sentAt)
    }

    /// The database refused a renewal: the lease is not ours any more.
    public mutating func renewalRefused() -> [Action] {
        fence(reason: "the lease was lost (a peer declared this instance dead, or another took its id)")
    }

    /// Checks the deadline.
    public mutating func tick(now: Instant) -> [Action] {
        guard let deadline = fenceDeadline, now >= deadline, let lastAcceptedSend else { return [] }
        return fence(reason: "no lease renewal accepted for \(now - lastAcceptedSend) (lease \(ttl), margin \(margin))")
    }

    public mutating func draining() {
        if phase == .serving { phase = .draining }
    }

    private mutating func fence(reason: String) -> [Action] {
        guard phase == .serving || phase == .draining else { return [] }
        phase = .fenced
        return [.fence(reason: reason)]
    }
}
