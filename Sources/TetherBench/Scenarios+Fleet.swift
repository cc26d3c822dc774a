import AsyncHTTPClient
import Foundation
import NIOCore
import PostgresNIO
import TetherPostgresStore

extension Scenarios {
    // MARK: - fleet

    /// Real `tether serve` instances on one PostgreSQL database (a database of the run's
    /// own on `maintenance`'s server), `perInstance` sessions each on one simulator; one
    /// instance is killed with `kill -9` and the others adopt its sessions. Measures how
    /// long adoption takes, what it costs the SFU, whether any session ever showed two
    /// agents, and what the lease costs the database in the steady state.
    public static func fleet(
        maintenance: PostgresURL, instances count: Int, perInstance: Int, callSize: Int = 4, leaseTTL: Duration, steady: Duration
    ) async throws -> BenchReport {
        var report = BenchReport(
            scenario: "fleet",
            parameters: "\(count) instances × \(perInstance) sessions in calls of \(callSize), lease \(leaseTTL), kill -9 of one")
        let database = try await PostgresBench.createDatabase(on: maintenance)
        var instances: [ServeProcess] = []
        defer {
            for instance in instances { instance.crash() }
        }
        do {
            try await withSimulator { simulator in
                var environment: [String: String] = [:]
                if let password = database.password { environment["PGPASSWORD"] = password }
                let dbArgument = "postgres://\(database.user)@\(database.host):\(database.port)/\(database.database)?sslmode=\(database.sslMode)"
                for index in 0..<count {
                    instances.append(try await ServeProcess.start([
                        "--db", dbArgument, "--instance-id", "bench-\(index)", "--lease-ttl", "\(leaseTTL.components.seconds)s",
                        "--max-sessions", String(perInstance * count), "--log-level", "error", "--shutdown-grace", "5s",
                    ], environment: environment))
                }
                try await waitForServing(count, via: instances[0].base)
                let created = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, instance) in instances.enumerated() {
                        group.addTask {
                            try await createSessions(perInstance, on: instance.base, prefix: "i\(index)", callSize: callSize, sfuURL: simulator.url)
                        }
                    }
                    try await group.waitForAll()
                }
                report.add("sessions created and joined (all instances)", "\(perInstance * count) in \(Samples.ms(ContinuousClock.now - created))")

                let victimProcess = instances[count - 1]
                let measured = try await PostgresBench.withClient(database) { client in
                    try await measureAdoption(
                        client: client, simulator: simulator, victim: "bench-\(count - 1)", kill: { victimProcess.crash() },
                        instances: count, leaseTTL: leaseTTL, steady: steady)
                }
                let renewals = Double(count) * measured.window.inSeconds / (leaseTTL / 5).inSeconds
                report.add(
                    "instances rows updated per renewal, steady \(Int(steady.inSeconds)) s",
                    String(format: "%.2f (%d updates, %.0f renewals due)", Double(measured.instanceUpdates) / renewals,
                           measured.instanceUpdates, renewals),
                    target: "1 statement per instance per renewal, whatever its session count")
                report.add("session rows updated meanwhile (the sessions' own writes; renewals write none)", String(measured.sessionUpdates))
                report.add("kill -9 → first session claimed", measured.firstClaim.map(Samples.ms) ?? "never")
                report.add(
                    "kill -9 → all \(measured.owned) of its sessions joined elsewhere",
                    measured.adopted == measured.owned
                        ? Samples.ms(measured.took) : "\(measured.adopted) of \(measured.owned) after \(Samples.ms(measured.took))",
                    target: "≤ TTL + 10 s (\(Int((leaseTTL + .seconds(10)).inSeconds)) s)")
                report.add("adopted sessions that failed", String(measured.failed), target: "0")
                report.add(
                    "SFU connections per adopted session",
                    String(format: "%.2f", Double(measured.connections) / Double(max(measured.owned, 1))), target: "≤ 1.1")
                let overlapping = try await overlaps(simulator)
                report.add("sessions that ever had two live agents at the SFU", String(overlapping), target: "0")
                if overlapping > 0 {
                    // Which ones, and what Tether recorded for them: the table says how many.
                    let details = try await overlapDetails(simulator, database: database)
                    FileHandle.standardError.write(Data(("overlapping sessions:\n" + details + "\n").utf8))
                }
            }
        } catch {
            await PostgresBench.dropDatabase(database, on: maintenance)
            throw error
        }
        for instance in instances { instance.crash() }
        instances = []
        await PostgresBench.dropDatabase(database, on: maintenance)
        return report
    }

    struct AdoptionMeasure: Sendable {
        var window: Duration
        var instanceUpdates: Int64
        var sessionUpdates: Int64
        var owned: Int64
        var adopted: Int64
        var failed: Int64
        var firstClaim: Duration?
        var took: Duration
        var connections: Int
    }

    /// A steady window (the leases' updates), then `kill` and the adoption, polled in SQL.
    static func measureAdoption(
        client: PostgresClient, simulator: SimulatorProcess, victim: String, kill: @Sendable () -> Void,
        instances: Int, leaseTTL: Duration, steady: Duration
    ) async throws -> AdoptionMeasure {
        let (updatesBefore, sessionUpdatesBefore) = try await tableUpdates(client)
        let windowStart = ContinuousClock.now
        try await Task.sleep(for: steady)
        let (updatesAfter, sessionUpdatesAfter) = try await tableUpdates(client)
        let window = ContinuousClock.now - windowStart

        let owned = try await client.query("SELECT count(*) FROM sessions WHERE owner_instance = \(victim) AND state = 'joined'")
            .collect().first?.decode(Int64.self) ?? 0
        let connectionsBefore = try await connectionsAccepted(simulator)
        kill()
        let killed = ContinuousClock.now
        var firstClaim: Duration?
        var adopted: Int64 = 0
        var failed: Int64 = 0
        let deadline = killed + leaseTTL + .seconds(120)
        while ContinuousClock.now < deadline {
            let row = try await client.query("""
                SELECT count(*) FILTER (WHERE owner_instance IS NOT NULL AND owner_instance <> \(victim)),
                       count(*) FILTER (WHERE owner_instance IS NOT NULL AND owner_instance <> \(victim) AND state = 'joined'),
                       count(*) FILTER (WHERE state IN ('failed', 'ended', 'left'))
                FROM sessions WHERE released_from = \(victim) OR owner_instance = \(victim)
                """).collect().first?.decode((Int64, Int64, Int64).self)
            if let (claimed, joined, ended) = row {
                if claimed > 0, firstClaim == nil { firstClaim = ContinuousClock.now - killed }
                adopted = joined
                failed = ended
                if joined + ended >= owned { break }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let took = ContinuousClock.now - killed
        return AdoptionMeasure(
            window: window, instanceUpdates: updatesAfter - updatesBefore, sessionUpdates: sessionUpdatesAfter - sessionUpdatesBefore,
            owned: owned, adopted: adopted, failed: failed, firstClaim: firstClaim, took: took,
            connections: try await connectionsAccepted(simulator) - connectionsBefore)
    }

    static func waitForServing(_ count: Int, via base: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let object = try? await getJSON(base + "/v1/instances")
            let serving = (object?["instances"] as? [[String: Any]] ?? []).filter { $0["state"] as? String == "serving" }
            if serving.count >= count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchError("the fleet's \(count) instances were not all serving within 60 s")
    }

    /// Creates `total` sessions through `base`, 32 at a time, in calls of `callSize`; each
    /// answers once joined.
    static func createSessions(_ total: Int, on base: String, prefix: String, callSize: Int, sfuURL: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<total {
                if index >= 32 { try await group.next() }
                group.addTask {
                    // Every join and leave is announced to the call's other participants, so
                    // call size sets the SFU's and Tether's work per adoption.
                    let call = "default:fleet-\(prefix)-\(index / max(callSize, 1))"
                    let user = "\(prefix)-agent-\(index)"
                    let body: [String: Any] = [
                        "call_id": call, "user_id": user,
                        "sfu": ["dialect": "stream", "urls": [sfuURL], "token": Fleet.token(call: call, user: user)],
                    ]
                    var request = HTTPClientRequest(url: base + "/v1/sessions")
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    guard response.status == .created else { throw BenchError("create answered \(response.status)") }
                }
            }
            try await group.waitForAll()
        }
    }

    static func getJSON(_ url: String) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }

    /// Rows updated so far in `instances` and in `sessions` (the statistics collector's
    /// counts; flushed by each backend at least every second while it works).
    static func tableUpdates(_ client: PostgresClient) async throws -> (instances: Int64, sessions: Int64) {
        try await client.query("SELECT pg_stat_clear_snapshot()").collect()
        var counts: [String: Int64] = [:]
        for try await (table, updates) in try await client.query(
            "SELECT relname::text, n_tup_upd FROM pg_stat_user_tables WHERE relname IN ('instances', 'sessions')"
        ).decode((String, Int64).self) {
            counts[table] = updates
        }
        return (counts["instances"] ?? 0, counts["sessions"] ?? 0)
    }

    static func connectionsAccepted(_ simulator: SimulatorProcess) async throws -> Int {
        let state = try await Admin.state(simulator)
        return ((state["counters"] as? [String: Any])?["connections_accepted"] as? Int) ?? 0
    }

    /// The spans of up to three lineages that overlapped, and each one's history.
    static func overlapDetails(_ simulator: SimulatorProcess, database: PostgresURL) async throws -> String {
        let lineages = (try await getJSON(simulator.admin + "/participants"))["lineages"] as? [String: [[String: Any]]] ?? [:]
        var lines: [String] = []
        for (lineage, spans) in lineages where lines.count < 3 {
            let sorted = spans.sorted { ($0["joined_at_ms"] as? Int ?? 0) < ($1["joined_at_ms"] as? Int ?? 0) }
            let overlapped = zip(sorted, sorted.dropFirst()).contains { earlier, later in
                (earlier["left_at_ms"] as? Int).map { $0 > later["joined_at_ms"] as? Int ?? 0 } ?? true
            }
            guard overlapped else { continue }
            let ids = sorted.compactMap { $0["sfu_session_id"] as? String }
            let history = try await PostgresBench.withClient(database) { client in
                var text = ""
                for try await (session, type, instance, time) in try await client.query("""
                    SELECT e.session_id, e.type, coalesce(e.payload::json->>'instance_id', ''), e.time_ms FROM events e
                    JOIN sessions s ON s.id = e.session_id WHERE s.sfu_session_id = ANY(\(ids)) ORDER BY e.id
                    """).decode((String, String, String, Int64).self) {
                    text += "    \(session) \(type) \(instance) \(time)\n"
                }
                return text
            }
            lines.append("  lineage \(lineage): \(sorted)\n" + history)
        }
        return lines.joined(separator: "\n")
    }

    static func overlaps(_ simulator: SimulatorProcess) async throws -> Int {
        (try await getJSON(simulator.admin + "/participants"))["overlaps"] as? Int ?? -1
    }
}
