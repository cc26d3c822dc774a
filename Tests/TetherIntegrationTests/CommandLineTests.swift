import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TetherSFUSimulator
import TetherTestSupport

/// `tether connect` and `tether sfu` as real processes.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CommandLineTests {
    func startSFU(port: Int = 0) async throws -> (ChildProcess, port: Int, admin: String) {
        let sfu = try ChildProcess(["sfu", "--port", String(port), "--fast-reconnect-deadline", "5"])
        let line = try await sfu.waitForLine { $0.contains("listening on") }
        let url = try #require(line.split(separator: " ").first { $0.hasPrefix("ws://") })
        let admin = try #require(line.split(separator: " ").first { $0.hasPrefix("http://") })
        let boundPort = try #require(Int(url.split(separator: ":")[2].split(separator: "/")[0]))
        return (sfu, boundPort, String(admin))
    }

    func connect(port: Int, extra: [String] = []) throws -> ChildProcess {
        try ChildProcess([
            "connect", "--sfu", "ws://127.0.0.1:\(port)/ws",
            "--token", SimulatorToken.make(callCID: "default:demo", userID: "agent-7"),
            "--call", "default:demo", "--user", "agent-7",
            "--health-check-interval", "500ms", "--health-check-timeout", "2s",
            "--disconnection-timeout", "10s",
        ] + extra)
    }

    func admin(_ base: String, _ path: String, method: String = "POST") async throws -> Data {
        var request = URLRequest(url: URL(string: base + "/" + path)!)
        request.httpMethod = method
        return try await URLSession.shared.data(for: request).0
    }

    @Test func connectPrintsJSONLinesAndLeavesCleanlyOnSIGTERM() async throws {
        let (sfu, port, adminURL) = try await startSFU()
        let client = try connect(port: port)
        do {
            try await client.waitForEvent("joined")
            client.signal(SIGTERM)
            #expect(await client.waitForExit() == 0)
            #expect(client.eventTypes == ["session_created", "joined", "left"])
            #expect(client.jsonLines.last?["reason"] as? String == "sigterm")
            let state = try JSONSerialization.jsonObject(with: try await admin(adminURL, "state", method: "GET")) as? [String: Any]
            let counters = state?["counters"] as? [String: Any]
            #expect(counters?["leaves"] as? Int == 1)
        } catch {
            await client.stop()
            await sfu.stop()
            throw error
        }
        await sfu.stop()
    }

    @Test func aRealSFURestartMakesFastFailAndRejoinSucceed() async throws {
        var (sfu, port, _) = try await startSFU()
        let client = try connect(port: port)
        do {
            try await client.waitForEvent("joined")
            sfu.signal(SIGKILL)
            _ = await sfu.waitForExit()
            try await client.waitForEvent("connection_lost")
            (sfu, _, _) = try await startSFU(port: port)
            try await client.waitForEvent("reconnected")
            let events = client.jsonLines
            let reconnected = try #require(events.last { $0["type"] as? String == "reconnected" })
            #expect(reconnected["strategy"] as? String == "rejoin")
            #expect(events.contains { $0["type"] as? String == "strategy_escalated" && $0["from"] as? String == "fast" && $0["to"] as? String == "rejoin" })
            let joined = try #require(events.first { $0["type"] as? String == "joined" })
            #expect(reconnected["sfu_session_id"] as? String != joined["sfu_session_id"] as? String)
            client.signal(SIGINT)
            #expect(await client.waitForExit() == 0)
            #expect(client.jsonLines.last?["reason"] as? String == "sigint")
        } catch {
            await client.stop()
            await sfu.stop()
            throw error
        }
        await sfu.stop()
    }

    @Test func aFailedJoinExitsNonZeroAfterPrintingWhy() async throws {
        // Nothing listens on the port of an SFU that was just stopped.
        let (sfu, port, _) = try await startSFU()
        sfu.signal(SIGTERM)
        _ = await sfu.waitForExit()
        let client = try connect(port: port)
        #expect(await client.waitForExit() == 1)
        #expect(client.eventTypes == ["session_created", "join_failed"])
        #expect(client.jsonLines.last?["code"] as? String == "connect_failed")
    }

    @Test func badFlagsAreAUsageError() async throws {
        let client = try ChildProcess(["connect", "--sfu", "http://example/ws", "--token", "t", "--call", "c", "--user", "u"])
        #expect(await client.waitForExit() == 64)
        let policy = try ChildProcess(["connect", "--sfu", "ws://127.0.0.1:1/ws", "--token", "t", "--call", "c", "--user", "u", "--health-check-interval", "soon"])
        #expect(await policy.waitForExit() == 64)
    }
}
