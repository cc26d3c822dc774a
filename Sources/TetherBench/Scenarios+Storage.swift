import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import TetherEventLog
import TetherPostgresStore
import TetherEvents
import TetherService

extension Scenarios {
    // MARK: - events

    /// What the events scenario inserts, in turn; the machine floor inserts rows of the
    /// same kinds, so payload sizes and index keys match.
    static let eventMix: [SessionEventKind] = [
        .connectionLost(reason: .unexpectedClose, closeCode: 1006, detail: "the connection ended with no close frame"),
        .reconnectStarted(strategy: .fast, trigger: .connectionLost),
        .reconnected(strategy: .fast, attempts: 1, durationMs: 3, sfuURL: "ws://127.0.0.1:9001/ws", sfuSessionID: "5f0c2b1e-7d44-4e4a-9a51-5d2f4f0b7c11"),
    ]
    /// Event time of the first event (ms since 1970).
    static let eventBaseMs: Int64 = 1_800_000_000_000
    /// 1,000 events per millisecond of event time: the run's event clock moves slower
    /// than the wall clock and producers interleave within a few ms, as real sessions
    /// stamping one clock do; so the writer sees neither clock jumps nor segments.
    static let eventsPerMs = 1000

    /// The sustained insert rate through the real writer, then query latencies with
    /// `total` events stored. The rate is also set against `floor`'s raw SQLite inserts
    /// of as many rows.
    ///
    /// With `postgres` (a server's maintenance URL), the same on PostgreSQL: the store on
    /// a database of its own made there, and the floor raw postgres-nio inserts of the
    /// same rows in the same batches (``PostgresBench/measureInserts(maintenance:rows:sessions:)``).
    public static func events(total: Int, sessions: Int, queries: Int, floor: MachineFloor, postgres: PostgresURL? = nil) async throws -> BenchReport {
        guard let postgres else {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let store = try EventStore.open(path: folder.appendingPathComponent("bench.sqlite").path)
            return try await events(
                store: store, storeName: "SQLite", total: total, sessions: sessions, queries: queries,
                floorRate: floor.insertsPerSecond, floorName: "raw SQLite floor")
        }
        let floorTime = try await PostgresBench.measureInserts(maintenance: postgres, rows: total, sessions: sessions)
        let floorRate = Double(total) / floorTime.inSeconds
        let url = try await PostgresBench.createDatabase(on: postgres)
        do {
            let store = try await PostgresStore.open(url: url)
            defer { store.close() }
            var report = try await events(
                store: store, storeName: "PostgreSQL", total: total, sessions: sessions, queries: queries,
                floorRate: floorRate, floorName: "raw postgres-nio floor")
            report.add("raw postgres-nio floor (UNNEST, 20,000 rows per commit)", String(format: "%.0f events/s", floorRate))
            await PostgresBench.dropDatabase(url, on: postgres)
            return report
        } catch {
            await PostgresBench.dropDatabase(url, on: postgres)
            throw error
        }
    }

