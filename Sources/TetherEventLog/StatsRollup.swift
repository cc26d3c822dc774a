/// The rollup rows one batch of events adds to: per span (day, hour, minute), bucket
/// start and node, each counted type by its label and each recovery by its fine
/// bucket (``RecoveryBuckets``). Built in memory from the batch, then added to the
/// stored rows in the batch's own transaction.
public struct StatsRollup: Sendable {
    /// One stored row: `metric` is an event type, or ``recoveryMetric`` with the fine
    /// bucket's upper bound as its label (`overflow` above the last).
    public struct Key: Hashable, Sendable, Comparable {
        public var spanMs: Int64
        public var startMs: Int64
        public var node: String
        public var metric: String
        public var label: String

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.spanMs, lhs.startMs, lhs.node, lhs.metric, lhs.label) < (rhs.spanMs, rhs.startMs, rhs.node, rhs.metric, rhs.label)
        }
    }

    public static let recoveryMetric = "recovery_ms"
    public static let overflowLabel = "overflow"

    public private(set) var counts: [Key: Int] = [:]

    public init() {}

    public var isEmpty: Bool { counts.isEmpty }

    /// Counts `count` events of `type` at `timeMs` on `node` (nil: `unknown`), with the
    /// event's reason, strategy and duration columns. Types the stats do not count are ignored.
    public mutating func add(timeMs: Int64, node: String?, type: String, reason: String?, strategy: String?, durationMs: Int64?, count: Int = 1) {
        guard let label = StatsTally.label(type: type, reason: reason, strategy: strategy) else { return }
        let node = node ?? "unknown"
        let recoveryLabel = type == "reconnected" ? Self.label(ofBucket: RecoveryBuckets.index(of: durationMs)) : nil
        for span in RollupWindow.spansMs {
            let start = RollupWindow.floor(timeMs, span)
            counts[Key(spanMs: span, startMs: start, node: node, metric: type, label: label), default: 0] += count
            if let recoveryLabel {
                counts[Key(spanMs: span, startMs: start, node: node, metric: Self.recoveryMetric, label: recoveryLabel), default: 0] += count
            }
        }
    }

    /// The rows in one order for every writer (so concurrent writers lock them alike).
    public var sortedRows: [(key: Key, count: Int)] { counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    static func label(ofBucket index: Int) -> String {
        index < RecoveryBuckets.upperBounds.count ? String(RecoveryBuckets.upperBounds[index]) : overflowLabel
    }

    /// Adds a stored row's count to `tally` (grouped by node when `byNode`).
    public static func add(
        metric: String, label: String, node: String, count: Int, byNode: Bool, to tally: inout StatsTally
    ) {
        let group = byNode ? node : ""
        if metric == recoveryMetric {
            let bucket = label == overflowLabel ? RecoveryBuckets.overflow : RecoveryBuckets.index(ofUpperBound: Int64(label))
            tally.addRecoveries(group: group, bucket: bucket, count: count)
        } else {
            tally.add(group: group, type: metric, label: label, count: count)
        }
    }
}
