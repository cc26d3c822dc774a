import PostgresNIO

extension PostgresStore {
    /// Deletes events older than `cutoffMs`, at most `batch` per transaction, so a large
    /// backlog never holds the writer's locks for long; returns how many.
    public func prune(eventsBefore cutoffMs: Int64, batch: Int64) async throws -> Int {
        var removed = 0
        while true {
            let deleted = try await pools.writer.query("""
                DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time_ms < \(cutoffMs) ORDER BY id LIMIT \(batch)) RETURNING id
                """, logger: logger).collect().count
            removed += deleted
            if deleted < batch {
                try await pruneRollups(before: cutoffMs)
                return removed
            }
            await Task.yield()
        }
    }
}
