/// Aggregates over a time window, for `/v1/stats`.
public struct EventStats: Sendable, Equatable {
    public struct StrategyOutcome: Sendable, Equatable {
        public var strategy: String
        public var started: Int
        public var attemptsFailed: Int
        public var succeeded: Int
    }

    public var sinceMs: Int64
    public var untilMs: Int64
    public var lossesByReason: [String: Int]
    public var reconnectsByStrategy: [StrategyOutcome]
    public var reconnectsFailed: [String: Int]
    /// Reconnections held back before their first attempt, by reason (`flapping`).
    public var reconnectsDelayed: [String: Int]
    /// How many recoveries (`reconnected` events) the window holds.
    public var recoveryCount: Int
    /// Nearest-rank percentiles of their `duration_ms`, keyed by percentile (50, 95,
    /// 99); empty when there are none. Computed in SQL, one row each, so a window of
    /// millions of recoveries is never loaded.
    public var recoveryPercentilesMs: [Int: Int64]

    /// Nearest-rank: the value at rank ⌈p/100 · count⌉ of the ascending durations.
    public static func rank(percentile p: Int, count: Int) -> Int {
        min(max(Int((Double(p) / 100 * Double(count)).rounded(.up)), 1), count)
    }
}