    static func events(
        store: any HistoryStore, storeName: String, total: Int, sessions: Int, queries: Int, floorRate: Double?, floorName: String
    ) async throws -> BenchReport {
        var report = BenchReport(scenario: "events", parameters: "\(storeName): \(total) events over \(sessions) sessions, \(queries) queries each")
        // No queue limit here: this measures how fast the writer drains a burst, so every
        // event must be kept (the service caps its queue; see EventLog.Limits).
        let log = EventLog(store: store, limits: .init(maxQueuedEvents: .max, maxQueuedBytes: .max))
        let writer = Task { try await log.run() }
        // The sessions the events belong to, spread over nodes, calls, users and
        // tenants for the filter queries (written first, as the service does).
        let fleet = QueryFleet(sessions: sessions)
        for index in 0..<sessions { log.save(fleet.record(index)) }
        try await log.flush(within: .seconds(120))
        let base = eventBaseMs
        let kinds = eventMix
        let perMs = eventsPerMs
        let events = (0..<total).map { index in
            var kind = kinds[index % kinds.count]
            // A reconnection lands on its session's node, as in the service.
            if case .reconnected(let strategy, let attempts, let duration, _, let sfuSessionID) = kind {
                kind = .reconnected(
                    strategy: strategy, attempts: attempts, durationMs: duration,
                    sfuURL: QueryFleet.nodes[(index % sessions) % QueryFleet.nodes.count], sfuSessionID: sfuSessionID)
            }
            return SessionEvent(sessionID: "session-\(index % sessions)", timeMs: base + Int64(index / perMs), generation: 1, kind: kind)
        }
        // Where the time goes: the payload encoding alone, and the producer alone.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let encodeStart = ContinuousClock.now
        for event in events.prefix(100_000) { _ = try encoder.encode(event) }
        let encodeTime = (ContinuousClock.now - encodeStart) / min(100_000, events.count)
        report.add("JSON payload encoding alone", "\(Samples.ms(encodeTime * 1000)) per 1000 events")

        // Sessions append from many tasks; two producers stand in for them here.
        let t0 = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            // Interleaved (even and odd events), as sessions sharing one wall clock are:
            // their stamps differ by a hair, never by the half-run a split in halves
            // would put between them (which the writer would rightly record as clock jumps).
            for parity in 0..<2 {
                group.addTask { for index in stride(from: parity, to: events.count, by: 2) { log.append(events[index]) } }
            }
        }
        let appendTime = ContinuousClock.now - t0
        try await log.flush(within: .seconds(600))
        let elapsed = ContinuousClock.now - t0
        report.add("producers (2 tasks): append() of all events, JSON encoding included", Samples.ms(appendTime))
        let seconds = elapsed.inSeconds
        let rate = Double(total) / seconds
        let target = store is EventStore ? "≥ 100,000 events/s with synced commits" : "≥ 50,000 events/s with synchronous commits"
        report.add("sustained inserts through the writer", String(format: "%.0f events/s (%d in %.2f s)", rate, total, seconds), target: target)
        report.add("inserts/s ÷ \(floorName)", FloorRatio.percent(rate, of: floorRate), target: "≥ 60 %")

        var timeline = Samples()
        for _ in 0..<queries {
            let session = "session-\(Int.random(in: 0..<sessions))"
            let start = ContinuousClock.now
            let page = try await store.events(EventQuery(sessionID: session, limit: 1000))
            timeline.add(ContinuousClock.now - start)
            precondition(!page.isEmpty)
        }
        report.add("session timeline (≈\(total / sessions) events), p50", timeline.ms(50))
        report.add("session timeline, p99", timeline.ms(99), target: "≤ 5 ms")

