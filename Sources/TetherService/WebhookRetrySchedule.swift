/// When a failed webhook delivery is tried again: exponential backoff with jitter,
/// given up once the retry window since the event has passed. Pure.
struct WebhookRetrySchedule: Sendable {
    var initial: Duration = .seconds(1)
    var maximum: Duration = .seconds(3600)
    /// How long after its event a delivery is still tried (24 h by default).
    var window: Duration

    enum Decision: Equatable {
        case retry(atMs: Int64)
        case giveUp
    }

    /// After the `attempts`-th failed try at `nowMs` of a delivery created at
    /// `createdAtMs`; `unitRandom` in [0, 1) draws the jitter (half to all of the step).
    func after(attempts: Int, createdAtMs: Int64, nowMs: Int64, unitRandom: Double) -> Decision {
        let exponent = min(max(attempts - 1, 0), 30)
        let step = min(initial * (1 << exponent), maximum)
        let delay = step * (0.5 + 0.5 * unitRandom)
        let at = nowMs + delay.wholeMilliseconds
        guard at - createdAtMs <= window.wholeMilliseconds else { return .giveUp }
        return .retry(atMs: at)
    }
}
