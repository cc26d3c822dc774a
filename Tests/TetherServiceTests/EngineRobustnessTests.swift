import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport
@testable import TetherService

/// Issue 10 over real sockets: no spinning, damping, DELETE stops dialing, wss.
@Suite(.serialized, .timeLimit(.minutes(3))) struct EngineRobustnessTests {
    /// The service defaults' backoff (250 ms doubling to 5 s), with health checks slow
    /// enough that a busy machine injects no loss of its own.
    nonisolated(unsafe) static let realisticPolicy: [String: Any] = [
        "health_check_interval_ms": 1000, "health_check_timeout_ms": 3000,
        "backoff_initial_ms": 250, "backoff_max_ms": 5000, "disconnection_timeout_ms": 30000,
    ]

    @Test func oppositeStrategyHintsOnTwoNodesDoNotSpin() async throws {
        try await withService(nodes: 2) { service, sfus in
            let (a, b) = (sfus[0], sfus[1])
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [a.url, b.url], extra: ["policy": Self.realisticPolicy]))
            let id = try #require(created.json["id"] as? String)
            try await a.inject("reject-joins?count=100000&strategy=migrate")
            try await b.inject("reject-joins?count=100000&strategy=rejoin")
            try await a.inject("drop")
            // Six seconds of A and B refusing each other's way.
            try await Task.sleep(for: .seconds(6))
            let attempts = a.simulator.state.counters.rejectedJoins + b.simulator.state.counters.rejectedJoins
            print("opposite hints: \(attempts) refused joins in 6 s")
            #expect(attempts >= 2, "both nodes were tried")
            #expect(attempts <= 40, "\(attempts) attempts in 6 s")
            #expect(try await service.request(.GET, "/v1/sessions/\(id)").json["state"] as? String != "joined")
        }
    }

    @Test func aFlappingNodeIsDampedAndFinallyFailsFlapping() async throws {
        try await withService { service, sfus in
            var policy = Self.realisticPolicy
            policy["backoff_max_ms"] = 1000
            try await sfus[0].inject("drop-after-join?ms=50")
            let started = ContinuousClock.now
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfus[0].url], extra: ["policy": policy]))
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? String)
            let types = try await service.waitForEvents(of: id, timeout: .seconds(40)) { $0.contains("reconnect_failed") }
            let elapsed = ContinuousClock.now - started
            let session = try await service.request(.GET, "/v1/sessions/\(id)")
            #expect(session.json["state"] as? String == "failed")
            #expect(session.json["end_reason"] as? String == "flapping")
            #expect(types.contains("reconnect_delayed"), "the damping is recorded")
            let joins = sfus[0].simulator.state.counters.joins + sfus[0].simulator.state.counters.fastResumes
            print("flapping node: \(joins) joins until failed{flapping} after \(elapsed)")
            #expect(joins <= 30, "\(joins) joins")
            let stats = try await service.request(.GET, "/v1/stats")
            #expect(((stats.json["reconnects_delayed"] as? [String: Int])?["flapping"] ?? 0) > 0, "visible in stats")
        }
    }

    @Test func deleteWhileReconnectingStopsDialingAtOnce() async throws {
        let service = try await LiveService.start()
        defer { service.removeDatabase() }
        var sfu = try await Simulator.start()
        let port = try #require(sfu.simulator.port)
        do {
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [sfu.url], extra: ["policy": Self.realisticPolicy]))
            let id = try #require(created.json["id"] as? String)
            await sfu.stop()
            try await service.waitForEvents(of: id) { $0.contains("reconnect_attempt_failed") }
            let started = ContinuousClock.now
            let deleted = try await service.request(.DELETE, "/v1/sessions/\(id)")
            #expect(deleted.status == 204)
            #expect(ContinuousClock.now - started < .seconds(1), "answered at once")
            #expect(try await service.request(.GET, "/v1/sessions/\(id)").json["state"] as? String == "left")
            // The SFU comes back on the same port: nothing of that session dials it.
            sfu = Simulator(simulator: SFUSimulator(configuration: .init(port: port)))
            try await sfu.simulator.start()
            try await quietPeriod(.seconds(3))
            #expect(sfu.simulator.state.counters.connectionsAccepted == 0, "no connection after the DELETE")
        } catch {
            await service.stop()
            await sfu.stop()
            throw error
        }
        await service.stop()
        await sfu.stop()
    }

    @Test func deleteDuringTheFirstJoinCancelsIt() async throws {
        try await withService { service, sfus in
            try await sfus[0].inject("delay-joins?count=1&ms=3000")
            var policy = Self.realisticPolicy
            policy["join_timeout_ms"] = 10000
            let body = try JSONSerialization.data(withJSONObject: createBody(urls: [sfus[0].url], extra: ["policy": policy]))
            let create = Task { try await service.request(.POST, "/v1/sessions", body: body) }
            let id = try await pollUntil(timeout: .seconds(10)) { () async throws -> String? in
                let page = try await service.request(.GET, "/v1/sessions?state=connecting")
                return (page.json["sessions"] as? [[String: Any]])?.first?["id"] as? String
            }
            let started = ContinuousClock.now
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            let created = try await create.value
            #expect(ContinuousClock.now - started < .seconds(2), "the join was cancelled, not waited out")
            #expect(created.json["state"] as? String == "left", "\(created.text)")
            #expect(try await service.eventTypes(of: id) == ["session_created", "left"])
            // The SFU is left with nothing of it.
            _ = try await pollUntil(timeout: .seconds(10)) { sfus[0].simulator.state.connections == 0 ? true : nil }
        }
    }

    @Test func anOperatorMigrationJoinsTheTargetBeforeLeavingTheOldNode() async throws {
        try await withService(nodes: 2) { service, sfus in
            let (a, b) = (sfus[0], sfus[1])
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [a.url, b.url]))
            let id = try #require(created.json["id"] as? String)
            let moved = try await service.json(.POST, "/v1/sessions/\(id)/migrate", ["target_url": b.url])
            #expect(moved.status == 202)
            let types = try await service.waitForEvents(of: id) { $0.contains("migrated") }
            #expect(Array(types.suffix(3)) == ["reconnect_started", "reconnected", "migrated"], "\(types)")
            #expect(!types.contains("connection_lost"), "no loss: the old node was left only after the new one joined")
            // The old node got a leave (not a drop); the new one holds the session.
            _ = try await pollUntil(timeout: .seconds(10)) { a.simulator.state.counters.leaves == 1 ? true : nil }
            #expect(b.simulator.state.sessions.filter(\.connected).map(\.joinKind) == ["migrate"])
            let session = try await service.request(.GET, "/v1/sessions/\(id)")
            #expect(session.json["state"] as? String == "joined")
            #expect(session.json["sfu_url"] as? String == b.url)
        }
    }

    @Test func anOperatorMigrationToAFailingTargetStaysWhereItIs() async throws {
        try await withService(nodes: 2) { service, sfus in
            let (a, b) = (sfus[0], sfus[1])
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [a.url, b.url]))
            let id = try #require(created.json["id"] as? String)
            try await b.inject("reject-joins?count=1")
            _ = try await service.json(.POST, "/v1/sessions/\(id)/migrate", ["target_url": b.url])
            let types = try await service.waitForEvents(of: id) { $0.contains("migration_failed") }
            #expect(Array(types.suffix(3)) == ["reconnect_started", "reconnect_attempt_failed", "migration_failed"], "\(types)")
            let session = try await service.request(.GET, "/v1/sessions/\(id)")
            #expect(session.json["state"] as? String == "joined")
            #expect(session.json["sfu_url"] as? String == a.url)
            #expect(a.simulator.state.counters.leaves == 0, "the old node was never left")
            #expect(a.simulator.state.sessions.filter(\.connected).count == 1)
            // And it still works there: a drop is recovered on A.
            try await a.inject("drop")
            try await service.waitForEvents(of: id) { $0.last == "reconnected" }
        }
    }

    @Test func wssJoinsWithTheOperatorsCAAndATLSDropIsAnUnexpectedClose() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (ca, certificate, key) = try makeCertificates(in: folder)
        let sfu = try ChildProcess(["sfu", "--port", "0", "--tls-cert", certificate, "--tls-key", key])
        let line = try await sfu.waitForLine { $0.contains("listening on") }
        let url = String(try #require(line.split(separator: " ").first { $0.hasPrefix("wss://") }))

        // Without the CA: the join fails, saying why.
        let untrusting = try await LiveService.start()
        let refused = try await untrusting.json(.POST, "/v1/sessions", createBody(urls: [url]))
        await untrusting.stop()
        untrusting.removeDatabase()
        #expect(refused.status == 502, "\(refused.text)")
        #expect((refused.json["error"] as? [String: Any])?["sfu_code"] as? String == "tls_failed", "\(refused.text)")

        try await withService(nodes: 0, configure: { $0.sfuCAFile = ca }) { service, _ in
            let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [url], extra: ["policy": Self.realisticPolicy]))
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            // The SFU process dies: TCP ends under TLS with no close_notify.
            sfu.signal(SIGKILL)
            _ = await sfu.waitForExit()
            try await service.waitForEvents(of: id) { $0.contains("reconnect_started") }
            let events = try await service.events(of: id)
            let lost = try #require(events.first { $0["type"] as? String == "connection_lost" })
            #expect(lost["reason"] as? String == "unexpected_close", "\(lost)")
            #expect(lost["close_code"] as? Int == 1006)
            let started = try #require(events.first { $0["type"] as? String == "reconnect_started" })
            #expect(started["strategy"] as? String == "fast")
        }
    }

    /// A CA, and a server certificate it signed for localhost and 127.0.0.1.
    func makeCertificates(in folder: URL) throws -> (ca: String, certificate: String, key: String) {
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
        for arguments in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Tether Test CA",
             "-keyout", path("ca.key"), "-out", path("ca.pem")],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", path("server.key"), "-out", path("server.csr")],
            ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
             "-days", "2", "-extfile", path("san.ext"), "-out", path("server.pem")],
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw CertificateFailure(description: "openssl \(arguments.joined(separator: " ")) failed")
            }
        }
        return (path("ca.pem"), path("server.pem"), path("server.key"))
    }

    struct CertificateFailure: Error, CustomStringConvertible {
        var description: String
    }
}

/// A stretch of time in which the test expects nothing to happen; named, so that a
/// reader sees it is a deliberate window, not a sleep standing in for a condition.
func quietPeriod(_ duration: Duration) async throws {
    try await Task.sleep(for: duration)
}
