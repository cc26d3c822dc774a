import Foundation
import GRDB
import Testing
import TetherTestSupport
@testable import TetherEventLog
import TetherEvents
@testable import TetherPostgresStore

/// `/v1/stats` from rollups: the buckets' error bound, how a window splits, and that
/// both stores answer every window exactly as the events themselves say (counts
/// exact, percentiles within the stated bound), also after a migration filled the
/// rollups from an existing history, and after retention.
@Suite(.timeLimit(.minutes(3)))
struct StatsRollupTests {
    static let nodes = ["ws://10.0.0.1:9000/ws", "ws://10.0.0.2:9000/ws", "ws://10.0.0.3:9000/ws"]
    static let day: Int64 = 86_400_000

    @Test func everyDurationIsReportedWithinTheBoundAndExactUpTo100ms() {
        var random = SplitMix64(seed: 7)
        var samples = Array(Int64(0)...5_000)
        for _ in 0..<20_000 { samples.append(Int64.random(in: 0...RecoveryBuckets.capMs, using: &random)) }
        for value in samples {
            let reported = RecoveryBuckets.representative(of: RecoveryBuckets.index(of: value))
            if value <= 100 { #expect(reported == value) }
            #expect(Double(abs(reported - value)) <= RecoveryBuckets.relativeError * Double(value), "\(value) reported as \(reported)")
        }
        #expect(RecoveryBuckets.representative(of: RecoveryBuckets.index(of: RecoveryBuckets.capMs + 1)) == RecoveryBuckets.capMs)
        #expect(RecoveryBuckets.index(of: -5) == 0 && RecoveryBuckets.index(of: nil) == RecoveryBuckets.overflow)
        // The coarse histogram's bounds are fine bounds, so it is a sum of fine buckets.
        for bound in EventStats.histogramBoundsMs { #expect(RecoveryBuckets.upperBounds.contains(bound)) }
        #expect(RecoveryBuckets.upperBounds.count < 600, "a few hundred buckets")
    }

    @Test func aCellReadsBackAsWrittenAndRefusesBytesItDidNotWrite() throws {
        var cell = RollupCell()
        cell.add(type: "connection_lost", label: "unexpected_close", count: 3)
        cell.add(type: "reconnect_failed", label: "ünïcode \u{0} reason", count: 1 << 40)
        cell.addRecovery(bucket: 0, count: 2)
        cell.addRecovery(bucket: RecoveryBuckets.index(of: 12_345), count: 7)
        cell.addRecovery(bucket: RecoveryBuckets.overflow, count: 1)
        let bytes = cell.encoded()
        #expect(try RollupCell(decoding: bytes) == cell)
        #expect(throws: RollupCell.Malformed.self) { try RollupCell(decoding: []) }
        #expect(throws: RollupCell.Malformed.self) { try RollupCell(decoding: [2] + bytes.dropFirst()) }
        for cut in 1..<bytes.count {
            #expect(throws: RollupCell.Malformed.self) { try RollupCell(decoding: Array(bytes.prefix(cut))) }
        }
        #expect(throws: RollupCell.Malformed.self) { try RollupCell(decoding: bytes + [0]) }
        // A length that runs past the end, and a varint that never ends.
        #expect(throws: RollupCell.Malformed.self) { try RollupCell(decoding: [1, 1, 0xFF, 0xFF, 0xFF, 0x0F]) }
        #expect(throws: RollupCell.Malformed.self) { try RollupCell(decoding: [1] + Array(repeating: 0xFF, count: 12)) }
    }

    @Test func aWindowSplitsIntoWholeBucketsAndPartialMinutesThatCoverItOnce() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<2_000 {
            let since = Int64.random(in: 0...(30 * Self.day), using: &random)
            let until = since + Int64.random(in: 0...(9 * Self.day), using: &random)
            let window = RollupWindow(sinceMs: since, untilMs: until)
            var pieces = window.raw
            for part in window.rollups {
                #expect(part.fromMs % part.spanMs == 0 && part.untilMs % part.spanMs == 0 && part.fromMs < part.untilMs)
                pieces.append(part.fromMs..<part.untilMs)
            }
            pieces.sort { $0.lowerBound < $1.lowerBound }
            var next = since
            for piece in pieces where !piece.isEmpty {
                #expect(piece.lowerBound == next, "no gap, no overlap")
                next = piece.upperBound
            }
            #expect(next == until || since == until)
            #expect(window.raw.count <= 2 && window.raw.allSatisfy { $0.count < 60_000 }, "only partial minutes are read raw")
            #expect(window.rollups.count <= 5)
        }
        #expect(RollupWindow(sinceMs: .max - 10, untilMs: .max).rollups.isEmpty, "no overflow near the end of time")
    }

    /// Random history over three days on three nodes: every window's figures equal the
    /// ones counted from the events in the test (counts exact; percentiles within 2 % of
    /// the exact nearest-rank value), on both stores, and both stores answer alike.
    @Test(arguments: StoreKind.allCases) func rollupsAnswerAsTheEventsThemselves(kind: StoreKind) async throws {
        let history = Self.history(seed: 3, events: 3_000, days: 3)
        try await kind.withStore { store in
            try await Self.write(history, to: store)
            var random = SplitMix64(seed: 5)
            var windows: [(Int64, Int64)] = [(0, 4 * Self.day), (Self.day + 1, 2 * Self.day - 1), (1_234_567, 1_234_567 + 3_600_000 * 30 + 61_001)]
            for _ in 0..<25 {
                let since = Int64.random(in: 0...(3 * Self.day), using: &random)
                windows.append((since, since + Int64.random(in: 0...(2 * Self.day), using: &random)))
            }
            for (since, until) in windows {
                for grouping in [nil, StatsQuery.Grouping.sfuURL] {
                    let query = StatsQuery(sinceMs: since, untilMs: until, groupBy: grouping)
                    Self.expectMatches(try await store.stats(query), Self.expected(history, query), "\(kind) \(since)..<\(until) \(String(describing: grouping))")
                }
                let onNode = StatsQuery(sinceMs: since, untilMs: until, sfuURL: Self.nodes[1])
                Self.expectMatches(try await store.stats(onNode), Self.expected(history, onNode), "\(kind) node filter \(since)..<\(until)")
            }
        }
    }

    /// A history written before the rollups existed is rolled up by the migration:
    /// the rollup table and the migration's record are dropped, the store opened again.
    @Test(arguments: StoreKind.allCases) func theMigrationRollsUpAnExistingHistory(kind: StoreKind) async throws {
        let history = Self.history(seed: 9, events: 2_000, days: 2)
        let (db, cleanup) = try kind.makeDatabase()
        defer { cleanup() }
        let query = StatsQuery(sinceMs: 0, untilMs: 3 * Self.day, groupBy: .sfuURL)
        let after: EventStats
        switch kind {
        case .sqlite:
            let store = try EventStore.open(path: db)
            try await Self.write(history, to: store)
            let before = try await store.stats(query)
            try await store.database.write { db in
                try db.execute(sql: "DROP TABLE stats_rollups; DELETE FROM grdb_migrations WHERE identifier = '0012_stats_rollups'")
            }
            let reopened = try EventStore.open(path: db)
            after = try await reopened.stats(query)
            #expect(after == before)
            #expect(try await reopened.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM stats_rollups") ?? 0 } > 0)
        case .postgres:
            let url = try PostgresURL(parsing: db)
            let store = try await PostgresStore.open(url: url)
            try await Self.write(history, to: store)
            let before = try await store.stats(query)
            try await store.pools.writer.query("DROP TABLE stats_rollups")
            try await store.pools.writer.query("DELETE FROM tether_migrations WHERE name = '0003_stats_rollups'")
            store.close()
            let reopened = try await PostgresStore.open(url: url)
            defer { reopened.close() }
            after = try await reopened.stats(query)
            #expect(after == before)
        }
        Self.expectMatches(after, Self.expected(history, query), "\(kind) after the migration")
    }

    /// Retention drops the rollup buckets wholly before the cutoff with the events, and
    /// what stays answers as the events that stay.
    @Test(arguments: StoreKind.allCases) func retentionPrunesRollupsWithTheEvents(kind: StoreKind) async throws {
        let history = Self.history(seed: 13, events: 1_500, days: 3)
        try await kind.withStore { store in
            try await Self.write(history, to: store)
            let cutoff = 2 * Self.day  // a whole day: no bucket holds it
            _ = try await store.prune(eventsBefore: cutoff, batch: 500)
            let all = StatsQuery(sinceMs: 0, untilMs: 4 * Self.day)
            Self.expectMatches(try await store.stats(all), Self.expected(history.filter { $0.timeMs >= cutoff }, all), "\(kind) after pruning")
            let early = try await store.stats(StatsQuery(sinceMs: 0, untilMs: cutoff))
            #expect(early.lossesByReason.isEmpty && early.recoveryCount == 0, "nothing left before the cutoff, rollups included")
        }
    }

    // MARK: - History and the expected figures

    static func history(seed: UInt64, events: Int, days: Int64) -> [SessionEvent] {
        var random = SplitMix64(seed: seed)
        let reasons: [LossReason] = [.unexpectedClose, .error, .healthCheckTimeout]
        let strategies: [ReconnectStrategy] = [.fast, .rejoin, .migrate]
        return (0..<events).map { _ in
            let time = Int64.random(in: 0..<(days * day), using: &random)
            let session = "s\(Int.random(in: 0..<6, using: &random))"
            let node = nodes.randomElement(using: &random)!
            let kind: SessionEventKind
            switch Int.random(in: 0..<8, using: &random) {
            case 0: kind = .joined(sfuURL: node, sfuSessionID: "x")
            case 1, 2: kind = .connectionLost(reason: reasons.randomElement(using: &random)!, closeCode: nil, detail: nil)
            case 3: kind = .reconnectStarted(strategy: strategies.randomElement(using: &random)!, trigger: .connectionLost)
            case 4: kind = .reconnectFailed(reason: ["deadline_exceeded", "flapping"].randomElement(using: &random)!, attempts: 3, durationMs: 9_000)
            case 5: kind = .reconnectAttemptFailed(strategy: .fast, attempt: 1, step: .resume, error: "no")
            default:
                // Log-uniform durations, 0 ms to beyond a day (the overflow bucket).
                let duration = Int64(exp(Double.random(in: 0...19, using: &random))) - 1
                kind = .reconnected(strategy: strategies.randomElement(using: &random)!, attempts: 1, durationMs: duration, sfuURL: node, sfuSessionID: "y")
            }
            return SessionEvent(sessionID: session, timeMs: time, generation: 1, kind: kind)
        }
        .sorted { $0.timeMs < $1.timeMs }
    }

    /// Sessions first (each on a node of its own), then the events in batches of 250.
    static func write(_ history: [SessionEvent], to store: any HistoryStore) async throws {
        var writes: [EventLog.Write] = (0..<6).map { index in
            var record = SessionRecord(
                id: "s\(index)", state: "joined", callID: "c\(index / 2)", userID: "u\(index)", dialect: "stream", sfuURLs: "[]", sfuToken: "",
                dialectOptions: nil, policy: "{}", metadata: "{}", sfuURL: nodes[index % nodes.count], idempotencyKey: nil,
                requestFingerprint: nil, createdAtMs: 0)
            record.updatedAtMs = 0
            return .session(record)
        }
        _ = try await store.write(writes[...], clock: ClockGuard(lastStoredTimeMs: nil), monotonicNow: .zero)
        var clock = ClockGuard(toleranceMs: .max / 4, lastStoredTimeMs: nil)
        for start in stride(from: 0, to: history.count, by: 250) {
            writes = history[start..<min(start + 250, history.count)].map { event in
                .event(event, payload: String(decoding: try! JSONEncoder().encode(event), as: UTF8.self))
            }
            (_, clock) = try await store.write(writes[...], clock: clock, monotonicNow: .seconds(Int64(start)))
        }
    }

    /// The figures counted from `history` in Swift: exact counts and exact nearest-rank
    /// percentiles (the stores' may differ from these by the stated bound).
    static func expected(_ history: [SessionEvent], _ query: StatsQuery) -> EventStats {
        var tally = StatsTally()
        var durations: [String: [Int64]] = [:]
        for event in history where event.timeMs >= query.sinceMs && event.timeMs < query.untilMs {
            let sessionNode = nodes[Int(event.sessionID.dropFirst())! % nodes.count]
            let node = event.namedSFUURL ?? sessionNode
            if let sfuURL = query.sfuURL, node != sfuURL { continue }
            let (reason, strategy, duration) = event.statsColumns
            guard let label = StatsTally.label(type: event.type, reason: reason, strategy: strategy) else { continue }
            let group = query.groupBy == .sfuURL ? node : ""
            tally.add(group: group, type: event.type, label: label, count: 1)
            if event.type == "reconnected" {
                tally.addRecoveries(group: group, bucket: RecoveryBuckets.index(of: duration), count: 1)
                durations[group, default: []].append(duration ?? 0)
            }
        }
        var stats = tally.stats(for: query)
        func exact(_ values: [Int64]) -> [Int: Int64] {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return [:] }
            return Dictionary(uniqueKeysWithValues: EventStats.percentiles.map { ($0, sorted[EventStats.rank(percentile: $0, count: sorted.count) - 1]) })
        }
        stats.recoveryPercentilesMs = exact(durations.values.flatMap { $0 })
        stats.groups = stats.groups.map { group in
            var group = group
            group.recoveryPercentilesMs = exact(durations[group.key] ?? [])
            return group
        }
        return stats
    }

