import Foundation
import Logging
import PostgresNIO
import TetherEvents
import TetherPostgresStore

/// What the benchmarks need on a PostgreSQL server: a database of their own for each
/// run (made on the server `--db` names, dropped afterwards, so a bench never touches
/// a database it did not make), and the raw insert floor.
public enum PostgresBench {
    /// Creates `tether_bench_<hex>` on the server of `maintenance` and returns its URL.
    public static func createDatabase(on maintenance: PostgresURL) async throws -> PostgresURL {
        let name = "tether_bench_\(String(UInt64.random(in: .min ... .max), radix: 16))"
        try await withClient(maintenance) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        var url = maintenance
        url.database = name
        return url
    }

    public static func dropDatabase(_ url: PostgresURL, on maintenance: PostgresURL) async {
        try? await withClient(maintenance) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)"))
        }
    }

    /// Runs `body` with a one-connection client on `url`, running and then stopped.
    static func withClient<T: Sendable>(_ url: PostgresURL, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: url.tls)
        configuration.options.maximumConnections = 1
        let client = PostgresClient(configuration: configuration)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// The events table as `migrations-postgres/0001_init.sql` makes it (with its
    /// indexes), written out: the floor must not run Tether's migrations.
    static let eventsTableSQL = [
        """
        CREATE TABLE events (
            id BIGINT PRIMARY KEY, session_id TEXT NOT NULL, type TEXT NOT NULL, time_ms BIGINT NOT NULL,
            generation BIGINT NOT NULL, reason TEXT, strategy TEXT, duration_ms BIGINT, payload TEXT NOT NULL, sfu_url TEXT)
        """,
        "CREATE INDEX events_session ON events(session_id, id)",
        "CREATE INDEX events_type ON events(type, id)",
        "CREATE INDEX events_time ON events(time_ms, id)",
        "CREATE INDEX events_sfu ON events(sfu_url, id) WHERE sfu_url IS NOT NULL",
        "CREATE INDEX events_reason ON events(reason, id) WHERE reason IS NOT NULL",
        "CREATE INDEX events_strategy ON events(strategy, id) WHERE strategy IS NOT NULL",
    ]

    /// Raw postgres-nio inserts of `rows` rows shaped as the events scenario's (the same
    /// mix, payloads, session spread and time steps), 20,000 per transaction as the
    /// writer batches them, each batch one `INSERT … SELECT FROM UNNEST(arrays)`
    /// statement: the cheapest way to PostgreSQL, on a fresh database of its own.
    /// Returns the time from the first insert to the last commit; payloads are encoded
    /// before the clock starts.
    public static func measureInserts(maintenance: PostgresURL, rows: Int, sessions: Int) async throws -> Duration {
        let url = try await createDatabase(on: maintenance)
        do {
            let elapsed = try await withClient(url) { client in
                for statement in eventsTableSQL { try await client.query(PostgresQuery(unsafeSQL: statement)) }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.withoutEscapingSlashes]
                let mix = try Scenarios.eventMix.map { kind in
                    let event = SessionEvent(sessionID: "session-0", timeMs: Scenarios.eventBaseMs, generation: 1, kind: kind)
                    let (reason, strategy, durationMs) = event.statsColumns
                    return (type: event.type, reason: reason ?? "", strategy: strategy ?? "", durationMs: durationMs ?? -1,
                            sfuURL: event.namedSFUURL ?? "", payload: String(decoding: try encoder.encode(event), as: UTF8.self))
                }
                let started = ContinuousClock.now
                for batchStart in stride(from: 0, to: rows, by: 20_000) {
                    let batch = batchStart..<min(batchStart + 20_000, rows)
                    var ids: [Int64] = [], sessionIDs: [String] = [], types: [String] = [], times: [Int64] = []
                    var reasons: [String] = [], strategies: [String] = [], durations: [Int64] = [], payloads: [String] = [], urls: [String] = []
                    for index in batch {
                        let row = mix[index % mix.count]
                        ids.append(Int64(index + 1))
                        sessionIDs.append("session-\(index % sessions)")
                        types.append(row.type)
                        times.append(Scenarios.eventBaseMs + Int64(index / Scenarios.eventsPerMs))
                        reasons.append(row.reason)
                        strategies.append(row.strategy)
                        durations.append(row.durationMs)
                        payloads.append(row.payload)
                        urls.append(row.sfuURL)
                    }
                    try await client.withTransaction(logger: Logger(label: "tether.bench")) { connection in
                        try await connection.query("""
                            INSERT INTO events (id, session_id, type, time_ms, generation, reason, strategy, duration_ms, payload, sfu_url)
                            SELECT i, s, t, tm, 1, NULLIF(r, ''), NULLIF(st, ''), NULLIF(d, -1), p, NULLIF(u, '')
                            FROM UNNEST(\(ids)::bigint[], \(sessionIDs)::text[], \(types)::text[], \(times)::bigint[], \(reasons)::text[],
                                        \(strategies)::text[], \(durations)::bigint[], \(payloads)::text[], \(urls)::text[])
                                AS x(i, s, t, tm, r, st, d, p, u)
                            """, logger: Logger(label: "tether.bench"))
                    }
                }
                return ContinuousClock.now - started
            }
            await dropDatabase(url, on: maintenance)
            return elapsed
        } catch {
            await dropDatabase(url, on: maintenance)
            throw error
        }
    }
}
