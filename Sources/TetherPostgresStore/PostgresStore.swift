import Foundation
import Logging
import PostgresNIO
import TetherEvents
import TetherEventLog

/// The history on PostgreSQL: the same tables, answers and promises as the SQLite
/// ``EventStore``, on a database several instances can reach.
///
/// Two connection pools: the writer's (the event log's batches, the outbox, retention)
/// and the readers' (the API's history reads), whose connections carry
/// `statement_timeout` so a read the API gave up on stops on the server too. Commits
/// are synchronous (`synchronous_commit` is left on): a batch is durable when its
/// transaction returns.
public struct PostgresStore: HistoryStore {
    let pools: Pools
    public var webhooks: WebhookRouting?
    /// Set on a fleet instance: every write for a session is checked against its row's
    /// owner and epoch (``OwnershipFence``); nil writes unconditionally (tests, benches).
    public var fence: OwnershipFence?
    /// How long a picked webhook try keeps its row from other instances' workers: longer
    /// than a try can take (connect and answer timeouts), so a second send of the same
    /// delivery only follows a claimant that died or lost the database.
    public var webhookClaim: Duration = .seconds(60)
    public let writeFaults = WriteFaults()
    public let location: String
    let logger: Logger

    /// The two pools and the tasks that run them; cancelled when the last copy of the
    /// store goes.
    final class Pools: Sendable {
        let writer: BoundedPool
        let reader: BoundedPool
        private let running: Task<Void, Never>

        init(writer: PostgresClient, reader: PostgresClient, leaseTimeout: Duration) {
            self.writer = BoundedPool(client: writer, leaseTimeout: leaseTimeout, name: "writer")
            // Reads have the API's 10 s bound around them; a busy machine may take more
            // than the writer's few seconds to open a reader connection.
            self.reader = BoundedPool(client: reader, leaseTimeout: max(leaseTimeout, .seconds(8)), name: "reader")
            running = Task {
                await withDiscardingTaskGroup { group in
                    group.addTask { await writer.run() }
                    group.addTask { await reader.run() }
                }
            }
        }

        func shutdown() { running.cancel() }

        deinit { running.cancel() }
    }

    /// How long one history read may run on the server: the API's own bound (10 s).
    /// postgres-nio does not cancel a running statement when its task is cancelled, so
    /// the API's 504 waits for the server to give up: with equal bounds both come at 10 s.
    public static let readStatementTimeout = "10s"

    /// Connects (the pools reconnect by themselves afterwards), applies
    /// `migrations-postgres/*.sql` not yet applied, and returns the store. Throws when
    /// the database cannot be reached within `connectTimeout`, or the migrations do not
    /// finish within `migrationTimeout`.
    public static func open(
        url: PostgresURL, connectTimeout: Duration = .seconds(10), migrationTimeout: Duration = .seconds(600),
        leaseTimeout: Duration = .seconds(3),
        writerConnections: Int = 4, readerConnections: Int = 16,
        logger: Logger = Logger(label: "tether.postgres")
    ) async throws -> PostgresStore {
        func configuration(connections: Int, startup: [(String, String)]) -> PostgresClient.Configuration {
            var configuration = PostgresClient.Configuration(
                host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: url.tls)
            configuration.options.connectTimeout = connectTimeout
            configuration.options.maximumConnections = connections
            configuration.options.minimumConnections = 1
            configuration.options.additionalStartupParameters = [("application_name", "tether")] + startup
            return configuration
        }
        let pools = Pools(
            writer: PostgresClient(configuration: configuration(connections: writerConnections, startup: []), backgroundLogger: logger),
            reader: PostgresClient(
                configuration: configuration(connections: readerConnections, startup: [("statement_timeout", readStatementTimeout)]),
                backgroundLogger: logger),
            leaseTimeout: leaseTimeout)
        let store = PostgresStore(pools: pools, webhooks: nil, fence: nil, location: url.redacted, logger: logger)
        do {
            // Reaching the database is bounded by the connect timeout; the migrations
            // that follow by their own, longer bound: on a large history (or a busy
            // machine) they take longer than a connection may, and are still progress.
            try await withDeadline(connectTimeout, "connecting to \(url.redacted)") {
                // Both pools hold a connection before the first request needs one.
                try await pools.writer.query("SELECT 1", leaseTimeout: connectTimeout)
                try await pools.reader.query("SELECT 1", leaseTimeout: connectTimeout)
            }
            try await withDeadline(migrationTimeout, "migrating \(url.redacted)") {
                try await store.migrate()
            }
        } catch {
            pools.shutdown()
            throw error
        }
        return store
    }

    /// Stops the pools (tests; the service lets the process end them).
    public func close() { pools.shutdown() }

    // MARK: - Migrations

    struct Migration: Sendable {
        var name: String
        var sql: String
        /// Work in Swift after the SQL, in the same transaction.
        var then: (@Sendable (PostgresConnection, Logger) async throws -> Void)? = nil
    }

    /// `migrations-postgres/*.sql`, compiled into the binary; add each new file here.
    static let migrations: [Migration] = [
        Migration(name: "0001_init", sql: String(decoding: PackageResources._001_init_sql, as: UTF8.self)),
        Migration(name: "0002_fleet", sql: String(decoding: PackageResources._002_fleet_sql, as: UTF8.self)),
        Migration(
            name: "0003_stats_rollups", sql: String(decoding: PackageResources._003_stats_rollups_sql, as: UTF8.self),
            then: { connection, logger in try await PostgresStore.backfillRollups(on: connection, logger: logger) }),
    ]

    /// Applies what is missing, each migration in its own transaction, under a
    /// transaction-scoped advisory lock so that instances starting together migrate once.
    func migrate() async throws {
        // The first connection may take a while on a busy machine; `open` bounds the whole.
        // Under the lock too: two instances starting together would race on the
        // catalog (CREATE TABLE IF NOT EXISTS is not safe against a concurrent create).
        try await pools.writer.withConnection(leaseTimeout: .seconds(60)) { [logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7470656873)", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS tether_migrations (name TEXT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)", logger: logger)
            }
        }
        for migration in Self.migrations {
            try await pools.writer.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7470656873)", logger: logger)
                let applied = try await connection.query("SELECT 1 FROM tether_migrations WHERE name = \(migration.name)", logger: logger)
                    .collect()
                guard applied.isEmpty else { return }
                for statement in Self.statements(of: migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await migration.then?(connection, logger)
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try await connection.query("INSERT INTO tether_migrations (name, applied_at_ms) VALUES (\(migration.name), \(now))", logger: logger)
            }
        }
    }

    /// The names of the migrations applied to this database, in order.
    public func appliedMigrations() async throws -> [String] {
        try await pools.reader.query("SELECT name FROM tether_migrations ORDER BY name").collect().map { try $0.decode(String.self) }
    }

    /// A migration file's statements: split at semicolons that end a line, comments
    /// dropped (the files hold no functions or quoted semicolons at line ends).
    static func statements(of sql: String) -> [String] {
        let lines = sql.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            guard let comment = line.range(of: "--") else { return line }
            return line[..<comment.lowerBound]
        }
        return lines.joined(separator: "\n").components(separatedBy: ";\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: ";")) }
            .filter { !$0.isEmpty }
    }

    // MARK: - Small helpers

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// `body`, or a ``Timeout`` naming `what` once `limit` passed.
    static func withDeadline<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw Timeout(description: "\(what) took longer than \(limit)")
            }
            return value
        }
    }
}
