import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One owner per database, on PostgreSQL: a session-level advisory lock held on a
/// connection of its own for the life of the service (the SQLite store's `<db>.lock`
/// in database form; no file is written). The server drops it when that connection
/// ends, a `kill -9` included, so a crashed owner never blocks its successor.
///
/// The connection is checked every few seconds. If it is lost, the lock is taken
/// again on a new one; if another process took it meanwhile, this one stops (its
/// ``run()`` throws, which ends the service): two owners would both run every session.
public final class PostgresOwnerLock: Service, Sendable {
    /// The advisory lock's key ("tether" in ASCII).
    static let key: Int64 = 0x74_65_74_68_65_72
    static let checkInterval: Duration = .seconds(5)

    public struct Held: Error, CustomStringConvertible {
        public var description: String
    }

    private let client: PostgresClient
    private let location: String
    private let logger: Logger
    private let clientTask: Task<Void, Never>
    private let holder: Mutex<Task<Void, any Error>?> = Mutex(nil)

    private init(client: PostgresClient, location: String, logger: Logger) {
        self.client = client
        self.location = location
        self.logger = logger
        clientTask = Task { await client.run() }
    }

    /// Takes the lock within `timeout`, or throws ``Held`` (another owner) or the
    /// connection's error.
    public static func acquire(url: PostgresURL, timeout: Duration = .seconds(10), logger: Logger) async throws -> PostgresOwnerLock {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: url.tls)
        configuration.options.connectTimeout = timeout
        configuration.options.maximumConnections = 1
        configuration.options.additionalStartupParameters = [("application_name", "tether owner lock")]
        let lock = PostgresOwnerLock(client: PostgresClient(configuration: configuration, backgroundLogger: logger), location: url.redacted, logger: logger)
        let (taken, continuation) = AsyncThrowingStream.makeStream(of: Void.self)
        let holder = Task {
            try await lock.hold(firstTake: continuation)
        }
        lock.holder.withLock { $0 = holder }
        do {
            try await PostgresStore.withDeadline(timeout, "taking the owner lock on \(url.redacted)") {
                for try await _ in taken { return }
            }
        } catch {
            lock.stop()
            throw error
        }
        return lock
    }

    /// Takes the lock on a leased connection and keeps it, checking the connection;
    /// takes it again on a new one when the connection is lost.
    private func hold(firstTake: AsyncThrowingStream<Void, any Error>.Continuation) async throws {
        var reported = false
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let got = try await connection.query("SELECT pg_try_advisory_lock(\(Self.key))", logger: logger).collect().first?.decode(Bool.self)
                    guard got == true else {
                        throw Held(description: """
                            the database \(location) is owned by another tether serve (it holds the advisory lock \(Self.key)); \
                            one database has one owner. Stop that process first, or use another --db.
                            """)
                    }
                    if !reported {
                        reported = true
                        firstTake.yield()
                        firstTake.finish()
                    } else {
                        logger.notice("took the owner lock again on a new connection", metadata: ["db": "\(location)"])
                    }
                    while !Task.isCancelled {
                        try await Task.sleep(for: Self.checkInterval)
                        try await connection.query("SELECT 1", logger: logger)
                    }
                }
            } catch let held as Held {
                if !reported { firstTake.finish(throwing: held) }
                throw held
            } catch is CancellationError {
                return
            } catch {
                if !reported {
                    firstTake.finish(throwing: error)
                    throw error
                }
                logger.error("the owner lock's connection failed; taking the lock again", metadata: ["error": "\(String(reflecting: error))"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Holds the lock until graceful shutdown; throws if it was lost to another owner.
    public func run() async throws {
        let holder = holder.withLock { $0 }
        try await withGracefulShutdownHandler {
            try await holder?.value
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Lets the lock go: the holder stops and the connection closes with the client.
    public func stop() {
        holder.withLock { $0?.cancel() }
        clientTask.cancel()
    }

    deinit {
        clientTask.cancel()
    }
}
