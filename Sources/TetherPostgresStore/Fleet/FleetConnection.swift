import Logging
import PostgresNIO
import Synchronization

/// The fleet's own connection to PostgreSQL, for its lease and its claims: one plain
/// connection, not a pool, so that a lease renewal never queues behind the history's
/// batches, and every statement bounded by a deadline that holds even when the
/// connection is dead (``Race/firstOf(_:orAfter:_:)``).
///
/// Transactions take turns (one connection runs one at a time). One that failed or ran
/// out of time gives the connection up, and the next opens a new one; a statement left
/// running on the old connection never shares it with the next.
final class FleetConnection: Sendable {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let current = Mutex<PostgresConnection?>(nil)
    private let nextID = Atomic<Int>(0)
    private let turns = Mutex((busy: false, waiting: [CheckedContinuation<Void, Never>]()))

    struct Unanswered: Error, CustomStringConvertible {
        var what: String
        var limit: Duration
        var description: String { "the database did not answer \(what) within \(limit)" }
    }

    init(url: PostgresURL, connectTimeout: Duration, logger: Logger) throws {
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try url.connectionTLS())
        configuration.options.connectTimeout = .init(connectTimeout)
        configuration.options.additionalStartupParameters = [("application_name", "tether fleet")]
        self.configuration = configuration
        self.logger = logger
    }

    deinit { drop() }

    /// Runs `body` in a transaction on the fleet's connection, within `limit` (the
    /// connect and the wait for its turn included). Throws ``Unanswered`` once the
    /// limit passed.
    func transaction<T: Sendable>(
        _ what: String, within limit: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = logger
        let abandoned = Atomic<Bool>(false)
        let started = ContinuousClock.now
        await takeTurn()
        defer { endTurn() }
        let outcome: Result<T, any Error>? = try await Race.firstOf({
            do {
                let connection = try await self.connection(unless: abandoned)
                return .success(try await connection.withTransaction(logger: logger) { try await body($0) })
            } catch {
                return .failure(error)
            }
        }, orAfter: limit - (ContinuousClock.now - started), nil)
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error):
            drop()
            throw error
        case nil:
            abandoned.store(true, ordering: .sequentiallyConsistent)
            drop()
            throw Unanswered(what: what, limit: limit)
        }
    }

    private func takeTurn() async {
        await withCheckedContinuation { continuation in
            let now = turns.withLock { turns -> Bool in
                if !turns.busy {
                    turns.busy = true
                    return true
                }
                turns.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func endTurn() {
        let next = turns.withLock { turns -> CheckedContinuation<Void, Never>? in
            if turns.waiting.isEmpty {
                turns.busy = false
                return nil
            }
            return turns.waiting.removeFirst()
        }
        next?.resume()
    }

    private func connection(unless abandoned: borrowing Atomic<Bool>) async throws -> PostgresConnection {
        if let open = current.withLock({ $0 }), !open.isClosed { return open }
        let id = nextID.add(1, ordering: .relaxed).newValue
        let connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        // Opened after its transaction ran out of time: the next one must not find it.
        if abandoned.load(ordering: .sequentiallyConsistent) {
            Task { try? await connection.close() }
            throw CancellationError()
        }
        let replaced = current.withLock { value -> PostgresConnection? in
            defer { value = connection }
            return value
        }
        if let replaced { Task { try? await replaced.close() } }
        return connection
    }

    /// Forgets the connection and closes it without waiting: closing a dead one may not end.
    func drop() {
        guard let connection = current.withLock({ value -> PostgresConnection? in
            defer { value = nil }
            return value
        }) else { return }
        Task { try? await connection.close() }
    }
}
