import Foundation
import GRDB
import TetherEventLog
import TetherEvents
import TetherPostgresStore

extension Scenarios {
    // MARK: - stats

    /// What the stats scenario writes, in turn: every type `/v1/stats` counts, with
    /// several reasons and strategies and recovery times from 1 ms to minutes.
    static func statsEvent(_ index: Int) -> SessionEventKind {
        let node = QueryFleet.nodes[index % QueryFleet.nodes.count]
        let strategies: [ReconnectStrategy] = [.fast, .fast, .rejoin, .migrate]
        let strategy = strategies[(index / 7) % strategies.count]
        switch index % 7 {
        case 0: return .joined(sfuURL: node, sfuSessionID: "sfu-\(index)")
        case 1: return .connectionLost(reason: [.unexpectedClose, .error, .healthCheckTimeout][(index / 7) % 3], closeCode: 1006, detail: nil)
        case 2: return .reconnectStarted(strategy: strategy, trigger: .connectionLost)
        case 3: return .reconnectAttemptFailed(strategy: strategy, attempt: 1, step: .connect, error: "refused")
        case 4:
            // Roughly log-uniform from 1 ms to ~3 minutes, the same every run.
            let duration = Int64(exp(Double((index &* 2_654_435_761) % 12_000) / 1_000))
            return .reconnected(strategy: strategy, attempts: 1, durationMs: duration, sfuURL: node, sfuSessionID: "sfu-\(index)")
        case 5: return .reconnectFailed(reason: ["deadline_exceeded", "flapping"][(index / 7) % 2], attempts: 3, durationMs: 30_000)
        default: return .connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: nil)
        }
    }

    /// `total` events spread evenly over `days` of event time (so the rollups hold
    /// every minute of it), written through the real writer; then `/v1/stats` windows
    /// timed `queries` times each; then, on a copy without the rollups, the migration
    /// that fills them timed at start and the first answers after it.
    public static func stats(total: Int, days: Int, sessions: Int, queries: Int, postgres: PostgresURL? = nil) async throws -> BenchReport {
        guard let postgres else {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.appendingPathComponent("bench.sqlite").path
            var report = BenchReport(scenario: "stats", parameters: "SQLite: \(total) events over \(days) days, \(sessions) sessions, \(queries) queries each")
            try await fillAndQuery(store: try EventStore.open(path: path), total: total, days: days, sessions: sessions, queries: queries, into: &report)
            // Today's release's file, as it was before the rollups: their table and their migration's record gone.
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            let old = try DatabaseQueue(path: path, configuration: configuration)
            try await old.write { db in
                try db.execute(sql: "DROP TABLE stats_rollups; DELETE FROM grdb_migrations WHERE identifier = '0012_stats_rollups'")
            }
            try old.close()
            let start = ContinuousClock.now
            let upgraded = try EventStore.open(path: path)
            report.add("start on a file without rollups: migration 0012 fills them", Samples.ms(ContinuousClock.now - start), target: "< 3 min at 2M events")
            try await timeQueries(store: upgraded, total: total, days: days, queries: queries, label: "after the upgrade: ", into: &report)
            return report
        }
        let url = try await PostgresBench.createDatabase(on: postgres)
        do {
            var report = BenchReport(scenario: "stats", parameters: "PostgreSQL: \(total) events over \(days) days, \(sessions) sessions, \(queries) queries each")
            let store = try await PostgresStore.open(url: url)
            try await fillAndQuery(store: store, total: total, days: days, sessions: sessions, queries: queries, into: &report)
            try await store.dropRollupsForBench()
            store.close()
            let start = ContinuousClock.now
            let upgraded = try await PostgresStore.open(url: url, migrationTimeout: .seconds(1800))
            report.add("start on a database without rollups: migration 0003 fills them", Samples.ms(ContinuousClock.now - start), target: "< 3 min at 2M events")
            try await timeQueries(store: upgraded, total: total, days: days, queries: queries, label: "after the upgrade: ", into: &report)
            upgraded.close()
            await PostgresBench.dropDatabase(url, on: postgres)
            return report
        } catch {
            await PostgresBench.dropDatabase(url, on: postgres)
            throw error
        }
    }

    static func statsSpanMs(days: Int) -> Int64 { Int64(days) * 86_400_000 }

    private static func fillAndQuery(
        store: any HistoryStore, total: Int, days: Int, sessions: Int, queries: Int, into report: inout BenchReport
    ) async throws {
        let log = EventLog(store: store, limits: .init(maxQueuedEvents: .max, maxQueuedBytes: .max))
        let writer = Task { try await log.run() }
        let fleet = QueryFleet(sessions: sessions)
        for index in 0..<sessions { log.save(fleet.record(index)) }
        try await log.flush(within: .seconds(120))
        let span = statsSpanMs(days: days)
        let base = eventBaseMs
        let t0 = ContinuousClock.now
        // One producer: its event clock runs far faster than the wall clock, so two
        // would drift apart by more than the writer's 1 s tolerance and every drift
        // would be recorded as a backward clock jump starting a new clock segment.
        for index in 0..<total {
            let time = base + Int64((Double(index) / Double(max(1, total))) * Double(span))
            log.append(SessionEvent(sessionID: "session-\(index % sessions)", timeMs: time, generation: 1, kind: statsEvent(index)))
            if index % 10_000 == 9_999 { await Task.yield() }
        }
        try await log.flush(within: .seconds(3600))
        let seconds = (ContinuousClock.now - t0).inSeconds
        report.add("inserts through the writer, rollups included", String(format: "%.0f events/s (%d in %.1f s)", Double(total) / seconds, total, seconds))
        // Events less than a second apart must show no jump; farther apart (--smoke's few
        // events over a day) each is a forward jump, recorded and harmless.
        if span / Int64(max(1, total)) < 1_000 {
            let jumps = try await store.events(EventQuery(types: ["clock_jump"], limit: 1)).count
            precondition(jumps == 0, "the writer saw clock jumps: the windows would not be what they seem")
        }
        try await timeQueries(store: store, total: total, days: days, queries: queries, label: "", into: &report)
        // The writer ends cleanly (its last probe written), so the file is left alone for the upgrade.
        log.stop()
        try await writer.value
    }

    /// The console's overview (one `/v1/stats?group_by=sfu_url` call) over the whole
    /// history, ending at random minutes of its last hour (so both edges are partial
    /// minutes), and narrower windows.
    private static func timeQueries(
        store: any HistoryStore, total: Int, days: Int, queries: Int, label: String, into report: inout BenchReport
    ) async throws {
        let span = statsSpanMs(days: days)
        let end = eventBaseMs + span
        func measure(_ name: String, target: String, _ window: () -> StatsQuery) async throws {
            var samples = Samples()
            var checked = 0
            for _ in 0..<queries {
                let query = window()
                let start = ContinuousClock.now
                let stats = try await store.stats(query)
                samples.add(ContinuousClock.now - start)
                checked += stats.lossesByReason.values.reduce(0, +)
            }
            precondition(checked > 0, "the windows held no losses: the bench measured nothing")
            report.add("\(label)\(name): p50 / p99", "\(samples.ms(50)) / \(samples.ms(99))", target: target)
        }
        try await measure("overview over all \(days) days (group_by sfu_url)", target: "p99 ≤ 50 ms") {
            let until = end - Int64.random(in: 0..<3_600_000)
            return StatsQuery(sinceMs: until - span, untilMs: until, groupBy: .sfuURL)
        }
        try await measure("overview over the last hour (group_by sfu_url)", target: "") {
            let until = end - Int64.random(in: 0..<3_600_000)
            return StatsQuery(sinceMs: until - 3_600_000, untilMs: until, groupBy: .sfuURL)
        }
        try await measure("group_by sfu_url over 1 % of the history, anywhere", target: "p99 ≤ 10 ms") {
            let width = span / 100
            let since = eventBaseMs + Int64.random(in: 0..<(span - width))
            return StatsQuery(sinceMs: since, untilMs: since + width, groupBy: .sfuURL)
        }
        try await measure("one node, all \(days) days", target: "") {
            StatsQuery(sinceMs: eventBaseMs - Int64.random(in: 0..<60_000), untilMs: end, sfuURL: QueryFleet.nodes.randomElement())
        }
    }
}
