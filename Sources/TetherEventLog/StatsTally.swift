/// Counts of a stats window that can be added together: from raw events at the edges
/// of a window and from rollups in its middle. Both stores fill one and finish it
/// here, so they answer alike.
public struct StatsTally: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        /// The `group_by` value ("" without grouping).
        public var group: String
        public var type: String
        /// The reason or strategy the type is counted by ("" for `joined`).
        public var label: String

        public init(group: String, type: String, label: String) {
            self.group = group
            self.type = type
            self.label = label
        }
    }

    public private(set) var counts: [Key: Int] = [:]
    /// Per group: recoveries per ``RecoveryBuckets`` bucket.
    public private(set) var recoveries: [String: [Int: Int]] = [:]

    public init() {}

    /// The event types the stats count, with the column each is counted by.
    public static let countedTypes: [(type: String, labelColumn: String?)] = [
        ("joined", nil), ("connection_lost", "reason"), ("reconnect_started", "strategy"), ("reconnect_attempt_failed", "strategy"),
        ("reconnected", "strategy"), ("reconnect_failed", "reason"), ("reconnect_delayed", "reason"),
    ]

    /// The label an event is counted under: its reason or strategy column, `unknown`
    /// when that is missing, "" for a type counted by nothing.
    /// Called for every event a batch writes: a lookup, not a walk of ``countedTypes``.
    public static func label(type: String, reason: String?, strategy: String?) -> String? {
        switch labelColumnByType[type] {
        case nil: return nil
        case "reason": return reason ?? "unknown"
        case "strategy": return strategy ?? "unknown"
        default: return ""
        }
    }

    private static let labelColumnByType = Dictionary(uniqueKeysWithValues: countedTypes.map { ($0.type, $0.labelColumn) })

    /// The types a group's figures count: a group is listed when it has one of them.
    static let groupTypes: Set<String> = ["joined", "connection_lost", "reconnect_started", "reconnected", "reconnect_failed"]

    public mutating func add(group: String, type: String, label: String, count: Int) {
        guard count != 0 else { return }
        counts[Key(group: group, type: type, label: label), default: 0] += count
    }

    public mutating func addRecoveries(group: String, bucket: Int, count: Int) {
        guard count != 0 else { return }
        recoveries[group, default: [:]][bucket, default: 0] += count
    }

    public mutating func merge(_ other: StatsTally) {
        for (key, count) in other.counts { counts[key, default: 0] += count }
        for (group, buckets) in other.recoveries {
            for (bucket, count) in buckets { recoveries[group, default: [:]][bucket, default: 0] += count }
        }
    }

    /// Nearest-rank percentiles from bucket counts: the bucket holding rank ⌈p/100 · n⌉,
    /// reported as its middle (``RecoveryBuckets/relativeError``).
    static func percentiles(_ buckets: [Int: Int]) -> [Int: Int64] {
        let total = buckets.values.reduce(0, +)
        guard total > 0 else { return [:] }
        let ascending = buckets.sorted { $0.key < $1.key }
        var result: [Int: Int64] = [:]
        for p in EventStats.percentiles {
            let rank = EventStats.rank(percentile: p, count: total)
            var seen = 0
            for (bucket, count) in ascending {
                seen += count
                if seen >= rank {
                    result[p] = RecoveryBuckets.representative(of: bucket)
                    break
                }
            }
        }
        return result
    }

    /// The answer for `query` (its groups when it asks for them).
    public func stats(for query: StatsQuery) -> EventStats {
        var byType: [String: [String: Int]] = [:]
        var byGroup: [String: [String: Int]] = [:]
        for (key, count) in counts {
            byType[key.type, default: [:]][key.label, default: 0] += count
            if Self.groupTypes.contains(key.type) { byGroup[key.group, default: [:]][key.type, default: 0] += count }
        }
        var allRecoveries: [Int: Int] = [:]
        for buckets in recoveries.values {
            for (bucket, count) in buckets { allRecoveries[bucket, default: 0] += count }
        }
        var histogram = Array(repeating: 0, count: EventStats.histogramBoundsMs.count + 1)
        for (bucket, count) in allRecoveries { histogram[RecoveryBuckets.coarseIndex(of: bucket)] += count }

        let started = byType["reconnect_started"] ?? [:]
        let failed = byType["reconnect_attempt_failed"] ?? [:]
        let succeeded = byType["reconnected"] ?? [:]
        let strategies = Set(started.keys).union(failed.keys).union(succeeded.keys)
        let order = ["fast", "rejoin", "migrate", "disconnect"]
        let outcomes = strategies.sorted { (order.firstIndex(of: $0) ?? 9, $0) < (order.firstIndex(of: $1) ?? 9, $1) }.map {
            EventStats.StrategyOutcome(strategy: $0, started: started[$0] ?? 0, attemptsFailed: failed[$0] ?? 0, succeeded: succeeded[$0] ?? 0)
        }
        let groups =
            query.groupBy == nil
            ? []
            : EventStats.Group.ranked(counts: byGroup, percentiles: recoveries.mapValues(Self.percentiles))
        return EventStats(
            sinceMs: query.sinceMs, untilMs: query.untilMs,
            lossesByReason: byType["connection_lost"] ?? [:],
            reconnectsByStrategy: outcomes,
            reconnectsFailed: byType["reconnect_failed"] ?? [:],
            reconnectsDelayed: byType["reconnect_delayed"] ?? [:],
            recoveryCount: histogram.reduce(0, +),
            recoveryPercentilesMs: Self.percentiles(allRecoveries),
            recoveryHistogram: histogram,
            groups: groups)
    }
}
