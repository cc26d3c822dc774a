/// Bounds one history read: a query over a wide window (stats over a week of a busy
/// service) must not hold a reader connection — the pool has a handful — or the
/// client for minutes. Past the limit the read's task is cancelled, which makes GRDB
/// interrupt the running statement (`sqlite3_interrupt`), and the API answers 504.
struct QueryTimeLimit: Sendable {
    var limit: Duration

    /// `body`'s result, or ``APIError/queryTimeout`` once `limit` has passed; with no
    /// time at all (a zero limit) the read is not started.
    func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard limit > .zero else { throw APIError.queryTimeout(limit) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            // The first to finish decides; a nil is the timer.
            guard let first = try await group.next(), let value = first else { throw APIError.queryTimeout(limit) }
            return value
        }
    }
}