    static func expectMatches(_ actual: EventStats, _ expected: EventStats, _ what: String) {
        func close(_ actual: [Int: Int64], _ exact: [Int: Int64]) -> Bool {
            guard actual.keys.sorted() == exact.keys.sorted() else { return false }
            return exact.allSatisfy { p, value in
                let reported = actual[p]!
                return value > RecoveryBuckets.capMs ? reported == RecoveryBuckets.capMs
                    : Double(abs(reported - value)) <= RecoveryBuckets.relativeError * Double(value)
            }
        }
        var counts = actual
        var expectedCounts = expected
        counts.recoveryPercentilesMs = [:]
        expectedCounts.recoveryPercentilesMs = [:]
        counts.groups = counts.groups.map { var group = $0; group.recoveryPercentilesMs = [:]; return group }
        expectedCounts.groups = expectedCounts.groups.map { var group = $0; group.recoveryPercentilesMs = [:]; return group }
        #expect(counts == expectedCounts, "counts: \(what)")
        #expect(close(actual.recoveryPercentilesMs, expected.recoveryPercentilesMs), "percentiles \(actual.recoveryPercentilesMs) vs exact \(expected.recoveryPercentilesMs): \(what)")
        for (group, exact) in zip(actual.groups, expected.groups) {
            #expect(close(group.recoveryPercentilesMs, exact.recoveryPercentilesMs), "\(group.key): \(what)")
        }
    }
}
