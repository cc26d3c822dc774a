import TetherEvents

/// Damping across recoveries: a loss soon after the last recovery is a flap, and the
/// next reconnection waits a growing backoff; too many recoveries in a window end the
/// session instead of flapping forever.
extension Reconnector {
    enum Damping: Equatable {
        case none
        case wait(Duration)
        case flapping
    }

    /// How a reconnection started by `trigger` now is damped. An operator's request is
    /// not a loss, and a restart starts afresh: neither is damped.
    mutating func damping(trigger: ReconnectTrigger, now: Instant) -> Damping {
        guard trigger != .operatorRequest, trigger != .restart else { return .none }
        let window = policy.flapWindow
        recentRecoveries.removeAll { now - $0 > window }
        if recentRecoveries.count >= policy.flapLimit { return .flapping }
        if let last = lastRecoveredAt, now - last < policy.stableAfter {
            flaps += 1
            return .wait(RejoinBackoff(initial: policy.backoffInitial, maximum: policy.backoffMaximum).ceiling(forRetry: flaps))
        }
        flaps = 0
        return .none
    }
}
