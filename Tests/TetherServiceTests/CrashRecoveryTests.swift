import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TetherTestSupport

/// `kill -9` of a real `tether serve` process with live sessions.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CrashRecoveryTests {
    func startServe(database: String, in folder: URL) async throws -> (ChildProcess, String) {
        let serve = try ChildProcess([
            "serve", "--port", "0", "--db", database, "--log-level", "warning",
            "--health-check-interval", "500ms", "--health-check-timeout", "2s", "--disconnection-timeout", "10s",
            // PostgreSQL: the restarted process is the same fleet instance; it registers
            // once the killed one's lease expired and resumes what that one ran.
            "--instance-id", "crash-test", "--lease-ttl", "4s",
        ], currentDirectory: folder)
        let base = try await serve.waitForServeAddress()
        return (serve, base)
    }

    /// The `--db` of a new database of `kind`: for SQLite a relative path, from a
    /// directory that is not the project (the shipped binary must create and migrate
    /// the database on its own); for PostgreSQL a new database on the test cluster.
    func newDatabase(_ kind: StoreKind, named name: String) throws -> (db: String, cleanup: @Sendable () -> Void) {
        switch kind {
        case .sqlite: (name, {})
        case .postgres: try kind.makeDatabase()
        }
    }

    @Test(arguments: StoreKind.allCases) func killNineLosesNoEventAndResumesLiveSessionsByRejoin(store: StoreKind) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (database, cleanup) = try newDatabase(store, named: "history.sqlite")
        defer { cleanup() }
        let sfu = try await Simulator.start()
        var (serve, base) = try await startServe(database: database, in: folder)
        do {
            var ids: [String] = []
            for _ in 0..<3 {
                let (status, session) = try await callURL(.POST, base + "/v1/sessions", json: createBody(urls: [sfu.url]))
                #expect(status == 201)
                ids.append(try #require(session["id"] as? String))
            }
            try await sfu.inject("drop")
            for id in ids {
                try await waitFor(base, id) { $0.contains("reconnected") }
            }
            let before = try #require(try await callURL(.GET, base + "/v1/events?limit=1000").1["events"] as? [[String: Any]])

            serve.signal(SIGKILL)
            _ = await serve.waitForExit()
            (serve, base) = try await startServe(database: database, in: folder)

            for id in ids {
                let types = try await waitFor(base, id) { $0.last == "reconnected" && $0.contains("resumed_after_restart") }
                let tail = Array(types.suffix(3))
                #expect(tail == ["resumed_after_restart", "reconnect_started", "reconnected"], "\(types)")
                let events = try await events(base, id)
                let started = try #require(events.last { $0["type"] as? String == "reconnect_started" })
                #expect(started["strategy"] as? String == "rejoin")
                #expect(started["trigger"] as? String == "restart")
                let (_, session) = try await callURL(.GET, base + "/v1/sessions/\(id)")
                #expect(session["state"] as? String == "joined")
            }
            // Every event shown before the kill is still there, unchanged.
            let after = try #require(try await callURL(.GET, base + "/v1/events?limit=1000").1["events"] as? [[String: Any]])
            let afterByID = Dictionary(uniqueKeysWithValues: after.compactMap { event in (event["id"] as? Int).map { ($0, event) } })
            for event in before {
                let id = try #require(event["id"] as? Int)
                #expect(afterByID[id].map { NSDictionary(dictionary: $0) } == NSDictionary(dictionary: event))
            }
            #expect(sfu.simulator.state.sessions.filter(\.connected).count == 3)
            serve.signal(SIGTERM)
            #expect(await serve.waitForExit() == 0)
            #expect(sfu.simulator.state.counters.leaves == 3)
            if store == .postgres {
                let written = try FileManager.default.contentsOfDirectory(atPath: folder.path)
                #expect(written.isEmpty, "a PostgreSQL-backed serve writes no file of its own: \(written)")
            }
        } catch {
            await serve.stop()
            await sfu.stop()
            throw error
        }
        await sfu.stop()
        try? FileManager.default.removeItem(at: folder)
    }

    /// SQLite has one owner per file. (On PostgreSQL a second serve joins the fleet:
    /// FleetTests.)
    @Test(arguments: [StoreKind.sqlite]) func aSecondServeOnTheSameDatabaseExitsAtOnceNamingTheOwner(store: StoreKind) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-owner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (database, cleanup) = try newDatabase(store, named: "owned.sqlite")
        defer { cleanup() }
        let (serve, base) = try await startServe(database: database, in: folder)
        do {
            let second = Process()
            second.executableURL = ChildProcess.tetherBinary
            second.arguments = ["serve", "--port", "0", "--db", database]
            second.currentDirectoryURL = folder
            let errors = Pipe()
            second.standardError = errors
            second.standardOutput = FileHandle.nullDevice
            try second.run()
            let deadline = ContinuousClock.now + .seconds(10)
            while second.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!second.isRunning, "the second process exits at once")
            if second.isRunning { second.terminate() }
            second.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(second.terminationStatus != 0)
            #expect(message.contains("owned.sqlite.lock") && message.contains("pid \(serve.pid)"), "\(message)")
            #expect(try await callURL(.GET, base + "/healthz").0 == 200, "the owner keeps serving")
        } catch {
            await serve.stop()
            throw error
        }
        await serve.stop()
    }

    @Test(arguments: StoreKind.allCases) func aDeleteAnswered204StaysLeftAfterKillNineAndNothingRedials(store: StoreKind) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-delete-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (database, cleanup) = try newDatabase(store, named: "history.sqlite")
        defer { cleanup() }
        let sfu = try await Simulator.start()
        var (serve, base) = try await startServe(database: database, in: folder)
        do {
            let (status, session) = try await callURL(.POST, base + "/v1/sessions", json: createBody(urls: [sfu.url]))
            #expect(status == 201)
            let id = try #require(session["id"] as? String)
            #expect(try await callURL(.DELETE, base + "/v1/sessions/\(id)").0 == 204)
            serve.signal(SIGKILL)
            _ = await serve.waitForExit()
            let joinsBefore = sfu.simulator.state.counters.joins
            (serve, base) = try await startServe(database: database, in: folder)
            let (_, after) = try await callURL(.GET, base + "/v1/sessions/\(id)")
            #expect(after["state"] as? String == "left")
            #expect(try await events(base, id).compactMap { $0["type"] as? String } == ["session_created", "joined", "left"])
            // A DELETE racing the restart finds the session too (204, nothing changes).
            #expect(try await callURL(.DELETE, base + "/v1/sessions/\(id)").0 == 204)
            // Nothing redials: a second of quiet at the SFU after the restart.
            try await Task.sleep(for: .seconds(1))
            #expect(sfu.simulator.state.counters.joins == joinsBefore)
            #expect(sfu.simulator.state.sessions.filter(\.connected).isEmpty)
        } catch {
            await serve.stop()
            await sfu.stop()
            throw error
        }
        await serve.stop()
        await sfu.stop()
    }

    func events(_ base: String, _ id: String) async throws -> [[String: Any]] {
        try await callURL(.GET, base + "/v1/sessions/\(id)/events?limit=1000").1["events"] as? [[String: Any]] ?? []
    }

    @discardableResult
    func waitFor(_ base: String, _ id: String, sourceLocation: SourceLocation = #_sourceLocation, until condition: ([String]) -> Bool) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(25)
        var types: [String] = []
        while ContinuousClock.now < deadline {
            types = try await events(base, id).compactMap { $0["type"] as? String }
            if condition(types) { return types }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("timed out; history: \(types)", sourceLocation: sourceLocation)
        throw CancellationError()
    }
}

/// One request to a service run as a process (not a ``LiveService``): its status and JSON body.
func callURL(_ method: HTTPMethod, _ url: String, json: [String: Any]? = nil, headers: [(String, String)] = []) async throws -> (Int, [String: Any]) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let json {
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        request.headers.add(name: "Content-Type", value: "application/json")
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 16 << 20)
    let object = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    return (Int(response.status.code), object)
}
