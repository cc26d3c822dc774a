import PostgresNIO

extension PostgresStore {
    /// More clock segments than this (a clock that keeps stepping back) and a window
    /// becomes one id range spanning them, the exact time test doing the rest (as on
    /// SQLite).
    static let maxSegmentRanges = 32

    /// A time window as id ranges, one per clock segment that has events in it, which
    /// every `(column, id)` index can seek — the SQLite store's "time by id" (its
    /// migration 0002). Without it a filter walks `(type, id)` from the oldest row and
    /// tests `time_ms` on each: measured 80–240 ms at 1M events, against 2–4 ms. Callers
    /// keep the `time_ms` test, which makes the answer exact. Empty: nothing can match.
    func idRanges(since: Int64?, until: Int64?) async throws -> [Range<Int64>] {
        guard let row = try await pools.reader.query("SELECT MIN(id), MAX(id) FROM events", logger: logger).collect().first,
              case let (minID?, maxID?) = try row.decode((Int64?, Int64?).self)
        else { return [] }
        let starts = try await pools.reader.query(
            "SELECT first_id FROM clock_segments WHERE first_id > \(minID) AND first_id <= \(maxID) ORDER BY first_id", logger: logger
        ).decode(Int64.self)
        let edges = [minID] + starts + [maxID + 1]
        var ranges: [Range<Int64>] = []
        for (low, high) in zip(edges, edges.dropFirst()) {
            let first = try await since.asyncMap { try await firstID(atOrAfter: $0, from: low, below: high) } ?? low
            let end = try await until.asyncMap { try await firstID(atOrAfter: $0, from: low, below: high) } ?? high
            if first < end { ranges.append(first..<end) }
        }
        guard ranges.count > Self.maxSegmentRanges, let first = ranges.first, let last = ranges.last else { return ranges }
        return [first.lowerBound..<last.upperBound]
    }

    /// The smallest id in `[low, high)` whose time is at or after `timeMs`, else `high`.
    /// Within a segment time never goes backwards in id order, so the earliest such time
    /// (ties by id) is that id: one seek of `events_time (time_ms, id)`.
    private func firstID(atOrAfter timeMs: Int64, from low: Int64, below high: Int64) async throws -> Int64 {
        let row = try await pools.reader.query(
            """
            SELECT id FROM events WHERE time_ms >= \(timeMs) AND id >= \(low) AND id < \(high)
            ORDER BY time_ms, id LIMIT 1
            """, logger: logger
        ).collect().first
        return try row?.decode(Int64.self) ?? high
    }

    /// `(id >= a AND id < b) OR …` for `ranges`, bound into `sql`.
    static func rangeClause(_ ranges: [Range<Int64>], _ sql: inout SQL) -> String {
        "(" + ranges.map { "(id >= \(sql.bind($0.lowerBound)) AND id < \(sql.bind($0.upperBound)))" }.joined(separator: " OR ") + ")"
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
