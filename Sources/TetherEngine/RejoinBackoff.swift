/// Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS, 2015):
/// the n-th retry waits a uniform random time in [0, min(maximum, initial · 2ⁿ⁻¹)].
public struct RejoinBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The upper bound of the delay before retry `retry` (1-based).
    public func ceiling(forRetry retry: Int) -> Duration {
        let exponent = max(0, min(retry - 1, 30))
        let grown = initial * (1 << exponent)
        return min(grown, maximum)
    }

    /// The delay before retry `retry`, with `unitRandom` in [0, 1) supplied by the caller
    /// so that tests can fix it.
    public func delay(forRetry retry: Int, unitRandom: Double) -> Duration {
        let fraction = min(max(unitRandom, 0), 1)
        return ceiling(forRetry: retry) * fraction
    }
}
