import Foundation
import GRDB
import TetherEvents

extension MachineFloor {
    /// Rows per transaction: the event log writer's batch (`EventLog.batchSize`).
    static let insertBatchSize = 20_000

    /// The `events` table and the indexes it has after every migration
    /// (`migrations/0001_init.sql`, minus `events_time`, dropped by 0002), written
    /// out here: the floor must not run Tether's migrator or go through its types.
    static let eventsTableSQL = """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            type TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            reason TEXT,
            strategy TEXT,
            duration_ms INTEGER,
            payload TEXT NOT NULL
        );
        CREATE INDEX events_session ON events(session_id, id);
        CREATE INDEX events_type ON events(type, id);
        """

    static let insertSQL = """
        INSERT INTO events (session_id, type, time_ms, generation, reason, strategy, duration_ms, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts `rows` rows shaped as the events scenario's (the same event mix, payload
    /// sizes, session spread and time steps) into a fresh temporary database with
    /// `EventStore.open`'s pragmas; returns the time from the first insert to the last
    /// commit. The payloads are encoded before the clock starts: this is SQLite alone.
    static func measureInserts(rows: Int, sessions: Int) async throws -> Duration {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-floor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = try openDatabase(path: folder.appendingPathComponent("floor.sqlite").path)
        try await database.write { db in try db.execute(sql: eventsTableSQL) }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let mix = try Scenarios.eventMix.map { kind in
            let event = SessionEvent(sessionID: "session-0", timeMs: Scenarios.eventBaseMs, generation: 1, kind: kind)
            let columns = statsColumns(kind)
            return (type: event.type, reason: columns.reason, strategy: columns.strategy, durationMs: columns.durationMs,
                    payload: String(decoding: try encoder.encode(event), as: UTF8.self))
        }
        let sessionIDs = (0..<sessions).map { "session-\($0)" }

        let started = ContinuousClock.now
        for batchStart in stride(from: 0, to: rows, by: insertBatchSize) {
            let batch = batchStart..<min(batchStart + insertBatchSize, rows)
            try await database.write { db in
                let statement = try db.cachedStatement(sql: insertSQL)
                for index in batch {
                    let row = mix[index % mix.count]
                    statement.setUncheckedArguments([
                        sessionIDs[index % sessionIDs.count], row.type, Scenarios.eventBaseMs + Int64(index / Scenarios.eventsPerMs),
                        Int64(1), row.reason, row.strategy, row.durationMs, row.payload,
                    ])
                    try statement.execute()
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        try database.close()
        return elapsed
    }

    /// A `DatabaseQueue` with the pragmas `EventStore.open` sets, WAL, and commits
    /// synced to disk.
    private static func openDatabase(path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA mmap_size = 268435456")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
        }
        let database = try DatabaseQueue(path: path, configuration: configuration)
        // GRDB's WAL set-up runs after `prepareDatabase` and sets synchronous=NORMAL,
        // so FULL (an fsync per commit, what the event log promises) is set here, last,
        // and read back: a floor without synced commits would flatter the ratio.
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                throw BenchError("the floor's database refused synchronous=FULL")
            }
        }
        return database
    }

    /// The stats columns of the event mix's kinds, as the event store fills them.
    private static func statsColumns(_ kind: SessionEventKind) -> (reason: String?, strategy: String?, durationMs: Int64?) {
        switch kind {
        case .connectionLost(let reason, _, _): (reason.rawValue, nil, nil)
        case .reconnectStarted(let strategy, let trigger): (trigger.rawValue, strategy.rawValue, nil)
        case .reconnected(let strategy, _, let duration, _, _): (nil, strategy.rawValue, duration)
        default: (nil, nil, nil)
        }
    }
}
