import Foundation
import NIOHTTP1
import Testing
import TetherEvents
import TetherSFUSimulator
import TetherTestSupport
@testable import TetherEventLog
@testable import TetherService

/// Issue 9: one owner per database, storage failures answered promptly, no resurrection.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DurabilityTests {
    @Test func theWritersCommitsAreSynced() async throws {
        // GRDB sets synchronous=NORMAL on a pool's writer when it switches to WAL, after
        // the prepare hook: FULL must be set (and hold) on the writer itself.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-sync-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try EventStore.open(path: path)
        #expect(try await store.writerSynchronousLevel() == 2, "PRAGMA synchronous is FULL on the writer")
    }

    @Test func aSecondServiceOnTheSameDatabaseRefusesToStartAndTheFirstKeepsServing() async throws {
        let first = try await LiveService.start()
        defer { first.removeDatabase() }
        do {
            let error = await #expect(throws: StartupError.self) {
                _ = try await LiveService.start(databasePath: first.databasePath)
            }
            let message = error?.description ?? ""
            #expect(message.contains(first.databasePath + ".lock"), "names the lock file: \(message)")
            #expect(message.contains("pid \(getpid())"), "names the holder: \(message)")
            #expect(try await first.request(.GET, "/healthz").status == 200)
        } catch {
            await first.stop()
            throw error
        }
        await first.stop()
        // Stopping releases it: the next owner starts.
        let next = try await LiveService.start(databasePath: first.databasePath)
        await next.stop()
        try? FileManager.default.removeItem(atPath: first.databasePath + ".lock")
    }

    @Test func anUnansweredCreateIsNotRedialedAfterARestartAndItsKeyIsFree() async throws {
        try await withSimulator { simulator in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("tether-interrupted-\(UUID().uuidString).sqlite").path
            var interrupted = try previousProcessRow(id: "interrupted", state: "connecting", url: simulator.url)
            interrupted.idempotencyKey = "retry-me"
            interrupted.requestFingerprint = "x"
            var resumed = try previousProcessRow(id: "resumed", state: "joined", url: simulator.url, userID: "agent-8", sfuSessionID: "gone")
            resumed.generation = 5
            try await seed([interrupted, resumed], at: path)
            try await withService(nodes: 0, databasePath: path) { service, _ in
                let types = try await service.waitForEvents(of: "interrupted") { $0.contains("join_failed") }
                #expect(types == ["join_failed"])
                let failed = try await service.request(.GET, "/v1/sessions/interrupted")
                #expect(failed.json["state"] as? String == "failed")
                #expect(failed.json["end_reason"] as? String == "join_failed: interrupted_by_restart")

                // The resumed one rejoins with the generations counting on from 5.
                try await service.waitForEvents(of: "resumed") { $0.last == "reconnected" }
                let events = try await service.events(of: "resumed")
                let joinedGeneration = try #require(events.last?["generation"] as? Int)
                #expect(joinedGeneration == 6, "generations continue across a restart: \(events)")
                #expect(simulator.simulator.state.sessions.map(\.userID) == ["agent-8"], "only the acknowledged session was dialed")

                // The client's retry of the interrupted create creates a session.
                let retry = try await service.json(.POST, "/v1/sessions", createBody(urls: [simulator.url]), headers: [("Idempotency-Key", "retry-me")])
                #expect(retry.status == 201, "\(retry.text)")
                #expect(retry.json["id"] as? String != "interrupted")
            }
        }
    }

    @Test func aKeyIsHeldFromTheFirstRequestWhileItsJoinIsInFlight() async throws {
        try await withService { service, sfus in
            // The first create's join is held for 3 s by the simulator.
            try await sfus[0].inject("delay-joins?count=1&ms=2000")
            let patient: [String: Any] = ["policy": ["join_timeout_ms": 5000]]
            let firstBody = try JSONSerialization.data(withJSONObject: createBody(urls: [sfus[0].url], extra: patient))
            let first = Task { try await service.request(.POST, "/v1/sessions", body: firstBody, headers: [("Idempotency-Key", "k-1")]) }
            // (The simulator's own counters also count admin connections: watch the service.)
            _ = try await pollUntil(timeout: .seconds(10)) { () async throws -> Bool? in
                let page = try await service.request(.GET, "/v1/sessions?state=connecting")
                return (page.json["sessions"] as? [Any])?.count == 1 ? true : nil
            }

            var other = createBody(urls: [sfus[0].url], extra: patient)
            other["user_id"] = "someone-else"
            let started = ContinuousClock.now
            let conflict = try await service.json(.POST, "/v1/sessions", other, headers: [("Idempotency-Key", "k-1")])
            #expect(conflict.status == 422, "\(conflict.text)")
            #expect(conflict.errorCode == "idempotency_key_reused")
            #expect(ContinuousClock.now - started < .seconds(2), "refused at once, not after the first join")

            // The same body (with a refreshed SFU token) waits for and gets the same session.
            var retried = createBody(urls: [sfus[0].url], extra: patient)
            retried["sfu"] = ["dialect": "stream", "urls": [sfus[0].url], "token": sfuToken + "-refreshed"]
            let second = try await service.json(.POST, "/v1/sessions", retried, headers: [("Idempotency-Key", "k-1")])
            let original = try await first.value
            #expect(original.status == 201, "\(original.text)")
            #expect(second.status == 201, "\(second.text)")
            #expect(second.json["id"] as? String == original.json["id"] as? String)
            #expect(sfus[0].simulator.state.counters.joins == 1, "one agent, not two")
        }
    }

    @Test func anExpiredKeyIsReleasedOnlyOnceItsSessionHasEnded() async throws {
        try await withService(configure: { $0.idempotencyKeyTTL = .milliseconds(1) }) { service, sfus in
            let body = createBody(urls: [sfus[0].url])
            let first = try await service.json(.POST, "/v1/sessions", body, headers: [("Idempotency-Key", "k-ttl")])
            let id = try #require(first.json["id"] as? String)
            try await quietPeriod(.milliseconds(50))
            // Past its TTL but still live: the key still names that session.
            let again = try await service.json(.POST, "/v1/sessions", body, headers: [("Idempotency-Key", "k-ttl")])
            #expect(again.json["id"] as? String == id)
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            // Ended and past its TTL: the key is free for a new session; the old row is intact.
            let fresh = try await service.json(.POST, "/v1/sessions", body, headers: [("Idempotency-Key", "k-ttl")])
            #expect(fresh.status == 201)
            #expect(fresh.json["id"] as? String != id)
            let old = try await service.request(.GET, "/v1/sessions/\(id)")
            #expect(old.json["state"] as? String == "left")
            #expect(try await service.eventTypes(of: id) == ["session_created", "joined", "left"])
        }
    }

    @Test func aFullDiskAnswers503PromptlyAndRecoversWithNothingLost() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tether-tmpfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", folder.path]) == 0 else {
            print("skipped: cannot mount a tmpfs here (needs root): the full-disk test did not run")
            return
        }
        defer { _ = run("/bin/umount", ["-l", folder.path]) }
        try await withSimulator { simulator in
            try await withService(nodes: 0, databasePath: folder.appendingPathComponent("tether.sqlite").path, configure: {
                $0.defaultPolicy.healthCheckTimeout = .seconds(5)
            }) { service, _ in
                let created = try await service.json(.POST, "/v1/sessions", createBody(urls: [simulator.url]))
                #expect(created.status == 201)
                let id = try #require(created.json["id"] as? String)

                // Fill the disk.
                let filler = folder.appendingPathComponent("filler").path
                _ = run("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])
                // Something must be written to find out: a drop and its reconnection.
                try await simulator.inject("drop")
                let ready = try await pollUntil(timeout: .seconds(20)) { () async throws -> Int? in
                    let status = try await service.request(.GET, "/readyz").status
                    return status == 503 ? status : nil
                }
                #expect(ready == 503)
                let readiness = try await service.request(.GET, "/readyz")
                #expect(readiness.text.contains("cannot be written"), "\(readiness.text)")

                for (method, path, body) in [(HTTPMethod.POST, "/v1/sessions", createBody(urls: [simulator.url])), (.DELETE, "/v1/sessions/\(id)", [:])] {
                    let started = ContinuousClock.now
                    let reply = method == .POST ? try await service.json(method, path, body) : try await service.request(method, path)
                    let took = ContinuousClock.now - started
                    #expect(reply.status == 503, "\(method) \(path): \(reply.text)")
                    #expect(reply.errorCode == "storage_unavailable")
                    #expect(took < .seconds(5), "\(method) answered in \(took)")
                }
                #expect(simulator.simulator.state.sessions.count == 1, "the refused create put no agent into the call, the refused delete left none")

                // Space comes back: the writer recovers by itself and kept what it had accepted.
                try FileManager.default.removeItem(atPath: filler)
                _ = try await pollUntil(timeout: .seconds(20)) { () async throws -> Bool? in
                    try await service.request(.GET, "/readyz").status == 200 ? true : nil
                }
                let types = try await service.waitForEvents(of: id) { $0.contains("reconnected") }
                #expect(types.filter { $0 == "connection_lost" }.count == 1, "\(types)")
                let session = try await service.request(.GET, "/v1/sessions/\(id)")
                #expect(session.json["state"] as? String == "joined")
                // What was answered is on disk: a second reader of the file (as a restarted
                // process would be) sees the session and its whole history.
                let reader = try EventStore.open(path: service.databasePath)
                #expect(try await reader.session(id: id)?.state == "joined")
                #expect(try await reader.events(EventQuery(sessionID: id, limit: 100)).map(\.type) == types)
                let metrics = try await service.request(.GET, "/metrics")
                #expect(metrics.text.contains("tether_event_write_errors_total"))
                #expect(metrics.text.contains("tether_event_queue_depth"))
            }
        }
    }

    private func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
