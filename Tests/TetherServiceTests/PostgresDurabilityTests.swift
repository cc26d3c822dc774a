import Foundation
import Logging
import NIOHTTP1
import Testing
import TetherEventLog
import TetherPostgresStore
import TetherTestSupport
@testable import TetherService

/// The PostgreSQL store's promises when its server goes away: on a cluster of the
/// test's own, crashed (`pg_ctl -m immediate`) under a stream of reconnections and
/// started again.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PostgresDurabilityTests {
    @Test func postgresStoppedUnderLoadAnswers503PromptlyAndRecoversWithNothingLost() async throws {
        let postgres = try RestartablePostgres.start()
        defer { postgres.stop() }
        try await withSimulator { simulator in
            try await withService(store: .postgres, nodes: 0, databasePath: postgres.url, configure: {
                $0.defaultPolicy.healthCheckTimeout = .seconds(5)
                // Longer than the outage: the sessions reconnect while nothing can be written.
                $0.defaultPolicy.disconnectionTimeout = .seconds(60)
                // This is about the store's promises while it is down, not the fleet's: a
                // lease that outlasts the outage (on busy cores it can pass the default's
                // 7 s no-fence bound), so the instance keeps its sessions. FleetTests has
                // an outage within the default bound.
                $0.leaseTTL = .seconds(60)
            }) { service, _ in
                var ids: [String] = []
                for _ in 0..<4 {
                    let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [simulator.url]))
                    #expect(created.status == 201)
                    ids.append(try #require(created.json["id"] as? String))
                }
                #expect(try await service.request(.GET, "/readyz").status == 200)

                try postgres.halt()
                // Load while it is down: every session drops and reconnects, twice; their
                // events wait in the writer's queue.
                try await simulator.inject("drop")
                _ = try await pollUntil(timeout: .seconds(20)) { () async throws -> Bool? in
                    let counters = simulator.simulator.state.counters
                    return counters.fastResumes >= ids.count ? true : nil
                }
                try await simulator.inject("drop")
                let unready = try await pollUntil(timeout: .seconds(20)) { () async throws -> Int? in
                    let status = try await service.request(.GET, "/readyz").status
                    return status == 503 ? status : nil
                }
                #expect(unready == 503)

                let agentsBefore = simulator.simulator.state.sessions.count
                for (method, path) in [(HTTPMethod.POST, "/v1/sessions"), (.DELETE, "/v1/sessions/\(ids[0])")] {
                    let started = ContinuousClock.now
                    let reply = method == .POST
                        ? try await service.json(method, path, createBody(urls: [simulator.url]))
                        : try await service.request(method, path)
                    let took = ContinuousClock.now - started
                    #expect(reply.status == 503, "\(method) \(path): \(reply.text)")
                    #expect(reply.errorCode == "storage_unavailable")
                    #expect(took < .seconds(4), "\(method) answered in \(took)")
                }
                #expect(simulator.simulator.state.sessions.count == agentsBefore, "the refused create put no agent into the call, the refused delete took none out")
                // Reads of the history answer promptly too, with an error rather than a hang.
                let started = ContinuousClock.now
                let read = try await service.request(.GET, "/v1/events?limit=5")
                #expect([503, 504].contains(read.status), "\(read.status): \(read.text)")
                #expect(ContinuousClock.now - started < .seconds(15))

                try postgres.resume()
                let back = try await pollUntil(timeout: .seconds(15)) { () async throws -> Bool? in
                    try await service.request(.GET, "/readyz").status == 200 ? true : nil
                }
                #expect(back == true, "/readyz answers 200 within 15 s of the restart")

                // Nothing queued was lost: each session's two losses and two recoveries.
                let reader = try await PostgresStore.open(url: try PostgresURL(parsing: postgres.url))
                defer { reader.close() }
                for id in ids {
                    let types = try await service.waitForEvents(of: id) { $0.filter { $0 == "reconnected" }.count >= 2 }
                    #expect(types.filter { $0 == "connection_lost" }.count == 2, "\(id): \(types)")
                    #expect(try await reader.events(EventQuery(sessionID: id, limit: 100)).map(\.type) == types)
                    #expect(try await reader.session(id: id)?.state == "joined")
                }
                let metrics = try await service.request(.GET, "/metrics")
                #expect(metrics.text.contains("tether_event_write_errors_total"))
            }
        }
    }
}