        var filtered = Samples()
        for _ in 0..<queries {
            let since = base + Int64.random(in: 0..<Int64(max(1, total / perMs)))
            let start = ContinuousClock.now
            _ = try await store.events(EventQuery(types: ["connection_lost"], sinceMs: since, limit: 100))
            filtered.add(ContinuousClock.now - start)
        }
        report.add("filtered /v1/events query (type + since, 100 rows), p50", filtered.ms(50))
        report.add("filtered query, p99", filtered.ms(99))
        try await filterLatencies(store: store, fleet: fleet, total: total, queries: queries, into: &report)
        if let sqlite = store as? EventStore {
            try await secretsAtRest(store: sqlite, log: log, fleet: fleet, total: total, into: &report)
        }
        log.stop()
        try await writer.value
        return report
    }

    /// What keeping secrets off the disk costs: the WAL wipe (checkpoint + truncate)
    /// after a session ends, and `secure_delete` on a retention sweep (half the events
    /// deleted with it, the other half without, on the same file).
    static func secretsAtRest(store: EventStore, log: EventLog, fleet: QueryFleet, total: Int, into report: inout BenchReport) async throws {
        let walPath = store.path + "-wal"
        let walBytes = ((try? FileManager.default.attributesOfItem(atPath: walPath))?[.size] as? NSNumber)?.intValue ?? 0
        let bigWipe = ContinuousClock.now
        try await store.wipeRetiredSecrets()
        report.add("WAL wipe after the whole run (\(walBytes / 1_048_576) MiB of WAL)", Samples.ms(ContinuousClock.now - bigWipe))
        var wipes = Samples()
        for index in 0..<100 {
            var ended = fleet.record(index)
            ended.state = "left"
            ended.sfuToken = ""
            log.save(ended)
            try await log.flush(within: .seconds(10))
            let start = ContinuousClock.now
            try await store.wipeRetiredSecrets()
            wipes.add(ContinuousClock.now - start)
        }
        report.add("WAL wipe after one session's end (its row committed), p50 / p99", "\(wipes.ms(50)) / \(wipes.ms(99))")
        let lastMs = eventBaseMs + Int64(total / eventsPerMs) + 1
        let middleMs = eventBaseMs + Int64(total / eventsPerMs / 2)
        let withZeroing = ContinuousClock.now
        let first = try await store.prune(eventsBefore: middleMs)
        let zeroingTime = ContinuousClock.now - withZeroing
        try await store.setSecureDelete(false)
        let without = ContinuousClock.now
        let second = try await store.prune(eventsBefore: lastMs)
        let plainTime = ContinuousClock.now - without
        try await store.setSecureDelete(true)
        report.add(
            "retention sweep with secure_delete (the default)",
            String(format: "%.0f events/s (%d in %.2f s)", Double(first) / zeroingTime.inSeconds, first, zeroingTime.inSeconds))
        report.add(
            "retention sweep without secure_delete (same file, the other half)",
            String(format: "%.0f events/s (%d in %.2f s)", Double(second) / plainTime.inSeconds, second, plainTime.inSeconds))
    }

    // MARK: - api

    /// wrk against a live `tether serve` (in this process): `GET /v1/sessions/{id}`, and a
    /// create/delete cycle (each create a real join on the simulator). The GET run is
    /// also set against `floor`'s trivial route under the same wrk arguments.
    ///
    /// With `postgres` (a server's maintenance URL), the GET run is repeated on a
    /// PostgreSQL-backed service (a database of its own made there) in the same run, and
    /// set against the SQLite figure.
    public static func api(
        duration: Int, connections: Int, floor: MachineFloor, postgres: PostgresURL? = nil, telemetry: Telemetry? = nil
    ) async throws -> BenchReport {
        var report = BenchReport(scenario: "api", parameters: "wrk, \(duration) s per run, \(connections) connections for GET")
        guard Wrk.isInstalled else {
            throw BenchError("wrk is not installed (apt-get install wrk)")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let sqliteGet = try await apiRun(
            db: folder.appendingPathComponent("api.sqlite").path, storeName: "SQLite", duration: duration, connections: connections,
            floor: floor, folder: folder, telemetry: telemetry, into: &report)
        if let postgres {
            let url = try await PostgresBench.createDatabase(on: postgres)
            do {
                let get = try await apiRun(
                    db: url.redacted, password: url.password, storeName: "PostgreSQL", duration: duration, connections: connections,
                    floor: floor, folder: folder, telemetry: telemetry, into: &report)
                report.add(
                    "GET /v1/sessions/{id} req/s, PostgreSQL ÷ SQLite", FloorRatio.percent(get.requestsPerSecond, of: sqliteGet.requestsPerSecond),
                    target: "≥ 80 % (within 20 %)")
                await PostgresBench.dropDatabase(url, on: postgres)
            } catch {
                await PostgresBench.dropDatabase(url, on: postgres)
                throw error
            }
        }
        return report
    }

    /// One live service on `db`: the GET run, then the create/delete cycle.
    static func apiRun(
        db: String, password: String? = nil, storeName: String, duration: Int, connections: Int, floor: MachineFloor, folder: URL,
        telemetry: Telemetry?, into report: inout BenchReport
    ) async throws -> WrkResult {
        var result: WrkResult?
        var rows: [(String, String, String)] = []
        try await withSimulator { simulator in
            var logger = Logger(label: "tether.bench")
            logger.logLevel = .error
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = try await buildApplication(
                configuration: {
                    var configuration = ServiceConfiguration(port: 0, databasePath: db)
                    configuration.databasePassword = password
                    return configuration
                }(),
                logger: logger, telemetry: telemetry) { continuation.yield($0) }
            let group = ServiceGroup(configuration: .init(services: [app.application], logger: logger))
            let running = Task { try await group.run() }
            var port = 0
            for await bound in ports { port = bound; break }
            let base = "http://127.0.0.1:\(port)"
            func createBody(agent: Int) -> String {
                #"{"call_id":"default:bench","user_id":"agent-\#(agent)","sfu":{"dialect":"stream","urls":["\#(simulator.url)"],"token":"\#(Fleet.token(call: "default:bench", user: "agent-\(agent)"))"}}"#
            }
            let body = createBody(agent: 1)
            var request = HTTPClientRequest(url: base + "/v1/sessions")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let created = try await response.body.collect(upTo: 1 << 20)
            let id = ((try JSONSerialization.jsonObject(with: Data(buffer: created)) as? [String: Any])?["id"] as? String) ?? ""

            // The service runs in this process and wrk in its own: this process's CPU
            // time over the run is the service's (and its exporters'), whatever the
            // load generator and an OTLP receiver on the same cores cost.
            let cpuBefore = ProcessUsage.cpuTime()
            let get = try await Wrk.run(
                Wrk.getArguments(url: "\(base)/v1/sessions/\(id)", connections: connections, duration: duration), duration: duration)
            let cpu = ProcessUsage.cpuTime() - cpuBefore
            result = get
            rows.append(("GET /v1/sessions/{id} (\(storeName))", get.summary, "≥ 20,000 req/s"))
            rows.append((
                "GET /v1/sessions/{id} (\(storeName)): service CPU per request",
                get.requests > 0 ? String(format: "%.1f µs", cpu.inSeconds * 1e6 / Double(get.requests)) : "no requests", ""))
            rows.append((
                "GET /v1/sessions/{id} (\(storeName)) req/s ÷ trivial route req/s",
                FloorRatio.percent(get.requestsPerSecond, of: floor.trivialRoute?.requestsPerSecond), "≥ 60 %"))
            rows.append(("GET /v1/sessions/{id} (\(storeName)) p99 / trivial route p99", FloorRatio.times(get.p99, over: floor.trivialRoute?.p99), ""))

            // The two ops listings, a page of 100 each: 99 more sessions, so each page is full.
            for agent in 2...100 {
                var more = request
                more.body = .bytes(ByteBuffer(string: createBody(agent: agent)))
                let created = try await HTTPClient.shared.execute(more, timeout: .seconds(10))
                _ = try await created.body.collect(upTo: 1 << 20)
                guard created.status == .created else { throw BenchError("a create for the listings answered \(created.status)") }
            }
            for (name, path) in [("GET /v1/sessions?limit=100", "/v1/sessions?limit=100"), ("GET /v1/events?limit=100", "/v1/events?limit=100")] {
                let cpuBefore = ProcessUsage.cpuTime()
                let page = try await Wrk.run(Wrk.getArguments(url: base + path, connections: connections, duration: duration), duration: duration)
                let cpu = ProcessUsage.cpuTime() - cpuBefore
                rows.append(("\(name) (\(storeName), 100 sessions, \(connections) connections)", page.summary, "p99 ≤ 10 ms"))
                rows.append((
                    "\(name) (\(storeName)): service CPU per page",
                    page.requests > 0 ? String(format: "%.1f µs", cpu.inSeconds * 1e6 / Double(page.requests)) : "no requests", ""))
            }

            let script = folder.appendingPathComponent("cycle.lua")
            try """
                local id = nil
                local body = '\(body)'
                request = function()
                  if id then
                    local path = "/v1/sessions/" .. id
                    id = nil
                    return wrk.format("DELETE", path)
                  end
                  return wrk.format("POST", "/v1/sessions", {["Content-Type"] = "application/json"}, body)
                end
                response = function(status, headers, body)
                  local found = body:match('"id":"([^"]+)"')
                  if found then id = found end
                end
                """.write(to: script, atomically: true, encoding: .utf8)
            let cycle = try await Wrk.run(["-t2", "-c2", "-d\(duration)s", "--latency", "-s", script.path, base], duration: duration)
            rows.append(("create/delete cycle (\(storeName); each create joins the SFU)", cycle.summary, ""))
            await group.triggerGracefulShutdown()
            _ = try? await running.value
        }
        for (name, value, target) in rows { report.add(name, value, target: target) }
        guard let result else { throw BenchError("the \(storeName) api run measured nothing") }
        return result
    }
}
