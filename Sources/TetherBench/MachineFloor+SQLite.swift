import Foundation
import GRDB
import TetherEventLog
import TetherEvents

extension MachineFloor {
    /// Rows per transaction: the event log writer's batch (`EventLog.batchSize`).
    static let insertBatchSize = 20_000

    /// The `events` table and the indexes it has after every migration
    /// (`migrations/0001_init.sql`, minus `events_time`, dropped by 0002, plus 0007's
    /// node column and filter indexes), and the sessions' id and node that the insert
    /// statement looks up, written out here: the floor must not run Tether's migrator
    /// (it shares only the pragmas, the insert statement and the stats columns with the
    /// event store).
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
            payload TEXT NOT NULL,
            sfu_url TEXT
        );
        CREATE INDEX events_session ON events(session_id, id);
        CREATE INDEX events_type ON events(type, id);
        CREATE INDEX events_sfu ON events(sfu_url, id) WHERE sfu_url IS NOT NULL;
        CREATE INDEX events_reason ON events(reason, id) WHERE reason IS NOT NULL;
        CREATE INDEX events_strategy ON events(strategy, id) WHERE strategy IS NOT NULL;
        CREATE TABLE sessions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, sfu_url TEXT NOT NULL);
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
        let sessionIDs = (0..<sessions).map { "session-\($0)" }
        try await database.write { db in
            try db.execute(sql: eventsTableSQL)
            for (index, id) in sessionIDs.enumerated() {
                try db.execute(sql: "INSERT INTO sessions (id, sfu_url) VALUES (?, ?)", arguments: [id, "ws://127.0.0.1:\(9_000 + index % 4)/ws"])
            }
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let mix = try Scenarios.eventMix.map { kind in
            let event = SessionEvent(sessionID: "session-0", timeMs: Scenarios.eventBaseMs, generation: 1, kind: kind)
            let (reason, strategy, durationMs) = event.statsColumns
            return (type: event.type, reason: reason, strategy: strategy, durationMs: durationMs, sfuURL: event.namedSFUURL,
                    payload: String(decoding: try encoder.encode(event), as: UTF8.self))
        }

        let started = ContinuousClock.now
        for batchStart in stride(from: 0, to: rows, by: insertBatchSize) {
            let batch = batchStart..<min(batchStart + insertBatchSize, rows)
            try await database.write { db in
                let statement = try db.cachedStatement(sql: EventStore.insertEventSQL)
                for index in batch {
                    let row = mix[index % mix.count]
                    statement.setUncheckedArguments([
                        sessionIDs[index % sessionIDs.count], row.type, Scenarios.eventBaseMs + Int64(index / Scenarios.eventsPerMs),
                        Int64(1), row.reason, row.strategy, row.durationMs, row.payload, row.sfuURL,
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
    /// synced to disk (a floor without synced commits would flatter the ratio).
    private static func openDatabase(path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.prepareDatabase { db in try EventStore.applyConnectionPragmas(db) }
        let database = try DatabaseQueue(path: path, configuration: configuration)
        try EventStore.requireSynchronousFull(on: database)
        return database
    }
}
