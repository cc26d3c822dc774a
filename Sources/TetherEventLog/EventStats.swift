/// Aggregates over a time window, for `/v1/stats`.
public struct EventStats: Sendable, Equatable {
    public struct StrategyOutcome: Sendable, Equatable {
        public var strategy: String
        public var started: Int
        public var attemptsFailed: Int
        public var succeeded: Int

        public init(strategy: String, started: Int, attemptsFailed: Int, succeeded: Int) {
            self.strategy = strategy
            self.started = started
            self.attemptsFailed = attemptsFailed
            self.succeeded = succeeded
        }
    }

    /// The figures of one `group_by` value (one node, one call).
    public struct Group: Sendable, Equatable {
        public var key: String
        /// Joins (first joins and rejoins after a restart) in the window: a node with
        /// sessions but no trouble is listed too, with zeros.
        public var joins: Int
        public var losses: Int
        /// Reconnections started, recovered (`reconnected`) and given up.
        public var reconnects: Int
        public var recovered: Int
        public var reconnectsFailed: Int
        public var recoveryPercentilesMs: [Int: Int64]

        public init(
            key: String, joins: Int, losses: Int, reconnects: Int, recovered: Int, reconnectsFailed: Int, recoveryPercentilesMs: [Int: Int64]
        ) {
            self.key = key
            self.joins = joins
            self.losses = losses
            self.reconnects = reconnects
            self.recovered = recovered
            self.reconnectsFailed = reconnectsFailed
            self.recoveryPercentilesMs = recoveryPercentilesMs
        }
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
    /// How many recoveries took at most each of `histogramBoundsMs` (and more than the
    /// bound before), then the ones above the last bound: sums to `recoveryCount`.
    public var recoveryHistogram: [Int]
    /// Per node or per call when asked (`StatsQuery.groupBy`), most losses first.
    public var groups: [Group]

    public init(
        sinceMs: Int64, untilMs: Int64, lossesByReason: [String: Int], reconnectsByStrategy: [StrategyOutcome],
        reconnectsFailed: [String: Int], reconnectsDelayed: [String: Int], recoveryCount: Int, recoveryPercentilesMs: [Int: Int64],
        recoveryHistogram: [Int], groups: [Group]
    ) {
        self.sinceMs = sinceMs
        self.untilMs = untilMs
        self.lossesByReason = lossesByReason
        self.reconnectsByStrategy = reconnectsByStrategy
        self.reconnectsFailed = reconnectsFailed
        self.reconnectsDelayed = reconnectsDelayed
        self.recoveryCount = recoveryCount
        self.recoveryPercentilesMs = recoveryPercentilesMs
        self.recoveryHistogram = recoveryHistogram
        self.groups = groups
    }

    /// The recovery-time histogram's upper bounds (inclusive), roughly ×2.5 apart: a
    /// FAST resume lands in the first few, a deadline-long REJOIN in the last.
    public static let histogramBoundsMs: [Int64] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000]

    public static let percentiles = [50, 95, 99]

    /// Nearest-rank: the value at rank ⌈p/100 · count⌉ of the ascending durations.
    public static func rank(percentile p: Int, count: Int) -> Int {
        min(max(Int((Double(p) / 100 * Double(count)).rounded(.up)), 1), count)
    }
}
