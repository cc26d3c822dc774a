import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TetherSFUSimulator
import TetherTestSupport

/// `tether sessions | session | events | stats` against a live `tether serve`, as
/// processes: tables, `--json`, exit codes, and `--follow` ended by SIGINT.
@Suite(.serialized, .timeLimit(.minutes(3))) struct OpsCommandTests {
    static let apiToken = "ops-test-api-token-0123"
    static let readToken = "ops-test-read-token-0123"

    struct Live {
        var sfu: ChildProcess
        var admin: String
        var serve: ChildProcess
        var base: String
        var sessionID: String
        var sfuURL: String
        var folder: URL
    }

    /// A simulator, a service with a read token, and one session that lost its
    /// connection once and came back.
    /// The service's history is on `store` (`sqlite`, or `postgres` on the test cluster).
    func withLiveService(store: String, _ body: (Live) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-ops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = store == "postgres" ? try PostgresCluster.createDatabase() : folder.appendingPathComponent("ops.sqlite").path
        defer { if store == "postgres" { PostgresCluster.dropDatabase(database) } }
        let sfu = try ChildProcess(["sfu", "--port", "0"])
        let serve = try ChildProcess([
            "serve", "--port", "0", "--db", database, "--log-level", "error",
            "--api-token", Self.apiToken, "--read-token", Self.readToken,
            "--health-check-interval", "500ms", "--health-check-timeout", "2s",
        ])
        do {
            let sfuLine = try await sfu.waitForLine { $0.contains("listening on") }
            let url = String(try #require(sfuLine.split(separator: " ").first { $0.hasPrefix("ws://") }))
            let admin = String(try #require(sfuLine.split(separator: " ").first { $0.hasPrefix("http://") }))
            let base = try await serve.waitForServeAddress()
            var request = URLRequest(url: URL(string: base + "/v1/sessions")!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(Self.apiToken)", forHTTPHeaderField: "Authorization")
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: [
                "call_id": "default:demo", "user_id": "agent-7", "metadata": ["tenant": "acme+co"],
                "sfu": ["dialect": "stream", "urls": [url], "token": SimulatorToken.make(callCID: "default:demo", userID: "agent-7")],
            ])
            let created = try JSONSerialization.jsonObject(with: try await URLSession.shared.data(for: request).0) as? [String: Any]
            let id = try #require(created?["id"] as? String)
            try await drop(admin)
            let live = Live(sfu: sfu, admin: admin, serve: serve, base: base, sessionID: id, sfuURL: url, folder: folder)
            _ = try await run(live, ["events", "--session", id, "--type", "reconnected", "--json"]) { $0.count >= 1 }
            try await body(live)
        } catch {
            await serve.stop()
            await sfu.stop()
            throw error
        }
        await serve.stop()
        await sfu.stop()
    }

    func drop(_ admin: String) async throws {
        var request = URLRequest(url: URL(string: admin + "/drop")!)
        request.httpMethod = "POST"
        _ = try await URLSession.shared.data(for: request)
    }

    /// Runs one ops command with the read token until `done` holds for its output lines
    /// (retried for up to 10 s) and returns them; the exit code is checked to be 0.
    @discardableResult
    func run(
        _ live: Live, _ arguments: [String], token: String = OpsCommandTests.readToken,
        sourceLocation: SourceLocation = #_sourceLocation, until done: ([String]) -> Bool = { _ in true }
    ) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let process = try ChildProcess(arguments + ["--url", live.base, "--token", token])
            let status = await process.waitForExit()
            // The pipe's reader may still be delivering the last lines.
            try await Task.sleep(for: .milliseconds(50))
            let lines = process.output
            if status == 0, done(lines) { return lines }
            guard ContinuousClock.now < deadline else {
                Issue.record("tether \(arguments.joined(separator: " ")) exited \(status): \(lines)", sourceLocation: sourceLocation)
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func exitStatus(_ live: Live, _ arguments: [String], token: String = OpsCommandTests.readToken) async throws -> Int32 {
        let process = try ChildProcess(arguments + ["--url", live.base, "--token", token])
        return await process.waitForExit()
    }

    @Test(arguments: ["sqlite", "postgres"]) func sessionsSessionEventsAndStatsPrintTablesAndJSON(store: String) async throws {
        try await withLiveService(store: store) { live in
            let short = String(live.sessionID.prefix(8))
            let table = try await run(live, ["sessions"])
            #expect(table.first?.hasPrefix("ID") == true)
            let row = try #require(table.first { $0.hasPrefix(short) })
            #expect(row.contains("joined") && row.contains("default:demo") && row.contains("agent-7"))

            let json = try await run(live, ["sessions", "--state", "joined", "--json"])
            let page = try #require(try JSONSerialization.jsonObject(with: Data(json.joined().utf8)) as? [String: Any])
            #expect((page["sessions"] as? [[String: Any]])?.first?["id"] as? String == live.sessionID)

            let timeline = try await run(live, ["session", live.sessionID])
            #expect(timeline.contains { $0.contains("state") && $0.contains("joined") })
            for type in ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"] {
                #expect(timeline.contains { $0.contains(" \(type) ") || $0.hasSuffix(" \(type)") }, "the timeline shows \(type)")
            }
            let detail = try await run(live, ["session", live.sessionID, "--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(detail.joined().utf8)) as? [String: Any])
            #expect((object["events"] as? [[String: Any]])?.count == 5)

            let lines = try await run(live, ["events", "--session", live.sessionID, "--since", "10m", "--json"])
            let types = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["type"] as? String }
            #expect(types == ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"])

            let stats = try await run(live, ["stats", "--since", "1h", "--json"])
            let statsObject = try #require(try JSONSerialization.jsonObject(with: Data(stats.joined().utf8)) as? [String: Any])
            #expect((statsObject["recovery_time"] as? [String: Any])?["count"] as? Int == 1)
            #expect((statsObject["losses_by_reason"] as? [String: Any])?["unexpected_close"] as? Int == 1)
            let statsTable = try await run(live, ["stats"])
            #expect(statsTable.contains { $0.hasPrefix("recovery time") && $0.contains("count 1") })
        }
    }

    @Test(arguments: ["sqlite", "postgres"]) func theIncidentFiltersReachTheAPI(store: String) async throws {
        try await withLiveService(store: store) { live in
            func jsonLines(_ arguments: [String]) async throws -> [[String: Any]] {
                try await run(live, arguments).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            func sessionIDs(_ arguments: [String]) async throws -> [String] {
                let page = try JSONSerialization.jsonObject(with: Data(try await run(live, arguments + ["--json"]).joined().utf8)) as? [String: Any]
                return (page?["sessions"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            // `+` in a value travels as itself, not as a space.
            #expect(try await sessionIDs(["sessions", "--meta", "tenant=acme+co"]) == [live.sessionID])
            #expect(try await sessionIDs(["sessions", "--meta", "tenant=acme co"]).isEmpty)
            #expect(try await sessionIDs(["sessions", "--node", live.sfuURL, "--user", "agent-7"]) == [live.sessionID])
            #expect(try await sessionIDs(["sessions", "--user", "someone-else"]).isEmpty)

            let losses = try await jsonLines(["events", "--node", live.sfuURL, "--type", "connection_lost", "--type", "reconnected", "--json"])
            #expect(losses.compactMap { $0["type"] as? String } == ["connection_lost", "reconnected"])
            #expect(try await jsonLines(["events", "--reason", "health_check_timeout", "--json"]).isEmpty)
            #expect(try await jsonLines(["events", "--call", "default:demo", "--strategy", "fast", "--type", "reconnected", "--json"]).count == 1)

            let byNode = try await run(live, ["stats", "--group-by", "sfu_url"])
            let row = try #require(byNode.first { $0.contains(live.sfuURL) }, "\(byNode)")
            #expect(row.split(separator: " ").map(String.init).dropFirst().prefix(2) == ["1", "1"], "1 join, 1 loss: \(row)")
            #expect(try await exitStatus(live, ["stats", "--group-by", "tenant"]) == 64)
            #expect(try await exitStatus(live, ["events", "--follow", "--node", live.sfuURL]) == 64)
            #expect(try await exitStatus(live, ["sessions", "--meta", "novalue"]) == 64)
        }
    }

    @Test(arguments: ["sqlite", "postgres"]) func exitCodesTellScriptsWhatHappened(store: String) async throws {
        try await withLiveService(store: store) { live in
            #expect(try await exitStatus(live, ["session", "no-such-session"]) == 3)
            #expect(try await exitStatus(live, ["sessions"], token: "wrong-token-wrong-token") == 1)
            #expect(try await exitStatus(live, ["sessions", "--state", "nonsense"]) == 1)
            let unreachable = try ChildProcess(["sessions", "--url", "http://127.0.0.1:1"])
            #expect(await unreachable.waitForExit() == 4)
        }
    }

    @Test(arguments: ["sqlite", "postgres"]) func followPrintsNewEventsUntilSIGINTThenExitsZero(store: String) async throws {
        try await withLiveService(store: store) { live in
            let follow = try ChildProcess(["events", "--session", live.sessionID, "--follow", "--json", "--url", live.base, "--token", Self.readToken])
            do {
                try await follow.waitForEvent("reconnected")
                try await drop(live.admin)
                try await follow.waitForEvent("reconnected", count: 2)
                #expect(follow.eventTypes.filter { $0 == "connection_lost" }.count == 2, "\(follow.eventTypes)")
                follow.signal(SIGINT)
                #expect(await follow.waitForExit() == 0)
            } catch {
                await follow.stop()
                throw error
            }
        }
    }
}
