import Synchronization

/// Until when this process may act as an agent (dial an SFU). In a fleet, the lease
/// keeper moves it forward with each accepted renewal (to the instant it would fence
/// at) and revokes it when it fences; an attempt checks it just before it dials. So a
/// process that wakes from a pause past its deadline dials nothing, whatever runs
/// first after the pause — the fence itself included.
public final class ActingPermit: Sendable {
    private let until = Mutex<ContinuousClock.Instant?>(nil)

    public init() {}

    public func extend(to instant: ContinuousClock.Instant) {
        until.withLock { $0 = max($0 ?? instant, instant) }
    }

    public func revoke() {
        until.withLock { $0 = nil }
    }

    public func allows(at now: ContinuousClock.Instant = .now) -> Bool {
        until.withLock { $0.map { now < $0 } ?? false }
    }
}
