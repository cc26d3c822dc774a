extension EventStats.Group {
    /// The groups of a `group_by` answer from per-key counts by event type and per-key
    /// recovery percentiles: the most losses first, at most ``StatsQuery/maxGroups``.
    /// Both stores count in SQL and finish here, so they rank and cut alike.
    public static func ranked(counts: [String: [String: Int]], percentiles: [String: [Int: Int64]]) -> [EventStats.Group] {
        counts.map { key, byType in
            EventStats.Group(
                key: key, joins: byType["joined"] ?? 0, losses: byType["connection_lost"] ?? 0, reconnects: byType["reconnect_started"] ?? 0,
                recovered: byType["reconnected"] ?? 0, reconnectsFailed: byType["reconnect_failed"] ?? 0,
                recoveryPercentilesMs: percentiles[key] ?? [:])
        }
        .sorted { ($1.losses, $0.key) < ($0.losses, $1.key) }
        .prefix(StatsQuery.maxGroups)
        .map { $0 }
    }
}
