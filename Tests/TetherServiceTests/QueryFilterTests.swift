import Foundation
import GRDB
import Testing
import TetherEvents
import TetherPostgresStore
@testable import TetherEventLog
@testable import TetherService

/// Issue 13: the filters ops ask with during an incident: the right rows, and an index
/// behind each. Issue 22: the same answers from both stores (the conformance suite:
/// each test runs on a real SQLite file and a real PostgreSQL database).
@Suite(.timeLimit(.minutes(2))) struct QueryFilterTests {
    static let nodeA = "ws://10.0.0.1:9000/ws"
    static let nodeB = "ws://10.0.0.2:9000/ws"

    /// A fresh SQLite store, removed when `body` returns (the SQLite-only checks).
    func withStore(_ body: (EventStore) async throws -> Void) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-filters-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        try await body(try EventStore.open(path: path))
    }

    func record(_ id: String, call: String, user: String, node: String, metadata: String = "{}", createdAtMs: Int64, state: String = "joined") -> SessionRecord {
        var record = SessionRecord(
            id: id, state: state, callID: call, userID: user, dialect: "stream", sfuURLs: #"["\#(node)"]"#, sfuToken: "",
            dialectOptions: nil, policy: "{}", metadata: metadata, sfuURL: node, idempotencyKey: nil, requestFingerprint: nil,
            createdAtMs: createdAtMs)
        record.updatedAtMs = createdAtMs
        return record
    }

    func event(_ session: String, _ time: Int64, _ kind: SessionEventKind) -> EventLog.Write {
        let event = SessionEvent(sessionID: session, timeMs: time, generation: 1, kind: kind)
        return .event(event, payload: String(decoding: try! JSONEncoder().encode(event), as: UTF8.self))
    }

    func write(_ writes: [EventLog.Write], to store: any HistoryStore) async throws {
        _ = try await store.write(writes[...], clock: ClockGuard(lastStoredTimeMs: nil), monotonicNow: .zero)
    }

    func lost(_ session: String, _ time: Int64, _ reason: LossReason = .unexpectedClose) -> EventLog.Write {
        event(session, time, .connectionLost(reason: reason, closeCode: nil, detail: nil))
    }

    func recovered(_ session: String, _ time: Int64, _ strategy: ReconnectStrategy, on node: String, ms: Int64) -> [EventLog.Write] {
        [event(session, time, .reconnectStarted(strategy: strategy, trigger: .connectionLost)),
         event(session, time + ms, .reconnected(strategy: strategy, attempts: 1, durationMs: ms, sfuURL: node, sfuSessionID: "x"))]
    }

    /// Three sessions: s1 (call c1, user u1, tenant acme) on A, later migrated to B;
    /// s2 (c1, u2, acme) on B; s3 (c2, u1, globex) on A.
    func seedHistory(in store: any HistoryStore) async throws {
        var s1 = record("s1", call: "c1", user: "u1", node: Self.nodeA, metadata: #"{"tenant":"acme","region":"eu"}"#, createdAtMs: 1_000)
        let s2 = record("s2", call: "c1", user: "u2", node: Self.nodeB, metadata: #"{"tenant":"acme","region":"us"}"#, createdAtMs: 2_000)
        let s3 = record("s3", call: "c2", user: "u1", node: Self.nodeA, metadata: #"{"tenant":"globex"}"#, createdAtMs: 3_000, state: "failed")
        try await write([.session(s1), .session(s2), .session(s3)], to: store)
        try await write([lost("s1", 10_000)] + recovered("s1", 10_000, .fast, on: Self.nodeA, ms: 3), to: store)
        try await write([lost("s3", 11_000, .healthCheckTimeout)] + recovered("s3", 11_000, .rejoin, on: Self.nodeA, ms: 700), to: store)
        // s1 moves to B: its record says so before its next loss.
        s1.sfuURL = Self.nodeB
        s1.generation = 2
        try await write([event("s1", 12_000, .migrated(from: Self.nodeA, to: Self.nodeB)), .session(s1)], to: store)
        try await write([lost("s1", 13_000)] + recovered("s1", 13_000, .rejoin, on: Self.nodeB, ms: 40), to: store)
        try await write([lost("s2", 14_000, .error), event("s2", 14_000, .reconnectStarted(strategy: .fast, trigger: .connectionLost)),
                         event("s2", 20_000, .reconnectFailed(reason: "deadline_exceeded", attempts: 3, durationMs: 6_000))], to: store)
        try await write([event("s3", 30_000, .left(reason: "kicked"))], to: store)
    }

    func sessions(_ events: [SessionEvent]) -> [String] { events.map(\.sessionID) }

    @Test(arguments: StoreKind.allCases) func eventsFilterByNodeCallUserReasonStrategyAndSeveralTypes(kind: StoreKind) async throws {
        try await kind.withStore { store in
            try await seedHistory(in: store)
            let lossesOnA = try await store.events(EventQuery(types: ["connection_lost"], sfuURL: Self.nodeA))
            #expect(lossesOnA.map(\.timeMs) == [10_000, 11_000], "the losses that happened on A, not s1's later one on B")
            let lossesOnB = try await store.events(EventQuery(types: ["connection_lost"], sfuURL: Self.nodeB))
            #expect(lossesOnB.map(\.timeMs) == [13_000, 14_000])
            let migratedTo = try await store.events(EventQuery(types: ["migrated"], sfuURL: Self.nodeB))
            #expect(migratedTo.count == 1, "a migration is counted on the node it went to")

            #expect(Set(sessions(try await store.events(EventQuery(callID: "c1")))) == ["s1", "s2"])
            #expect(Set(sessions(try await store.events(EventQuery(userID: "u1")))) == ["s1", "s3"])
            #expect(sessions(try await store.events(EventQuery(types: ["connection_lost"], callID: "c1", userID: "u1"))) == ["s1", "s1"])
            #expect(try await store.events(EventQuery(callID: "nope")).isEmpty)

            let timeouts = try await store.events(EventQuery(reason: "health_check_timeout"))
            #expect(timeouts.map(\.type) == ["connection_lost"] && sessions(timeouts) == ["s3"])
            #expect(sessions(try await store.events(EventQuery(reason: "kicked"))) == ["s3"], "an end reason")
            let rejoins = try await store.events(EventQuery(types: ["reconnected"], strategy: "rejoin"))
            #expect(rejoins.map(\.timeMs) == [11_700, 13_040])

            // Several types: merged in id order, the limit applied to the merge.
            let mixed = try await store.events(EventQuery(types: ["reconnect_failed", "connection_lost", "left"], limit: 5))
            #expect(mixed.map(\.type) == ["connection_lost", "connection_lost", "connection_lost", "connection_lost", "reconnect_failed"])
            let ids = mixed.compactMap(\.id)
            #expect(ids == ids.sorted())
            let rest = try await store.events(EventQuery(types: ["reconnect_failed", "connection_lost", "left"], afterID: ids.last, limit: 5))
            #expect(rest.map(\.type) == ["left"], "the cursor goes on after the merged page")
            // With a time window (an id range) as well.
            let window = try await store.events(EventQuery(types: ["connection_lost"], sfuURL: Self.nodeB, sinceMs: 13_500, untilMs: 20_000))
            #expect(sessions(window) == ["s2"])
        }
    }

    /// An event's node column is its session's node as stored when the event was
    /// written: a save earlier in the same batch counts, a later one does not change it,
    /// a reopened store (as after a restart) sees the same, and an event of a session
    /// never saved has none.
    @Test(arguments: StoreKind.allCases) func anEventsNodeIsItsSessionsNodeWhenItWasWritten(kind: StoreKind) async throws {
        let (db, cleanup) = try kind.makeDatabase()
        defer { cleanup() }
        func open() async throws -> any HistoryStore {
            switch kind {
            case .sqlite: try EventStore.open(path: db)
            case .postgres: try await PostgresStore.open(url: try PostgresURL(parsing: db))
            }
        }
        /// Each event's time, by the node the store says it happened on.
        func byNode(_ store: any HistoryStore) async throws -> [String: [Int64]] {
            var result: [String: [Int64]] = [:]
            for node in [Self.nodeA, Self.nodeB] { result[node] = try await store.events(EventQuery(sfuURL: node)).map(\.timeMs) }
            result["all"] = try await store.events(EventQuery()).map(\.timeMs)
            return result
        }
        var live = record("live", call: "c", user: "u", node: Self.nodeA, createdAtMs: 1_000)
        var ended = record("ended", call: "c", user: "u", node: Self.nodeA, createdAtMs: 1_000)
        let first = try await open()
        try await write([.session(live), lost("live", 2_000)], to: first)
        live.sfuURL = Self.nodeB
        ended.state = "left"
        try await write([.session(live), lost("live", 3_000), .session(ended), lost("ended", 3_000)], to: first)
        #expect(try await byNode(first) == [Self.nodeA: [2_000, 3_000], Self.nodeB: [3_000], "all": [2_000, 3_000, 3_000]],
                "saved in the same batch; an ended session from the database")

        // A second writer on the same database (as after a restart) has saved nothing yet.
        let reopened = try await open()
        try await write([lost("live", 4_000)], to: reopened)
        live.sfuURL = Self.nodeA
        try await write([.session(live)], to: reopened)
        try await write([lost("live", 5_000), lost("never-saved", 5_000)], to: reopened)
        #expect(try await byNode(reopened) == [
            Self.nodeA: [2_000, 3_000, 5_000], Self.nodeB: [3_000, 4_000], "all": [2_000, 3_000, 3_000, 4_000, 5_000, 5_000],
        ], "a session never saved has no node")
        (first as? PostgresStore)?.close()
        (reopened as? PostgresStore)?.close()
    }

    @Test(arguments: StoreKind.allCases) func sessionsFilterByUserNodeCreationTimeAndMetadata(kind: StoreKind) async throws {
        try await kind.withStore { store in
            try await seedHistory(in: store)
            func ids(_ query: SessionQuery) async throws -> [String] { try await store.sessions(query).map(\.id) }
            #expect(try await ids(SessionQuery(userID: "u1")) == ["s3", "s1"], "newest first")
            #expect(try await ids(SessionQuery(sfuURL: Self.nodeB)) == ["s2", "s1"], "their current node")
            #expect(try await ids(SessionQuery(createdSinceMs: 2_000)) == ["s3", "s2"])
            #expect(try await ids(SessionQuery(createdSinceMs: 1_000, createdUntilMs: 3_000)) == ["s2", "s1"])
            #expect(try await ids(SessionQuery(metadata: ["tenant": "acme"])) == ["s2", "s1"])
            #expect(try await ids(SessionQuery(metadata: ["tenant": "acme", "region": "eu"])) == ["s1"])
            #expect(try await ids(SessionQuery(state: "failed", metadata: ["tenant": "globex"])) == ["s3"])
            #expect(try await ids(SessionQuery(state: "failed", metadata: ["tenant": "acme"])).isEmpty)
            #expect(try await ids(SessionQuery(metadata: ["tenant": "acme"], beforeSeq: 2, limit: 1)) == ["s1"], "paged")
            // s1 was written twice (migrated): its metadata rows are not doubled (PostgreSQL's
            // key makes doubles impossible; SQLite's trigger is checked here).
            if let sqlite = store as? EventStore {
                let rows = try await sqlite.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM session_metadata WHERE seq = 1") }
                #expect(rows == 2)
            }
        }
    }

    /// A NUL in what a client or an SFU sends is stored and found again on both stores
    /// (PostgreSQL text cannot hold one: without care the whole batch failed for good,
    /// and a filter holding one answered 500, as schemathesis found).
    @Test(arguments: StoreKind.allCases) func aNulInAnyStringIsStoredAndFoundAgain(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let nul = "\u{0}"
            let odd = record("s\(nul)1", call: "c\(nul)1", user: "u\(nul)1", node: Self.nodeA, metadata: #"{"tenant":"a\u0000b"}"#, createdAtMs: 1_000)
            try await write([.session(odd)], to: store)
            try await write([lost("s\(nul)1", 10_000, .error)], to: store)
            #expect(try await store.sessions(SessionQuery(userID: "u\(nul)1")).count == 1)
            #expect(try await store.sessions(SessionQuery(metadata: ["tenant": "a\(nul)b"])).count == 1)
            #expect(try await store.events(EventQuery(callID: "c\(nul)1")).count == 1)
            #expect(try await store.events(EventQuery(sessionID: "s\(nul)1")).count == 1)
            #expect(try await store.events(EventQuery(reason: "x\(nul)y")).isEmpty)
            #expect(try await store.session(id: "s\(nul)1") != nil)
            // The history goes on being written after them.
            try await write([lost("s2", 11_000, .error)], to: store)
            #expect(try await store.events(EventQuery(sessionID: "s2")).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func statsGroupByNodeAndCallWithFiltersAndAHistogram(kind: StoreKind) async throws {
        try await kind.withStore { store in
            try await seedHistory(in: store)
            let all = try await store.stats(StatsQuery(sinceMs: 0, untilMs: 100_000, groupBy: .sfuURL))
            #expect(all.recoveryCount == 3)
            #expect(all.recoveryHistogram.reduce(0, +) == all.recoveryCount)
            #expect(all.recoveryHistogram.count == EventStats.histogramBoundsMs.count + 1)
            // 3 ms ≤ 5, 40 ms ≤ 50, 700 ms ≤ 1000.
            let bucket = { (bound: Int64) in EventStats.histogramBoundsMs.firstIndex(of: bound)! }
            #expect(all.recoveryHistogram[bucket(5)] == 1 && all.recoveryHistogram[bucket(50)] == 1 && all.recoveryHistogram[bucket(1_000)] == 1)
            // Percentiles come from the fine buckets: exact up to 100 ms, within 2 % above.
            let about700 = RecoveryBuckets.representative(of: RecoveryBuckets.index(of: 700))
            #expect(abs(about700 - 700) <= 14)
            #expect(all.recoveryPercentilesMs == [50: 40, 95: about700, 99: about700])
            let byNode = Dictionary(uniqueKeysWithValues: all.groups.map { ($0.key, $0) })
            #expect(byNode[Self.nodeA] == EventStats.Group(
                key: Self.nodeA, joins: 0, losses: 2, reconnects: 2, recovered: 2, reconnectsFailed: 0, recoveryPercentilesMs: [50: 3, 95: about700, 99: about700]))
            #expect(byNode[Self.nodeB] == EventStats.Group(
                key: Self.nodeB, joins: 0, losses: 2, reconnects: 2, recovered: 1, reconnectsFailed: 1, recoveryPercentilesMs: [50: 40, 95: 40, 99: 40]))

            let byCall = try await store.stats(StatsQuery(sinceMs: 0, untilMs: 100_000, groupBy: .callID))
            #expect(byCall.groups.map(\.key) == ["c1", "c2"], "most losses first")
            #expect(byCall.groups.map(\.losses) == [3, 1])

            let onlyB = try await store.stats(StatsQuery(sinceMs: 0, untilMs: 100_000, sfuURL: Self.nodeB))
            #expect(onlyB.lossesByReason == ["unexpected_close": 1, "error": 1])
            #expect(onlyB.reconnectsFailed == ["deadline_exceeded": 1])
            #expect(onlyB.groups.isEmpty, "no groups unless asked")
            let userOne = try await store.stats(StatsQuery(sinceMs: 0, untilMs: 100_000, userID: "u1"))
            #expect(userOne.recoveryCount == 3 && userOne.lossesByReason == ["unexpected_close": 2, "health_check_timeout": 1])
            let callTwo = try await store.stats(StatsQuery(sinceMs: 11_500, untilMs: 100_000, callID: "c2"))
            #expect(callTwo.recoveryCount == 1 && callTwo.lossesByReason.isEmpty, "the window and the filter together")
        }
    }

    /// Each filter is served by an index or an id range: SQLite's own plan says which.
    @Test func everyFilterIsAnIndexSeek() async throws {
        try await withStore { store in
            try await seedHistory(in: store)
            func plan(_ sql: String, _ arguments: StatementArguments) async throws -> String {
                try await store.database.read { db in
                    try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }.joined(separator: " | ")
                }
            }
            let select = "SELECT id FROM events WHERE "
            let plans = [
                ("events_sfu", try await plan(select + "sfu_url = ? AND +type = ? AND id >= ? AND id < ? ORDER BY id LIMIT 100", [Self.nodeA, "connection_lost", 1, 99])),
                ("events_reason", try await plan(select + "reason = ? ORDER BY id LIMIT 100", ["kicked"])),
                ("events_strategy", try await plan(select + "strategy = ? AND +type = ? ORDER BY id LIMIT 100", ["rejoin", "reconnected"])),
                ("sessions_call", try await plan(select + "session_id IN (SELECT id FROM sessions WHERE call_id = ?) ORDER BY id LIMIT 100", ["c1"])),
                ("sessions_user", try await plan(select + "session_id IN (SELECT id FROM sessions WHERE user_id = ?) ORDER BY id LIMIT 100", ["u1"])),
                ("sessions_sfu", try await plan("SELECT * FROM sessions WHERE sfu_url = ? ORDER BY seq DESC LIMIT 100", [Self.nodeA])),
                ("sessions_user", try await plan("SELECT * FROM sessions WHERE user_id = ? ORDER BY seq DESC LIMIT 100", ["u1"])),
                ("session_metadata", try await plan(
                    "SELECT * FROM sessions WHERE seq IN (SELECT seq FROM session_metadata WHERE key = ? AND value = ?) ORDER BY seq DESC LIMIT 100",
                    ["tenant", "acme"])),
            ]
            for (index, detail) in plans {
                #expect(detail.contains(index), "\(index) not used: \(detail)")
                #expect(!detail.contains("SCAN events") && !detail.contains("SCAN sessions"), "a full scan: \(detail)")
            }
        }
    }
}
