import Foundation
import Testing
import TetherLogging
import TetherSFUSimulator
import TetherTestSupport

/// `--log-format json`: every line a whole `tether serve` run prints, on stdout and
/// stderr, is one JSON object; lines about a session carry its ids; no secret appears
/// in either format.
@Suite(.serialized, .timeLimit(.minutes(3))) struct StructuredLogTests {
    let apiToken = "api-token-for-the-log-test-0123456789"
    let readToken = "read-token-for-the-log-test-0123456789"
    let webhookSecret = "webhook-secret-for-the-log-test-0123"
    let replacedToken = SimulatorToken.make(callCID: "default:demo", userID: "agent-7", expiresAt: Int64(Date().timeIntervalSince1970) + 7200)

    /// A run that exercises what logs: start, a session's join, a drop and its FAST,
    /// a credentials update, an SFU that forgot the session (REJOIN), a DELETE, SIGTERM.
    func run(format: String?) async throws -> [String] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let sfu = try await Simulator.start()
        defer { Task { try? await sfu.simulator.stop() } }
        var arguments = [
            "serve", "--port", "0", "--db", "history.sqlite", "--log-level", "debug",
            "--api-token", apiToken, "--read-token", readToken, "--allow-sfu-host", "127.0.0.1",
            "--webhook-url", "http://127.0.0.1:9/hooks", "--webhook-secret", webhookSecret,
        ]
        if let format { arguments += ["--log-format", format] }
        let serve = try ChildProcess(arguments, currentDirectory: folder, capturesStandardError: true)
        let base = try await serve.waitForServeAddress()
        let auth = [("Authorization", "Bearer \(apiToken)")]
        let (status, session) = try await callURL(.POST, base + "/v1/sessions", json: createBody(urls: [sfu.url]), headers: auth)
        #expect(status == 201, "\(session)")
        let id = try #require(session["id"] as? String)
        try await sfu.inject("drop")
        try await waitForTypes(base, id, auth) { $0.contains("reconnected") }
        let (updated, _) = try await callURL(.PUT, base + "/v1/sessions/\(id)/credentials", json: ["token": replacedToken], headers: auth)
        #expect(updated == 200)
        try await sfu.inject("forget")
        try await waitForTypes(base, id, auth) { $0.filter { $0 == "reconnected" }.count >= 2 }
        let (read, _) = try await callURL(.GET, base + "/v1/sessions", headers: [("Authorization", "Bearer \(readToken)")])
        #expect(read == 200)
        let (deleted, _) = try await callURL(.DELETE, base + "/v1/sessions/\(id)", headers: auth)
        #expect(deleted == 204)
        serve.signal(SIGTERM)
        #expect(await serve.waitForExit(timeout: .seconds(20)) == 0)
        return serve.output
    }

    func waitForTypes(_ base: String, _ id: String, _ auth: [(String, String)], until done: ([String]) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        var types: [String] = []
        while ContinuousClock.now < deadline {
            let events = try await callURL(.GET, base + "/v1/sessions/\(id)/events", headers: auth).1["events"] as? [[String: Any]] ?? []
            types = events.compactMap { $0["type"] as? String }
            if done(types) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the history never got there: \(types)")
        throw CancellationError()
    }

    func expectNoSecret(in lines: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let all = lines.joined(separator: "\n")
        for (name, secret) in [("API token", apiToken), ("read token", readToken), ("webhook secret", webhookSecret),
                               ("SFU token", sfuToken), ("replaced SFU token", replacedToken)] {
            #expect(!all.contains(secret), "the \(name) is in the log", sourceLocation: sourceLocation)
        }
    }

    @Test func jsonModeWritesOneObjectPerLineWithTheSessionsIdsAndNoSecret() async throws {
        let lines = try await run(format: "json").filter { !$0.isEmpty }
        let objects = lines.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        for (line, object) in zip(lines, objects) {
            let object = try #require(object, "not a JSON object: \(line)")
            for field in ["time", "level", "message", "label"] {
                #expect(object[field] is String, "no \(field) in \(line)")
            }
        }
        let parsed = objects.compactMap { $0 }
        let banner = try #require(parsed.first { ($0["message"] as? String)?.hasPrefix("tether serve listening on") == true })
        #expect((banner["address"] as? String)?.hasPrefix("http://127.0.0.1:") == true)
        #expect(banner["version"] as? String != nil)
        // The turns of the session's life, each with the fields a pipeline filters on.
        let about = parsed.filter { $0["session_id"] != nil }
        let lost = try #require(about.first { ($0["message"] as? String)?.hasPrefix("connection lost") == true }, "\(lines)")
        #expect(lost["call_id"] as? String == "default:demo")
        #expect(lost["generation"] as? String != nil)
        let reconnected = about.filter { ($0["message"] as? String)?.hasPrefix("reconnected") == true }
        #expect(Set(reconnected.compactMap { $0["strategy"] as? String }) == ["fast", "rejoin"], "\(reconnected)")
        #expect(reconnected.allSatisfy { ($0["sfu_url"] as? String)?.hasPrefix("ws://127.0.0.1:") == true })
        #expect(about.contains { ($0["message"] as? String)?.hasPrefix("left") == true })
        // A line that names the session in its text but not as a field would escape a
        // pipeline's filter.
        let sessionID = try #require(lost["session_id"] as? String)
        for object in parsed where (object["message"] as? String)?.contains(sessionID) == true {
            #expect(object["session_id"] as? String == sessionID, "\(object)")
        }
        expectNoSecret(in: lines)
    }

    @Test func textModeHasNoSecretEither() async throws {
        let lines = try await run(format: "text")
        #expect(lines.contains { $0.hasPrefix("tether serve listening on http://") })
        #expect(lines.contains { $0.contains("connection lost") && $0.contains("session_id=") })
        expectNoSecret(in: lines)
    }

    @Test func withoutAFlagAPipeGetsJSONAndTheEnvironmentIsChecked() async throws {
        #expect(try LogFormat.resolve(flag: nil, environment: nil, standardErrorIsTerminal: false) == .json)
        #expect(try LogFormat.resolve(flag: nil, environment: nil, standardErrorIsTerminal: true) == .text)
        #expect(try LogFormat.resolve(flag: nil, environment: "text", standardErrorIsTerminal: false) == .text)
        #expect(try LogFormat.resolve(flag: .json, environment: "text", standardErrorIsTerminal: true) == .json)
        #expect(throws: LogFormatError.self) { try LogFormat.resolve(flag: nil, environment: "xml", standardErrorIsTerminal: false) }
        // The tests' pipes are not terminals: a serve given no format writes JSON.
        let database = FileManager.default.temporaryDirectory.appendingPathComponent("tether-logs-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: database + suffix) } }
        let serve = try ChildProcess(["serve", "--port", "0", "--db", database], capturesStandardError: true)
        _ = try await serve.waitForServeAddress()
        let banner = try #require(serve.output.first { $0.contains("tether serve listening on") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(banner.utf8)) as? [String: Any], "\(banner)")
        #expect(object["level"] as? String == "notice")
        await serve.stop()
    }
}
