import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// A `PostgresClient` whose callers wait at most `leaseTimeout` for a connection.
///
/// Without a bound, a caller waits as long as the pool keeps failing to connect (about
/// a minute, until its circuit breaker trips) — the history writer then reports nothing
/// and `/readyz` stays 200 while the database is gone. With it, a lost database is a
/// prompt error the writer retries and readiness reports.
///
/// Only the wait is bounded: once a connection is leased, the body runs to its end and
/// is never cancelled, so a commit is never cut off half-way into an unknown outcome.
/// Rows are collected before the connection goes back.
struct BoundedPool: Sendable {
    let client: PostgresClient
    let leaseTimeout: Duration
    let name: String

    struct LeaseTimeout: Error, CustomStringConvertible {
        var description: String
    }

    /// The rows of one query, read in full.
    struct Rows: Sequence, Sendable {
        let rows: [PostgresRow]
        func makeIterator() -> IndexingIterator<[PostgresRow]> { rows.makeIterator() }
        func collect() -> [PostgresRow] { rows }
        func decode<each T: PostgresDecodable>(_: (repeat each T).Type) throws -> [(repeat each T)] {
            try rows.map { try $0.decode((repeat each T).self) }
        }
    }

    private enum LeaseState {
        case waiting
        case leased
        case expired
    }

    func withConnection<Result: Sendable>(
        leaseTimeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let leaseTimeout = leaseTimeout ?? self.leaseTimeout
        let state = NIOLockedValueBox(LeaseState.waiting)
        let client = client
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    let expired = state.withLockedValue { state -> Bool in
                        if state == .expired { return true }
                        state = .leased
                        return false
                    }
                    // The waiter gave up just as the lease came: hand it back unused.
                    if expired { throw CancellationError() }
                    return try await body(connection)
                }
            }
            group.addTask {
                try? await Task.sleep(for: leaseTimeout)
                state.withLockedValue { if $0 == .waiting { $0 = .expired } }
                return nil
            }
            while let outcome = try await group.next() {
                if let value = outcome {
                    group.cancelAll()  // the timer
                    return value
                }
                if state.withLockedValue({ $0 }) == .expired {
                    group.cancelAll()  // the lease request, which postgres-nio withdraws
                    throw LeaseTimeout(description: "no connection to the \(name) database within \(leaseTimeout) (is it reachable?)")
                }
                // Leased in time: wait for the body, however long it takes.
            }
            throw CancellationError()
        }
    }

    func withTransaction<Result: Sendable>(logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result) async throws -> Result {
        try await withConnection { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger? = nil, leaseTimeout: Duration? = nil) async throws -> Rows {
        let logger = logger ?? Logger(label: "tether.postgres")
        return Rows(rows: try await withConnection(leaseTimeout: leaseTimeout) { connection in
            try await connection.query(query, logger: logger).collect()
        })
    }
}
