import Logging
import NIOConcurrencyHelpers
import NIOSSL
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
///
/// A plain `PostgresConnection`, not a pool: a pooled connection that the server
/// dropped while it sat leased and idle (measured: `pg_ctl -m immediate`) took a
/// query and never answered it, and the pool kept handing it back.
public final class PostgresOwnerLock: Service, Sendable {
    /// The advisory lock's key ("tether" in ASCII).
    static let key: Int64 = 0x74_65_74_68_65_72
    static let checkInterval: Duration = .seconds(5)

    public struct Held: Error, CustomStringConvertible {
        public var description: String
    }

    struct CheckUnanswered: Error, CustomStringConvertible {
        var description: String { "the owner lock's connection did not answer a check within \(PostgresOwnerLock.checkInterval)" }
    }

    private let configuration: PostgresConnection.Configuration
    private let location: String
    private let logger: Logger
    private let holder: Mutex<Task<Void, any Error>?> = Mutex(nil)
    private let takes = Atomic<Int>(0)
    /// How many times the lock has been taken: 1 at start, one more for each new
    /// connection after a lost one.
    public var timesTaken: Int { takes.load(ordering: .relaxed) }
    /// Ends when the lock is let go (``stop()``) or lost (throwing). ``run()`` waits on
    /// this, not on the holder, which may be waiting on a connection that never answers.
    private let ended: AsyncThrowingStream<Void, any Error>
    private let endedContinuation: AsyncThrowingStream<Void, any Error>.Continuation

    private init(configuration: PostgresConnection.Configuration, location: String, logger: Logger) {
        (ended, endedContinuation) = AsyncThrowingStream.makeStream(of: Void.self)
        self.configuration = configuration
        self.location = location
        self.logger = logger
    }

    /// Takes the lock within `timeout`, or throws ``Held`` (another owner) or the
    /// connection's error.
    public static func acquire(url: PostgresURL, timeout: Duration = .seconds(10), logger: Logger) async throws -> PostgresOwnerLock {
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try url.connectionTLS())
        configuration.options.connectTimeout = .init(timeout)
        configuration.options.additionalStartupParameters = [("application_name", "tether owner lock")]
        let lock = PostgresOwnerLock(configuration: configuration, location: url.redacted, logger: logger)
        let (taken, continuation) = AsyncThrowingStream.makeStream(of: Void.self)
        let holder = Task {
            do {
                try await lock.hold(firstTake: continuation)
                lock.endedContinuation.finish()
            } catch {
                lock.endedContinuation.finish(throwing: error)
                throw error
            }
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

    /// Takes the lock on a new connection and keeps it, checking the connection; takes
    /// it again on a new one when the connection is lost.
    private func hold(firstTake: AsyncThrowingStream<Void, any Error>.Continuation) async throws {
        var reported = false
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            var current: PostgresConnection?
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                current = connection
                let got = try await connection.query("SELECT pg_try_advisory_lock(\(Self.key))", logger: logger).collect().first?.decode(Bool.self)
                guard got == true else {
                    throw Held(description: """
                        the database \(location) is owned by another tether serve (it holds the advisory lock \(Self.key)); \
                        one database has one owner. Stop that process first, or use another --db.
                        """)
                }
                takes.add(1, ordering: .relaxed)
                if !reported {
                    reported = true
                    firstTake.yield()
                    firstTake.finish()
                } else {
                    logger.notice("took the owner lock again on a new connection", metadata: ["db": "\(location)"])
                }
                while !Task.isCancelled {
                    try await Task.sleep(for: Self.checkInterval)
                    try await Self.check(connection, logger: logger)
                }
                Self.abandon(current)
            } catch let held as Held {
                Self.abandon(current)
                if reported {
                    logger.critical("lost the owner lock to another process while its connection was down; stopping", metadata: ["db": "\(location)"])
                } else {
                    firstTake.finish(throwing: held)
                }
                throw held
            } catch is CancellationError {
                // Closed before the holder ends: the lock goes with the connection, and
                // the next owner (a restart) must find it free. run() bounds this wait.
                try? await current?.close()
                return
            } catch {
                Self.abandon(current)
                if !reported {
                    firstTake.finish(throwing: error)
                    throw error
                }
                logger.error("the owner lock's connection failed; taking the lock again", metadata: ["error": "\(String(reflecting: error))"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// `SELECT 1` within ``checkInterval``.
    private static func check(_ connection: PostgresConnection, logger: Logger) async throws {
        let answered = try await firstOf(
            { try await connection.query("SELECT 1", logger: logger); return true }, orAfter: checkInterval, false)
        if !answered { throw CheckUnanswered() }
    }

    /// `operation`'s result, or `fallback` once `limit` has passed — without waiting for
    /// the operation to end. Not a task group: a query on a dead connection heeds no
    /// cancellation, and a group would wait for it.
    private static func firstOf<T: Sendable>(
        _ operation: @escaping @Sendable () async throws -> T, orAfter limit: Duration, _ fallback: T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let pending = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(continuation)
            @Sendable func finish(_ result: Result<T, any Error>) {
                pending.withLockedValue { waiting in
                    waiting?.resume(with: result)
                    waiting = nil
                }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                finish(.success(fallback))
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                timer.cancel()
                finish(result)
            }
        }
    }

    /// Closes a connection without waiting: closing one that is already dead may not end.
    private static func abandon(_ connection: PostgresConnection?) {
        guard let connection else { return }
        Task { try? await connection.close() }
    }

    /// Holds the lock until graceful shutdown; throws if it was lost to another owner.
    /// On the way out it gives the holder a moment to close its connection, so that the
    /// lock is free when this returns — unless that connection hangs.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            for try await _ in ended {}
        } onGracefulShutdown: {
            self.stop()
        }
        await waitForHolder(upTo: .seconds(3))
    }

    private func waitForHolder(upTo limit: Duration) async {
        guard let holder = holder.withLock({ $0 }) else { return }
        _ = try? await Self.firstOf({ _ = try? await holder.value }, orAfter: limit, ())
    }

    /// Lets the lock go: the holder stops and closes its connection.
    public func stop() {
        holder.withLock { $0?.cancel() }
        endedContinuation.finish()
    }
}
