/// The rollup rows one batch of events adds to: per span (day, hour, minute), bucket
/// start and node, a ``RollupCell``. Built in memory from the batch, then merged into
/// the stored rows in the batch's own transaction.
public struct StatsRollup: Sendable {
    public struct Key: Hashable, Sendable, Comparable {
        public var spanMs: Int64
        public var startMs: Int64
        public var node: String

        public init(spanMs: Int64, startMs: Int64, node: String) {
            self.spanMs = spanMs
            self.startMs = startMs
            self.node = node
        }

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.spanMs, lhs.startMs, lhs.node) < (rhs.spanMs, rhs.startMs, rhs.node)
        }
    }

    public private(set) var cells: [Key: RollupCell] = [:]

    public init() {}

    public var isEmpty: Bool { cells.isEmpty }

    /// Counts `count` events of `type` at `timeMs` on `node` (nil: `unknown`), with the
    /// event's reason, strategy and duration columns. Types the stats do not count are ignored.
    public mutating func add(timeMs: Int64, node: String?, type: String, reason: String?, strategy: String?, durationMs: Int64?, count: Int = 1) {
        guard let label = StatsTally.label(type: type, reason: reason, strategy: strategy) else { return }
        let node = node ?? "unknown"
        let bucket = type == "reconnected" ? RecoveryBuckets.index(of: durationMs) : nil
        for span in RollupWindow.spansMs {
            let key = Key(spanMs: span, startMs: RollupWindow.floor(timeMs, span), node: node)
            cells[key, default: RollupCell()].add(type: type, label: label, count: count)
            if let bucket { cells[key, default: RollupCell()].addRecovery(bucket: bucket, count: count) }
        }
    }

    /// The cells' keys in one order for every writer (so concurrent writers lock rows alike).
    public var sortedKeys: [Key] { cells.keys.sorted() }
}
