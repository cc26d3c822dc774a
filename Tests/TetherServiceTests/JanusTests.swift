import Foundation
import Testing
import TetherEvents
import TetherTestSupport
@testable import TetherService

/// Through Tether's HTTP API against real Janus processes (Debian package `janus`).
/// Server-side assertions go through the Janus admin API or an observer participant.
@Suite(.serialized, .timeLimit(.minutes(5))) struct JanusTests {
    static let policy = ReconnectPolicy(
        healthCheckInterval: .milliseconds(200),
        healthCheckTimeout: .seconds(1),
        connectTimeout: .seconds(1),
        joinTimeout: .seconds(2),
        disconnectionTimeout: .seconds(15),
        backoffInitial: .milliseconds(100),
        backoffMaximum: .milliseconds(500))

    func body(_ urls: [String], room: Int, create: Bool = true) -> [String: Any] {
        [
            "call_id": "room-\(room)", "user_id": "agent-7",
            "sfu": ["dialect": "janus", "urls": urls, "token": "unused",
                    "janus": ["room": room, "display": "agent-7", "create_room": create]],
        ]
    }

    /// Runs `body` with Tether and `count` Janus instances, stopping all of them after.
    func withJanus(
        _ count: Int = 1, policy: ReconnectPolicy = JanusTests.policy, reclaimTimeout: Int = 30,
        security: JanusInstance.Security = .init(),
        _ body: (LiveService, [JanusInstance]) async throws -> Void
    ) async throws {
        let service = try await LiveService.start(policy: policy)
        var instances: [JanusInstance] = []
        do {
            for _ in 0..<count { instances.append(try await JanusInstance.start(reclaimTimeout: reclaimTimeout, security: security)) }
            try await body(service, instances)
        } catch {
            await service.stop()
            for instance in instances { await instance.stop() }
            service.removeDatabase()
            throw error
        }
        await service.stop()
        for instance in instances { await instance.stop() }
        service.removeDatabase()
    }

    func janusSession(_ session: [String: Any]) throws -> Int64 {
        let id = try #require(session["sfu_session_id"] as? String)
        return try #require(Int64(id.split(separator: ":")[0]))
    }

    func agentID(in janus: JanusInstance, room: Int) async throws -> Int64? {
        try await janus.participants(in: room).first { $0.display == "agent-7" }?.id
    }

    @Test func aJoinIsVisibleOnTheServerAndInTheRoom() async throws {
        try await withJanus { service, janus in
            let room = 4101
            let observer = try await JanusObserver.join(janus[0], room: room)
            defer { observer.close() }
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: room))
            #expect(created.status == 201, "\(created.text)")
            let session = try janusSession(created.json)
            #expect(try await janus[0].listSessions().contains(session))
            #expect(try await agentID(in: janus[0], room: room) != nil)
            _ = try await observer.client.waitFor { message in
                let data = (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
                return (data?["joining"] as? [String: Any])?["display"] as? String == "agent-7"
            }
            #expect((created.json["janus"] as? [String: Any])?["room"] as? Int == room)
        }
    }

    @Test func aMissingRoomFailsClearlyWhenNotAskedToCreateIt() async throws {
        try await withJanus { service, janus in
            let reply = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: 4199, create: false))
            #expect(reply.status == 502)
            let error = try #require(reply.json["error"] as? [String: Any])
            #expect(error["sfu_code"] as? String == "426")
            #expect((error["message"] as? String)?.contains("no such room 4199") == true)
        }
    }

    @Test func anAbruptDropOfTethersSocketIsResumedByClaimWithoutLeavingTheRoom() async throws {
        try await withJanus { service, janus in
            let room = 4102
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: room))
            let id = try #require(created.json["id"] as? String)
            let session = try janusSession(created.json)
            // Tether's is the only socket to Janus yet: note its local port before the
            // observer connects, then kill exactly that socket.
            let tetherPort = try #require(try Sockets.localPorts(connectedTo: janus[0].webSocketPort).first)
            let observer = try await JanusObserver.join(janus[0], room: room)
            defer { observer.close() }
            let participant = try #require(try await agentID(in: janus[0], room: room))
            try Sockets.kill(localPort: tetherPort, remotePort: janus[0].webSocketPort)
            let types = try await service.waitForEvents(of: id) { $0.contains("reconnected") }
            #expect(types == ["session_created", "joined", "connection_lost", "reconnect_started", "reconnected"])
            let events = try await service.events(of: id)
            #expect(events[4]["strategy"] as? String == "fast")
            let recovered = try #require(events[4]["duration_ms"] as? Int)
            Swift.print("janus FAST recovery after an abrupt drop: \(recovered) ms")
            #expect(try janusSession(try await service.request(.GET, "/v1/sessions/\(id)").json) == session, "the same Janus session")
            try await Task.sleep(for: .milliseconds(500))
            #expect(!observer.leavingIDs.contains(participant), "the observer saw no leave")
            #expect(try await agentID(in: janus[0], room: room) == participant, "the participant id stayed the same")
        }
    }

    @Test func aFrozenJanusIsAHealthCheckTimeoutAndResumesAfterCONT() async throws {
        try await withJanus { service, janus in
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: 4103))
            let id = try #require(created.json["id"] as? String)
            janus[0].signal(SIGSTOP)
            try await service.waitForEvents(of: id) { $0.contains("connection_lost") }
            try await Task.sleep(for: .milliseconds(1500))
            janus[0].signal(SIGCONT)
            let types = try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "reconnected" }
            let events = try await service.events(of: id)
            let lost = try #require(events.first { $0["type"] as? String == "connection_lost" })
            #expect(lost["reason"] as? String == "health_check_timeout")
            // Whether the claim's dial outlived the freeze depends on the machine's pace:
            // either way the consequences are the same, and both are checked.
            let reconnected = try #require(events.last)
            let strategy = try #require(reconnected["strategy"] as? String)
            let session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["state"] as? String == "joined")
            switch strategy {
            case "fast":
                #expect(session["sfu_session_id"] as? String == created.json["sfu_session_id"] as? String, "the same Janus session")
            case "rejoin":
                #expect(types.contains("stale_session_destroyed"), "the old Janus session was destroyed: \(types)")
            default:
                Issue.record("reconnected with \(strategy): \(types)")
            }
            try await expectOneAgent(janus[0], room: 4103, session: id)
        }
    }

    @Test func killNineThenRestartMakesTheClaimFailAndRejoinsWithANewSession() async throws {
        try await withJanus { service, janus in
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: 4104))
            let id = try #require(created.json["id"] as? String)
            let before = try janusSession(created.json)
            try await janus[0].crashAndRestart()
            try await service.waitForEvents(of: id, timeout: .seconds(20)) { $0.last == "reconnected" }
            let events = try await service.events(of: id)
            let types = events.compactMap { $0["type"] as? String }
            #expect(types.prefix(4) == ["session_created", "joined", "connection_lost", "reconnect_started"])
            #expect(events.contains { $0["type"] as? String == "strategy_escalated" && $0["from"] as? String == "fast" && $0["to"] as? String == "rejoin" })
            let failedClaims = events.filter { $0["type"] as? String == "reconnect_attempt_failed" && $0["strategy"] as? String == "fast" }
            #expect(failedClaims.count == 1)
            #expect(events.last?["strategy"] as? String == "rejoin")
            let session = try await service.request(.GET, "/v1/sessions/\(id)").json
            let after = try janusSession(session)
            #expect(after != before, "a new Janus session")
            #expect(try await janus[0].listSessions() == [after])
            #expect(try await agentID(in: janus[0], room: 4104) != nil, "back in the (re-created) room")
        }
    }

    @Test func migrateAndDrainMoveSessionsBetweenInstances() async throws {
        try await withJanus(2) { service, janus in
            let room = 4105
            let observer = try await JanusObserver.join(janus[0], room: room)
            defer { observer.close() }
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url, janus[1].url], room: room))
            let id = try #require(created.json["id"] as? String)
            let participant = try #require(try await agentID(in: janus[0], room: room))

            let moved = try await service.json(.POST, "/v1/sessions/\(id)/migrate", ["target_url": janus[1].url])
            #expect(moved.status == 202, "\(moved.text)")
            try await service.waitForEvents(of: id) { $0.last == "migrated" }
            var session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["sfu_url"] as? String == janus[1].url)
            #expect(try await janus[1].listSessions().contains(try janusSession(session)))
            _ = try await observer.client.waitFor { message in
                let data = (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
                return (data?["leaving"] as? NSNumber)?.int64Value == participant
            }
            #expect(try await agentID(in: janus[0], room: room) == nil, "the first instance lost the participant")

            // Drain the second instance: the session comes back to the first.
            let drained = try await service.json(.POST, "/v1/drain", ["sfu_url": janus[1].url])
            #expect(drained.status == 202)
            #expect(drained.json["moved"] as? [String] == [id])
            try await service.waitForEvents(of: id) { $0.filter { $0 == "migrated" }.count == 2 }
            session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["sfu_url"] as? String == janus[0].url)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await janus[1].listSessions().isEmpty, "the drained instance has no session left")
            #expect(try await agentID(in: janus[0], room: room) != nil)
        }
    }

    @Test func janusDownPastTheDeadlineFailsTheSession() async throws {
        var policy = Self.policy
        policy.disconnectionTimeout = .milliseconds(1500)
        try await withJanus(policy: policy) { service, janus in
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: 4106))
            let id = try #require(created.json["id"] as? String)
            janus[0].crash()
            try await service.waitForEvents(of: id) { $0.last == "reconnect_failed" }
            let last = try #require(try await service.events(of: id).last)
            #expect(last["reason"] as? String == "deadline_exceeded")
            let session = try await service.request(.GET, "/v1/sessions/\(id)").json
            #expect(session["state"] as? String == "failed")
        }
    }

    @Test func deleteLeavesTheRoomAndDestroysTheJanusSession() async throws {
        try await withJanus { service, janus in
            let room = 4107
            let observer = try await JanusObserver.join(janus[0], room: room)
            defer { observer.close() }
            let created = try await service.json(.POST, "/v1/sessions", body([janus[0].url], room: room))
            let id = try #require(created.json["id"] as? String)
            let session = try janusSession(created.json)
            let participant = try #require(try await agentID(in: janus[0], room: room))
            #expect(try await service.request(.DELETE, "/v1/sessions/\(id)").status == 204)
            _ = try await observer.client.waitFor { message in
                let data = (message["plugindata"] as? [String: Any])?["data"] as? [String: Any]
                return (data?["leaving"] as? NSNumber)?.int64Value == participant
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await !janus[0].listSessions().contains(session), "the Janus session is destroyed")
            #expect(try await service.eventTypes(of: id) == ["session_created", "joined", "left"])
        }
    }
}
