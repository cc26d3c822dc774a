import Foundation
import GRDB
import TetherEvents

/// The SQLite file behind the history: sessions and events, through GRDB in WAL mode.
///
/// Writes go through ``EventLog`` (one writer, batched); reads come straight from here
/// and never wait for a write.
public struct EventStore: HistoryStore {
    let database: any DatabaseWriter
    /// Events to turn into webhook deliveries, in the transaction that stores them.
    public var webhooks: WebhookRouting?

    /// The database file.
    public var path: String { database.path }
    public var location: String { database.path }

    /// For tests: makes the writer's commits fail from some point on, as if the
    /// process died right after the last one that went through (shared by every copy).
    public let writeFaults = WriteFaults()

    /// Opens (creating if needed) the database at `path` and applies `migrations/*.sql`.
    public static func open(path: String) throws -> EventStore {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try applyConnectionPragmas(db) }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try requireSynchronousFull(on: pool)
        let store = EventStore(database: pool)
        try store.migrator.migrate(pool)
        return store
    }

    /// The pragmas every connection gets (also what `tether bench`'s SQLite floor uses).
    public static func applyConnectionPragmas(_ db: Database) throws {
        // 16 KB pages for a new file (no effect on an existing one): the indexes take
        // inserts at random places, and bigger pages split less (measured: +40 % at 1M).
        try db.execute(sql: "PRAGMA page_size = 16384")
        // WAL with FULL: every commit is fsynced before it returns, so what the API
        // acknowledged survives a power cut or host crash, not only a kill -9. The
        // writer batches, so this is one fsync per batch (cost: BENCHMARKS.md).
        try db.execute(sql: "PRAGMA synchronous = FULL")
        // The session and type indexes take inserts at random places; with SQLite's
        // default 2 MB cache, 1M events meant a pread per insert (measured with perf).
        try db.execute(sql: "PRAGMA cache_size = -65536")
        try db.execute(sql: "PRAGMA mmap_size = 268435456")
        // Checkpoint the WAL every 10,000 pages (~160 MB at 16 KB pages) rather than
        // the default 1,000: fewer checkpoint fsyncs under load.
        try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
        // A blanked token or Janus secret is overwritten with zeros where it stood
        // (in-page free space, freed overflow and freelist pages), not left behind as
        // unreferenced bytes; the WAL's old copies go with ``wipeRetiredSecrets()``.
        try db.execute(sql: "PRAGMA secure_delete = ON")
    }

    /// Removes from disk the bytes of secrets that committed rows no longer hold: the
    /// WAL still carries the pages as they were before the blanking, so it is
    /// checkpointed into the database (where `secure_delete` zeroed the old cells) and
    /// truncated to nothing.
    public func wipeRetiredSecrets() async throws {
        try await database.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
    }

    /// Turns `secure_delete` on the writer off (or back on): only for `tether bench`,
    /// which measures what the zeroing costs a retention sweep.
    public func setSecureDelete(_ enabled: Bool) async throws {
        try await database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA secure_delete = \(enabled ? "ON" : "OFF")") }
    }

    /// GRDB switches a WAL database's writer to WAL after `prepareDatabase` and sets
    /// synchronous=NORMAL on it then (seen with strace: no fdatasync per commit), so
    /// FULL is set again on the writer itself, and read back.
    public static func requireSynchronousFull(on writer: some DatabaseWriter) throws {
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let level = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard level == 2 else { throw DatabaseError(message: "PRAGMA synchronous reads \(level.map(String.init) ?? "nothing") after setting FULL (2)") }
        }
    }

    /// The migrations embedded from `migrations/*.sql`, in file-name order.
    public var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in Self.embeddedMigrations {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
                try migration.then?(db)
            }
        }
        return migrator
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL: every commit fsynced).
    public func writerSynchronousLevel() async throws -> Int {
        try await database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The names of the migrations applied to this database, in order.
    public func appliedMigrations() throws -> [String] {
        try database.read { try migrator.appliedIdentifiers($0) }.sorted()
    }

    /// Proves the database takes writes (one small committed row).
    public func checkWritable() throws {
        try database.write { db in try Self.probe(in: db) }
    }

    static func probe(in db: Database) throws {
        try db.execute(sql: "DELETE FROM readiness")
        try db.execute(sql: "INSERT INTO readiness (at) VALUES (?)", arguments: [Int64(Date().timeIntervalSince1970 * 1000)])
    }

    /// Commits one batch of the writer's queue in one transaction, off the cooperative
    /// pool (GRDB's async writer). `clock` decides each event's stored time; a jump it
    /// reports is recorded as a `clock_jump` event just before the event that showed
    /// it, and a backward one starts a new clock segment there. Returns the stored
    /// events with their ids (markers included) and the clock after the batch.
    public func write(_ batch: ArraySlice<EventLog.Write>, clock: ClockGuard, monotonicNow: Duration) async throws -> ([SessionEvent], ClockGuard) {
        try writeFaults.admitCommit()
        return try await database.write { db in
            var clock = clock
            var stored: [SessionEvent] = []
            stored.reserveCapacity(batch.count)
            let statement = try db.cachedStatement(sql: Self.insertEventSQL)
            var outgoing: [(event: SessionEvent, type: String)] = []
            func insert(_ event: SessionEvent, payload: String) throws {
                let stamped = try clock.stampWithMarker(event, monotonicNow: monotonicNow)
                if let marker = stamped.marker {
                    let inserted = try Self.insert(marker.event, payload: marker.payload, statement: statement, in: db)
                    stored.append(inserted)
                    if stamped.startsSegment, let id = inserted.id {
                        try db.execute(sql: "INSERT OR IGNORE INTO clock_segments (first_id) VALUES (?)", arguments: [id])
                    }
                }
                let event = stamped.event
                let inserted = try Self.insert(event, payload: payload, statement: statement, in: db)
                stored.append(inserted)
                if let type = webhooks?.subscribedType(of: event.kind) { outgoing.append((inserted, type)) }
            }
            for write in batch {
                switch write {
                case .event(let event, let payload):
                    try insert(event, payload: payload)
                case .unit(let events, let row):
                    for encoded in events { try insert(encoded.event, payload: encoded.payload) }
                    try Self.upsert(row, in: db)
                case .session(let record):
                    try Self.upsert(record, in: db)
                case .probe:
                    try Self.probe(in: db)
                }
            }
            // The stats rollups count the batch in its own transaction: a crash keeps both or neither.
            if let first = stored.first?.id, let last = stored.last?.id { try Self.rollUp(ids: first...last, in: db) }
            // After the batch's session rows: a webhook carries the session as stored now.
            if let webhooks, !outgoing.isEmpty {
                try Self.enqueueDeliveries(outgoing, routing: webhooks, in: db)
            }
            return (stored, clock)
        }
    }

    /// Deletes events older than `cutoffMs` in transactions of at most `batch` rows, so
    /// a large backlog never holds the write lock (and the writer) for long; returns how
    /// many. Works on real time: each clock segment is cut at its own first id at or
    /// after the cutoff.
    @discardableResult
    public func prune(eventsBefore cutoffMs: Int64, batch: Int64 = 10_000) async throws -> Int {
        let ranges = try await database.read { db in try Self.idRanges(since: nil, until: cutoffMs, in: db) }
        var removed = 0
        for range in ranges {
            var start = range.lowerBound
            while start < range.upperBound {
                let (from, end) = (start, min(start + batch, range.upperBound))
                removed += try await database.write { db in
                    try db.execute(sql: "DELETE FROM events WHERE id >= ? AND id < ? AND time_ms < ?", arguments: [from, end, cutoffMs])
                    return db.changesCount
                }
                start = end
                await Task.yield()
            }
        }
        try await database.write { db in try Self.pruneRollups(before: cutoffMs, in: db) }
        return removed
    }
}
