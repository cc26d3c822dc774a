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
    /// Recovery times (`reconnected.duration_ms`), sorted ascending.
    public var recoveryTimesMs: [Int64]

    /// Nearest-rank percentile of the recovery times, nil when there are none.
    public func recoveryPercentile(_ p: Double) -> Int64? {
        guard !recoveryTimesMs.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(recoveryTimesMs.count)).rounded(.up))
        return recoveryTimesMs[min(max(rank, 1), recoveryTimesMs.count) - 1]
    }
}
